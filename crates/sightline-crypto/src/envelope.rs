//! Field encryption. A sealed field is `key_id (4, big-endian) || nonce (12)
//! || ciphertext || tag (16)`, AES-256-GCM with a random nonce, and its AAD
//! names the table, row and column it belongs to: a ciphertext copied to
//! another row, column or table does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::keys::DataKey;
use crate::CryptoError;

pub const KEY_ID_LEN: usize = 4;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// Where a sealed value lives: the AAD it is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldAad<'a> {
    pub table: &'a str,
    pub row_id: &'a str,
    pub column: &'a str,
}

impl FieldAad<'_> {
    /// Length-prefixed fields, so that ("ab", "c") and ("a", "bc") differ.
    fn encode(&self) -> Vec<u8> {
        let mut out = b"sightline-field-v1".to_vec();
        for part in [self.table, self.row_id, self.column] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Encrypt `plaintext` for the field `aad` under `key`.
pub fn seal(key: &DataKey, aad: FieldAad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(key.secret()).map_err(|_| CryptoError::KeyLength {
        expected: 32,
        found: key.secret().len(),
    })?;
    let nonce = random::<NONCE_LEN>()?;
    let aad = aad.encode();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Authentication)?;
    let mut out = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + sealed.len());
    out.extend_from_slice(&key.id().to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The id of the data key a sealed field needs.
pub fn key_id(sealed: &[u8]) -> Result<u32, CryptoError> {
    let min = KEY_ID_LEN + NONCE_LEN + TAG_LEN;
    if sealed.len() < min {
        return Err(CryptoError::Truncated {
            expected: min,
            found: sealed.len(),
        });
    }
    Ok(u32::from_be_bytes([
        sealed[0], sealed[1], sealed[2], sealed[3],
    ]))
}

/// Decrypt a field sealed for exactly `aad`.
pub fn open(key: &DataKey, aad: FieldAad<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let found = key_id(sealed)?;
    if found != key.id() {
        return Err(CryptoError::WrongKey {
            expected: key.id(),
            found,
        });
    }
    let cipher = Aes256Gcm::new_from_slice(key.secret()).map_err(|_| CryptoError::KeyLength {
        expected: 32,
        found: key.secret().len(),
    })?;
    let nonce = &sealed[KEY_ID_LEN..KEY_ID_LEN + NONCE_LEN];
    let aad = aad.encode();
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &sealed[KEY_ID_LEN + NONCE_LEN..],
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(row: &'a str, column: &'a str) -> FieldAad<'a> {
        FieldAad {
            table: "users",
            row_id: row,
            column,
        }
    }

    #[test]
    fn a_field_round_trips_and_has_the_stored_layout() {
        let key = DataKey::generate(7).unwrap();
        let sealed = seal(&key, field("u1", "totp_secret"), b"JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(sealed.len(), KEY_ID_LEN + NONCE_LEN + 16 + TAG_LEN);
        assert_eq!(key_id(&sealed).unwrap(), 7);
        assert_eq!(
            open(&key, field("u1", "totp_secret"), &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn a_ciphertext_copied_to_another_row_column_or_table_does_not_decrypt() {
        let key = DataKey::generate(1).unwrap();
        let sealed = seal(&key, field("u1", "totp_secret"), b"secret").unwrap();
        assert_eq!(
            open(&key, field("u2", "totp_secret"), &sealed),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            open(&key, field("u1", "recovery"), &sealed),
            Err(CryptoError::Authentication)
        );
        let other_table = FieldAad {
            table: "integrations",
            row_id: "u1",
            column: "totp_secret",
        };
        assert_eq!(
            open(&key, other_table, &sealed),
            Err(CryptoError::Authentication)
        );
        // Length prefixes keep ("u1", "x") apart from ("u", "1x").
        assert_eq!(
            open(
                &key,
                FieldAad {
                    table: "users",
                    row_id: "u",
                    column: "1totp_secret"
                },
                &sealed
            ),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn tampering_truncation_and_the_wrong_key_are_refused() {
        let key = DataKey::generate(1).unwrap();
        let mut sealed = seal(&key, field("u1", "c"), b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            open(&key, field("u1", "c"), &sealed),
            Err(CryptoError::Authentication)
        );
        assert!(matches!(
            open(&key, field("u1", "c"), &sealed[..10]),
            Err(CryptoError::Truncated {
                expected: 32,
                found: 10
            })
        ));
        let other = DataKey::generate(2).unwrap();
        let sealed = seal(&key, field("u1", "c"), b"secret").unwrap();
        assert_eq!(
            open(&other, field("u1", "c"), &sealed),
            Err(CryptoError::WrongKey {
                expected: 2,
                found: 1
            })
        );
    }

    #[test]
    fn nonces_do_not_repeat() {
        let key = DataKey::generate(1).unwrap();
        let mut nonces = std::collections::HashSet::new();
        for _ in 0..2000 {
            let sealed = seal(&key, field("u1", "c"), b"x").unwrap();
            assert!(nonces.insert(sealed[KEY_ID_LEN..KEY_ID_LEN + NONCE_LEN].to_vec()));
        }
    }
}
