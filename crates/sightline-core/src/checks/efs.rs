//! EFS checks: file systems without encryption at rest.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::note_line;

pub const CHECKS: &[&Check] = &[&UNENCRYPTED];

pub static UNENCRYPTED: Check = Check {
    id: "efs.unencrypted",
    title: "EFS file system not encrypted at rest",
    category: Category::Security,
    severity: Severity::Medium,
    service: "efs",
    required_actions: &["elasticfilesystem:DescribeFileSystems"],
    basis: Basis::Observed,
    risk: "Files on unencrypted storage are readable by anyone who gets the underlying media or a copy of it, and no key policy stands in the way.",
    evaluate: unencrypted,
};

fn unencrypted(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.efs
        .file_systems
        .iter()
        .filter(|f| f.encrypted == Some(false))
        .map(|f| {
            Violation::new(&f.meta, "The file system is not encrypted at rest")
                .evidence("encrypted", false)
                // EFS cannot encrypt a file system in place.
                .remediation(note_line(&format!(
                    "encryption at rest is chosen at creation: create an encrypted file system in {} (aws efs create-file-system --encrypted), copy the data across with AWS DataSync or AWS Backup restore, point the mount targets' clients at it, then delete {}",
                    f.meta.region, f.meta.id
                )))
                .rollback(note_line(&format!(
                    "until {} is deleted, clients can be pointed back at it",
                    f.meta.id
                )))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{flagged, inventory, meta};
    use crate::inventory::efs::FileSystem;

    #[test]
    fn unencrypted_file_systems_are_flagged() {
        let mut inv = inventory();
        let fs = |id: &str, encrypted: Option<bool>| FileSystem {
            meta: meta("efs.file_system", id, "us-east-1"),
            encrypted,
            kms_key_id: None,
        };
        inv.efs.file_systems = vec![
            fs("fs-plain", Some(false)),
            fs("fs-sealed", Some(true)),
            fs("fs-unsaid", None),
        ];
        assert_eq!(flagged(&UNENCRYPTED, &inv), ["fs-plain"]);
    }
}
