//! RDS records: DB instances, clusters and manual snapshots with their
//! public restore attribute.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RdsInventory {
    pub instances: Vec<DbInstance>,
    pub clusters: Vec<DbCluster>,
    pub snapshots: Vec<DbSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbInstance {
    pub meta: ResourceMeta,
    pub engine: String,
    pub instance_class: String,
    pub status: Option<String>,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    pub storage_encrypted: bool,
    pub backup_retention_days: i64,
    pub deletion_protection: bool,
    /// `AutoMinorVersionUpgrade`; `None` when AWS did not say (or an
    /// inventory from before it was collected).
    #[serde(default)]
    pub auto_minor_version_upgrade: Option<bool>,
    /// Set when the instance belongs to an Aurora cluster; cluster settings then apply.
    pub cluster_id: Option<String>,
    /// Set on a read replica: the instance it replicates.
    #[serde(default)]
    pub read_replica_source: Option<String>,
    pub allocated_storage_gib: i64,
    /// `StorageType`: gp2, gp3, io1, io2, standard or aurora; `None` when
    /// AWS did not say (or an inventory from before it was collected).
    #[serde(default)]
    pub storage_type: Option<String>,
    /// Provisioned IOPS (`Iops`), for io1, io2 and gp3.
    #[serde(default)]
    pub iops: Option<i64>,
    /// Provisioned throughput in MiB/s (`StorageThroughput`), for gp3.
    #[serde(default)]
    pub storage_throughput_mibps: Option<i64>,
    pub create_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbCluster {
    pub meta: ResourceMeta,
    pub engine: String,
    pub multi_az: bool,
    pub storage_encrypted: bool,
    pub backup_retention_days: i64,
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbSnapshot {
    pub meta: ResourceMeta,
    pub instance_id: String,
    pub snapshot_type: String,
    pub encrypted: bool,
    pub create_time: Option<DateTime<Utc>>,
    /// `Some(true)` when the `restore` attribute lists `all`; `None` when unread.
    pub public: Option<bool>,
}
