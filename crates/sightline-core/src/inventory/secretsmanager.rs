//! Secrets Manager: each secret's metadata as `ListSecrets` gives it
//! (rotation, dates, owner). Never a secret's value: the collector does not
//! call `GetSecretValue`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SecretsManagerInventory {
    pub secrets: Vec<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secret {
    pub meta: ResourceMeta,
    /// Whether automatic rotation is on. The API leaves the field out for a
    /// secret never configured for rotation, which is "off".
    pub rotation_enabled: bool,
    /// `RotationRules.AutomaticallyAfterDays`, when the schedule is in days.
    pub rotation_days: Option<i64>,
    pub last_rotated: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
    /// The service that manages the secret (`rds`, `events`, ...): its
    /// rotation is that service's to run.
    pub owning_service: Option<String>,
    /// The secret's primary region when this is a replica of it.
    pub primary_region: Option<String>,
}

impl Secret {
    /// A secret whose rotation is to be judged here: not managed by another
    /// service, and not a replica whose primary (where rotation runs) the
    /// scan also covers. A replica of a primary outside `scanned` is judged
    /// here, or nobody would judge it.
    pub fn rotation_is_judged_here(&self, scanned: &[String]) -> bool {
        self.owning_service.is_none()
            && self
                .primary_region
                .as_deref()
                .is_none_or(|p| p == self.meta.region || !scanned.iter().any(|r| r == p))
    }

    /// The region rotation is set in: the primary's.
    pub fn home_region(&self) -> &str {
        self.primary_region.as_deref().unwrap_or(&self.meta.region)
    }

    /// The ARN of the secret in `home_region`: a replica's ARN is its
    /// primary's with the region changed, and only the primary's is found
    /// in the primary's region.
    pub fn home_arn(&self) -> String {
        let mut parts: Vec<&str> = self.meta.arn.splitn(5, ':').collect();
        if parts.len() < 5 {
            return self.meta.arn.clone();
        }
        parts[3] = self.home_region();
        parts.join(":")
    }
}
