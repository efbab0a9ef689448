//! CloudWatch Logs log groups: retention and stored size. Never a log event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogsInventory {
    pub log_groups: Vec<LogGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogGroup {
    pub meta: ResourceMeta,
    /// Days events are kept; `None` means they never expire (the API leaves
    /// the field out).
    pub retention_days: Option<i64>,
    /// Bytes stored, as the API reports them (updated with a delay).
    pub stored_bytes: Option<i64>,
    pub created: Option<DateTime<Utc>>,
    /// `STANDARD`, `INFREQUENT_ACCESS` or `DELIVERY`.
    pub class: Option<String>,
}
