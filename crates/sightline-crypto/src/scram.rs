//! PostgreSQL SCRAM-SHA-256 password verifiers (RFC 5802, RFC 7677), so a
//! login role's password can be set with `ALTER ROLE … PASSWORD '<verifier>'`
//! without the password itself ever reaching the server (or its statement
//! log). The format is PostgreSQL's own:
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::CryptoError;

/// PostgreSQL's default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 for one 32-byte block: SCRAM's `Hi()`.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        out.iter_mut().zip(u).for_each(|(o, b)| *o ^= b);
    }
    out
}

/// The verifier for `password` with a given salt: deterministic, for tests
/// against PostgreSQL's own verifiers.
///
/// Only printable ASCII is accepted: for it SASLprep (which PostgreSQL
/// applies before hashing) changes nothing, so the verifier is exactly the
/// one PostgreSQL would compute.
pub fn verifier_with_salt(
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<String, CryptoError> {
    if password.is_empty() || !password.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(CryptoError::Password {
            expected: "a non-empty password of printable ASCII characters",
        });
    }
    let salted = hi(password.as_bytes(), salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    Ok(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    ))
}

/// A verifier for `password` with a fresh random salt.
pub fn verifier(password: &str) -> Result<String, CryptoError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(|e| CryptoError::Random(e.to_string()))?;
    verifier_with_salt(password, &salt, ITERATIONS)
}

/// Whether `s` has the shape of a verifier (and so holds no quote, nothing
/// but base64 and the separators), for callers that embed it in SQL.
pub fn is_verifier(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((params, keys)) = rest.split_once('$') else {
        return false;
    };
    let b64 = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    };
    matches!(params.split_once(':'), Some((n, salt)) if n.parse::<u32>().is_ok() && b64(salt))
        && matches!(keys.split_once(':'), Some((a, b)) if b64(a) && b64(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example: user "user", password "pencil", salt
    /// W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. Its client proof and server
    /// signature follow from StoredKey and ServerKey; PostgreSQL's source
    /// (src/common/scram-common.c) stores exactly these two keys.
    #[test]
    fn matches_the_rfc_7677_example() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = verifier_with_salt("pencil", &salt, 4096).unwrap();
        let keys = v.rsplit_once('$').unwrap().1;
        let (stored, server) = keys.split_once(':').unwrap();
        let (stored, server) = (
            STANDARD.decode(stored).unwrap(),
            STANDARD.decode(server).unwrap(),
        );
        // Recompute the RFC's exchange from the two keys.
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_signature = hmac(&server, auth.as_bytes());
        assert_eq!(
            STANDARD.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let client_signature = hmac(&stored, auth.as_bytes());
        let salted = hi(b"pencil", &salt, 4096);
        let client_key = hmac(&salted, b"Client Key");
        let proof: Vec<u8> = client_key
            .iter()
            .zip(client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            STANDARD.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(is_verifier(&v));
    }

    #[test]
    fn refuses_what_postgres_would_normalise_and_detects_shapes() {
        assert!(verifier("pässword").is_err());
        assert!(verifier("").is_err());
        assert!(verifier("tab\there").is_err());
        let v = verifier("correct horse battery staple").unwrap();
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert_ne!(v, verifier("correct horse battery staple").unwrap());
        for bad in [
            "md5abc",
            "SCRAM-SHA-256$4096:c2FsdA==$a:b'; DROP ROLE x; --",
            "SCRAM-SHA-256$x:c2FsdA==$a:b",
            "SCRAM-SHA-256$4096:c2FsdA==",
        ] {
            assert!(!is_verifier(bad), "{bad}");
        }
    }
}
