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
    /// Names of the variables whose value the collector judged
    /// secret-looking (`secrets::value_looks_secret`) before dropping it:
    /// one verdict per variable, never the value.
    #[serde(default)]
    pub secret_looking_values: Vec<String>,
    pub kms_key_arn: Option<String>,
}
