//! Keys. Each workspace has data keys (which seal its fields); each data key
//! is stored only wrapped by the key-encryption key (KEK), which lives
//! outside the database (Secrets Manager in AWS). Rotating the KEK re-wraps
//! the data keys and leaves every sealed row as it is.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::envelope::{random, NONCE_LEN, TAG_LEN};
use crate::CryptoError;

pub const KEY_LEN: usize = 32;

/// A workspace's data key: its id is stored in front of every field it seals.
pub struct DataKey {
    id: u32,
    secret: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl DataKey {
    pub fn generate(id: u32) -> Result<Self, CryptoError> {
        Ok(Self {
            id,
            secret: Zeroizing::new(random::<KEY_LEN>()?),
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn secret(&self) -> &[u8] {
        self.secret.as_slice()
    }
}

/// The key-encryption key, identified so that wrapped keys say which one wrapped them.
pub struct KeyEncryptionKey {
    id: String,
    secret: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl KeyEncryptionKey {
    pub fn from_bytes(id: &str, bytes: &[u8]) -> Result<Self, CryptoError> {
        let secret: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength {
            expected: KEY_LEN,
            found: bytes.len(),
        })?;
        Ok(Self {
            id: id.to_owned(),
            secret: Zeroizing::new(secret),
        })
    }

    /// A KEK from 64 hex digits (how it is kept in Secrets Manager or the environment).
    pub fn from_hex(id: &str, hex: &str) -> Result<Self, CryptoError> {
        let hex = hex.trim();
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect();
        match bytes {
            Some(bytes) if hex.len().is_multiple_of(2) => Self::from_bytes(id, &bytes),
            _ => Err(CryptoError::KeyLength {
                expected: KEY_LEN,
                found: hex.len() / 2,
            }),
        }
    }

    pub fn generate(id: &str) -> Result<Self, CryptoError> {
        Ok(Self {
            id: id.to_owned(),
            secret: Zeroizing::new(random::<KEY_LEN>()?),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key for another purpose (signing CSRF tokens, say), derived from the
    /// KEK with HMAC-SHA256 over `label`, so every server task derives the same one.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; KEY_LEN]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.secret.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(label.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    fn aad(&self, workspace_id: &str, data_key_id: u32) -> Vec<u8> {
        format!("sightline-dek-v1|{}|{workspace_id}|{data_key_id}", self.id).into_bytes()
    }

    /// Wrap `key` for `workspace_id`: only this KEK, for this workspace and key id, unwraps it.
    pub fn wrap(&self, workspace_id: &str, key: &DataKey) -> Result<WrappedDataKey, CryptoError> {
        let cipher = Aes256Gcm::new_from_slice(self.secret.as_slice()).map_err(|_| {
            CryptoError::KeyLength {
                expected: KEY_LEN,
                found: 0,
            }
        })?;
        let nonce = random::<NONCE_LEN>()?;
        let aad = self.aad(workspace_id, key.id);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key.secret(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(WrappedDataKey {
            data_key_id: key.id,
            kek_id: self.id.clone(),
            blob,
        })
    }

    pub fn unwrap(
        &self,
        workspace_id: &str,
        wrapped: &WrappedDataKey,
    ) -> Result<DataKey, CryptoError> {
        if wrapped.kek_id != self.id {
            return Err(CryptoError::Authentication);
        }
        let min = NONCE_LEN + KEY_LEN + TAG_LEN;
        if wrapped.blob.len() != min {
            return Err(CryptoError::Truncated {
                expected: min,
                found: wrapped.blob.len(),
            });
        }
        let cipher = Aes256Gcm::new_from_slice(self.secret.as_slice()).map_err(|_| {
            CryptoError::KeyLength {
                expected: KEY_LEN,
                found: 0,
            }
        })?;
        let aad = self.aad(workspace_id, wrapped.data_key_id);
        let secret = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&wrapped.blob[..NONCE_LEN]),
                    Payload {
                        msg: &wrapped.blob[NONCE_LEN..],
                        aad: &aad,
                    },
                )
                .map_err(|_| CryptoError::Authentication)?,
        );
        let secret: [u8; KEY_LEN] = secret
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Authentication)?;
        Ok(DataKey {
            id: wrapped.data_key_id,
            secret: Zeroizing::new(secret),
        })
    }

    /// Re-wrap a data key wrapped by `old` under this KEK. The data key, and
    /// so every field it sealed, is unchanged.
    pub fn rewrap(
        &self,
        old: &KeyEncryptionKey,
        workspace_id: &str,
        wrapped: &WrappedDataKey,
    ) -> Result<WrappedDataKey, CryptoError> {
        self.wrap(workspace_id, &old.unwrap(workspace_id, wrapped)?)
    }
}

/// A data key as stored: which KEK wrapped it, and the wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub data_key_id: u32,
    pub kek_id: String,
    pub blob: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{open, seal, FieldAad};

    const FIELD: FieldAad<'static> = FieldAad {
        table: "integrations",
        row_id: "r1",
        column: "credentials",
    };

    #[test]
    fn rotation_rewraps_data_keys_and_old_rows_still_open() {
        let kek_2025 = KeyEncryptionKey::generate("kek-2025").unwrap();
        let data_key = DataKey::generate(1).unwrap();
        let stored_row = seal(&data_key, FIELD, b"slack-token").unwrap();
        let wrapped = kek_2025.wrap("ws-a", &data_key).unwrap();

        let kek_2026 = KeyEncryptionKey::generate("kek-2026").unwrap();
        let rewrapped = kek_2026.rewrap(&kek_2025, "ws-a", &wrapped).unwrap();
        assert_eq!(
            (rewrapped.data_key_id, rewrapped.kek_id.as_str()),
            (1, "kek-2026")
        );
        let recovered = kek_2026.unwrap("ws-a", &rewrapped).unwrap();
        assert_eq!(
            open(&recovered, FIELD, &stored_row).unwrap(),
            b"slack-token"
        );
        // The old KEK no longer opens the new wrapping.
        assert!(kek_2025.unwrap("ws-a", &rewrapped).is_err());
    }

    #[test]
    fn a_wrapped_key_is_bound_to_its_workspace() {
        let kek = KeyEncryptionKey::generate("k").unwrap();
        let wrapped = kek.wrap("ws-a", &DataKey::generate(1).unwrap()).unwrap();
        assert_eq!(
            kek.unwrap("ws-b", &wrapped).unwrap_err(),
            CryptoError::Authentication
        );
        let mut renumbered = wrapped.clone();
        renumbered.data_key_id = 2;
        assert_eq!(
            kek.unwrap("ws-a", &renumbered).unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn keks_come_from_exactly_64_hex_digits_and_never_print() {
        let kek = KeyEncryptionKey::from_hex("k", &"ab".repeat(32)).unwrap();
        assert!(!format!("{kek:?}").contains("ab"));
        assert_eq!(
            KeyEncryptionKey::from_hex("k", "abcd").unwrap_err(),
            CryptoError::KeyLength {
                expected: 32,
                found: 2
            }
        );
        assert!(KeyEncryptionKey::from_hex("k", &"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", DataKey::generate(1).unwrap()).contains("secret: ["));
    }
}
