//! CloudTrail records: trails (deduplicated across the regions that show
//! them) and whether each is logging.

use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CloudTrailInventory {
    pub trails: Vec<Trail>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trail {
    pub meta: ResourceMeta,
    pub home_region: String,
    pub is_multi_region: bool,
    pub log_file_validation: bool,
    pub is_organization_trail: bool,
    pub s3_bucket: Option<String>,
    /// From `GetTrailStatus`; `None` when that call failed.
    pub is_logging: Option<bool>,
}
