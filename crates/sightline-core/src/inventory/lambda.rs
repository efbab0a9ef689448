//! Lambda records. Environment variable VALUES are dropped by the collector
//! before they reach this type: only the names exist here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LambdaInventory {
    pub functions: Vec<Function>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub meta: ResourceMeta,
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub memory_mb: Option<i32>,
    pub last_modified: Option<DateTime<Utc>>,
    /// Names of the environment variables; their values are never kept.
    pub environment_variable_names: Vec<String>,
    pub kms_key_arn: Option<String>,
}
