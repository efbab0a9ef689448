//! Sightline's cryptography, with no dependency on the rest of Sightline:
//! field encryption (AES-256-GCM, bound to table, row and column), per-
//! workspace data keys wrapped by a key-encryption key with rotation that
//! never touches rows, and the SHA-256 hash chain of the audit trail.

pub mod chain;
pub mod envelope;
pub mod keys;
pub mod scram;

pub use envelope::{open, seal, FieldAad};
pub use keys::{DataKey, KeyEncryptionKey, WrappedDataKey};

/// Everything that can go wrong, with what was expected and what was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext too short: expected at least {expected} bytes (key id, nonce, tag), found {found}")]
    Truncated { expected: usize, found: usize },
    #[error("ciphertext was sealed with data key {found}, but the key given is {expected}")]
    WrongKey { expected: u32, found: u32 },
    #[error(
        "decryption failed: the ciphertext was altered, or belongs to another table, row or column"
    )]
    Authentication,
    #[error("key material must be {expected} bytes, found {found}")]
    KeyLength { expected: usize, found: usize },
    #[error("password refused: expected {expected}")]
    Password { expected: &'static str },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}
