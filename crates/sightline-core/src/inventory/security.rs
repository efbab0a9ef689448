//! The account's own security services, per region: IAM Access Analyzer
//! analyzers, AWS Config recorders, Security Hub and GuardDuty. `None` in a
//! field means the read failed (a recorded gap), never "off".

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SecurityInventory {
    pub regions: Vec<RegionSecurity>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionSecurity {
    pub region: String,
    pub analyzers: Option<Vec<Analyzer>>,
    pub config_recorders: Option<Vec<ConfigRecorder>>,
    /// Whether the account is subscribed to Security Hub here.
    pub security_hub: Option<bool>,
    pub guardduty_detectors: Option<Vec<Detector>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analyzer {
    pub name: String,
    /// `ACCOUNT`, `ORGANIZATION`, `ACCOUNT_UNUSED_ACCESS`, ...
    pub kind: String,
    /// `ACTIVE`, `CREATING`, `DISABLED`, `FAILED`.
    pub status: String,
}

impl Analyzer {
    /// An active analyzer of external access (of the account or of its
    /// organization): what CIS asks for. An unused-access analyzer finds
    /// something else.
    pub fn watches_external_access(&self) -> bool {
        self.status == "ACTIVE" && matches!(self.kind.as_str(), "ACCOUNT" | "ORGANIZATION")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecorder {
    pub name: String,
    /// Records every supported resource type.
    pub all_supported: bool,
    /// Records global types (IAM) too.
    pub include_global: bool,
    /// From the recorder's status; `None` when it has none.
    pub recording: Option<bool>,
    /// `Success`, `Pending`, `Failure` or `NotApplicable`, as the API
    /// spells them.
    pub last_status: Option<String>,
    /// The error of the last recording, when it failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The role it records with.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The resource types it records when not all of them.
    #[serde(default)]
    pub resource_types: Vec<String>,
}

impl ConfigRecorder {
    /// Recording every supported resource type, and not failing.
    pub fn records_everything(&self) -> bool {
        self.all_supported && self.recording == Some(true) && !self.is_failing()
    }

    pub fn is_failing(&self) -> bool {
        self.last_status.as_deref() == Some("Failure")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    pub id: String,
    /// `ENABLED` or `DISABLED`; `None` when `GetDetector` failed.
    pub status: Option<String>,
}
