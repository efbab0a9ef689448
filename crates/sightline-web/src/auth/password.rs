//! Argon2id password hashes (PHC strings with their own salt and parameters).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

fn argon2() -> Argon2<'static> {
    // OWASP's second Argon2id configuration: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&super::tokens::random_bytes::<16>()?)
        .map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that a
/// missing account takes as long to refuse as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy-password-never-valid").unwrap_or_default())
}

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        return Err(ApiError::BadRequest(format!(
            "new_password: expected {MIN_LENGTH} to {MAX_LENGTH} characters, found {n}"
        )));
    }
    Ok(())
}

/// A one-time password for a new account: 20 random characters.
pub fn one_time() -> Result<String, ApiError> {
    super::tokens::random_token(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_password() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("anything", "not a phc string"));
    }
}
