//! TOTP (RFC 6238): HMAC-SHA1, 30-second steps, six digits, one step of
//! clock drift either way. The step a code matched is returned so that the
//! caller can refuse a step used before.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
pub const SECRET_LEN: usize = 20;

pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The step (now − 1, now or now + 1) whose code is `code`, if any.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_seconds);
    (now - 1..=now + 1).find(|&step| super::tokens::constant_time_eq(&code_at(secret, step), code))
}

/// The `otpauth://` URI an authenticator app reads (from the QR code), for
/// `account` with the base32 `secret`.
pub fn otpauth_uri(account: &str, secret: &str) -> String {
    let label: String = form_urlencoded::byte_serialize(format!("Sightline:{account}").as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={secret}&issuer=Sightline&algorithm=SHA1&digits=6&period=30"
    )
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, truncated to six digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, step_of(59)), "287082");
        assert_eq!(code_at(secret, step_of(1_111_111_109)), "081804");
        assert_eq!(code_at(secret, step_of(2_000_000_000)), "279037");
    }

    #[test]
    fn drift_of_one_step_is_accepted_and_no_more() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000;
        let step = step_of(now);
        assert_eq!(
            matching_step(secret, &code_at(secret, step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(secret, &code_at(secret, step + 1), now),
            Some(step + 1)
        );
        assert_eq!(matching_step(secret, &code_at(secret, step - 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
