//! Random secrets, their SHA-256 (the only form stored), and signed
//! double-submit CSRF tokens bound to one session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// `n` random bytes, URL-safe base64 without padding.
pub fn random_token(n: usize) -> Result<String, ApiError> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("random source failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("random source failed: {e}")))?;
    Ok(bytes)
}

pub fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn csrf_mac(key: &[u8], session_id: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(session_id.as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A CSRF token for `session_id`: `nonce.HMAC(key, session_id.nonce)`.
pub fn csrf_token(key: &[u8], session_id: &str) -> Result<String, ApiError> {
    let nonce = random_token(18)?;
    let mac = csrf_mac(key, session_id, &nonce);
    Ok(format!("{nonce}.{mac}"))
}

/// Whether `token` was signed for `session_id` with `key`.
pub fn csrf_valid(key: &[u8], session_id: &str, token: &str) -> bool {
    let Some((nonce, mac)) = token.split_once('.') else {
        return false;
    };
    let Ok(given) = URL_SAFE_NO_PAD.decode(mac) else {
        return false;
    };
    let mut expected = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    expected.update(session_id.as_bytes());
    expected.update(b".");
    expected.update(nonce.as_bytes());
    expected.verify_slice(&given).is_ok()
}

/// Compare two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_their_session_and_key() {
        let token = csrf_token(b"k1", "session-a").unwrap();
        assert!(csrf_valid(b"k1", "session-a", &token));
        assert!(!csrf_valid(b"k1", "session-b", &token));
        assert!(!csrf_valid(b"k2", "session-a", &token));
        let (nonce, _) = token.split_once('.').unwrap();
        assert!(!csrf_valid(b"k1", "session-a", &format!("{nonce}.AAAA")));
        assert!(!csrf_valid(b"k1", "session-a", nonce));
    }
}
