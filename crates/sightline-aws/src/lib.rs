//! Read-only AWS access for Sightline: credentials (ambient or AssumeRole
//! with ExternalId), region discovery, one collector per service, the action
//! manifest of every IAM action those collectors call, and redaction.
//! Nothing here writes to AWS or reads data inside resources.

pub mod collectors;
pub mod converse;
pub mod coverage;
pub mod dns;
pub mod error;
pub mod manifest;
pub mod organizations;
pub mod policy;
pub mod record;
pub mod regions;
pub mod scanner;
pub mod secrets;
pub mod session;
pub mod telemetry;

pub use error::AwsError;
pub use manifest::{ActionManifest, Service};
pub use record::{Progress, ScanRecorder};
pub use scanner::{scan, scan_and_evaluate, ScanOptions};
pub use session::{AwsSession, ConnectOptions, RoleArn};
