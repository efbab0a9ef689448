//! DynamoDB tables and whether point-in-time recovery is on. Never an item:
//! the collector lists tables and reads their backup settings only.

use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DynamoDbInventory {
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub meta: ResourceMeta,
    /// `DescribeContinuousBackups`' point-in-time recovery status; `None`
    /// when that read failed (a recorded gap).
    pub point_in_time_recovery: Option<bool>,
}
