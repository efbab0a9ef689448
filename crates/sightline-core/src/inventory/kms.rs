//! KMS keys: who manages them, their state, whether they rotate and, for
//! customer managed keys, the key policy (who may use the key). Never key
//! material.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KmsInventory {
    pub keys: Vec<KmsKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmsKey {
    pub meta: ResourceMeta,
    /// `CUSTOMER` or `AWS`.
    pub manager: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub state: String,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, ...
    pub spec: String,
    /// `AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`.
    pub origin: String,
    pub deletion_date: Option<DateTime<Utc>>,
    /// A replica of a multi-Region key: its rotation is its primary's, set
    /// in the primary's region.
    #[serde(default)]
    pub multi_region_replica: bool,
    /// From `GetKeyRotationStatus`, read only for keys that can rotate
    /// automatically; `None` when not read.
    pub rotation_enabled: Option<bool>,
    /// The key policy (`GetKeyPolicy`, policy name `default`), read for
    /// customer managed keys only; `None` when not read.
    #[serde(default)]
    pub policy: Option<serde_json::Value>,
}

impl KmsKey {
    /// A key KMS can rotate on its own: one of yours, symmetric, with key
    /// material KMS made, enabled, and not a multi-Region replica (whose
    /// rotation follows its primary, judged in the primary's region).
    pub fn can_rotate(&self) -> bool {
        !self.multi_region_replica
            && self.manager == "CUSTOMER"
            && self.spec == "SYMMETRIC_DEFAULT"
            && self.origin == "AWS_KMS"
            && self.state == "Enabled"
    }
}
