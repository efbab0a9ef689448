//! EFS file systems: whether their data is encrypted at rest. Never a file.

use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EfsInventory {
    pub file_systems: Vec<FileSystem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileSystem {
    pub meta: ResourceMeta,
    /// `None` when the answer did not say.
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
}
