//! Sightline's domain: the inventory snapshot a scan collects, the check
//! catalog that turns it into findings, the savings model and the report formats.
//! Everything here is pure: no I/O, no clock, no AWS SDK. Callers pass `now`.

pub mod checks;
pub mod compliance;
pub mod evaluate;
pub mod filter_pattern;
pub mod finding;
pub mod inventory;
pub mod llm;
pub mod names;
pub mod plan;
pub mod prices;
pub mod report;
pub mod roles;
pub mod search;
pub mod secrets;
pub mod shell;
pub mod small_map;

pub use checks::{catalog, Check, CheckContext};
pub use evaluate::{evaluate, CheckOutcome, CheckStatus, ScanReport};
pub use finding::{Category, Finding, Severity};
pub use inventory::{CoverageGap, Inventory, ResourceMeta};
