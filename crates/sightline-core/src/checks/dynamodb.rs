//! DynamoDB checks, from table settings only: the scanner never reads an
//! item (no `Scan`, `Query` or `GetItem`).

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&PITR_OFF];

pub static PITR_OFF: Check = Check {
    id: "dynamodb.pitr_off",
    title: "DynamoDB table without point-in-time recovery",
    category: Category::Reliability,
    severity: Severity::Medium,
    service: "dynamodb",
    required_actions: &["dynamodb:ListTables", "dynamodb:DescribeContinuousBackups"],
    basis: Basis::Observed,
    risk: "A bad deploy or a mistaken delete of items cannot be undone: without point-in-time recovery the table can only go back to its last on-demand backup, if there is one.",
    evaluate: pitr_off,
};

fn pitr_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.dynamodb
        .tables
        .iter()
        .filter(|t| t.point_in_time_recovery == Some(false))
        .map(|t| {
            let region = &t.meta.region;
            let spec = |on: bool| {
                Command::aws("dynamodb", "update-continuous-backups")
                    .region(region)
                    .arg("--table-name", &t.meta.id)
                    .arg(
                        "--point-in-time-recovery-specification",
                        &format!("PointInTimeRecoveryEnabled={on}"),
                    )
            };
            Violation::new(&t.meta, "Point-in-time recovery is off")
                .evidence("point_in_time_recovery", false)
                .remediation(spec(true).note(
                    "billed per GB-month of the table and its indexes; restores to any second of the last 35 days",
                ))
                .rollback(spec(false).note("turning it off discards the recovery window"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{flagged, inventory, meta};
    use crate::inventory::dynamodb::Table;

    #[test]
    fn tables_without_point_in_time_recovery_are_flagged_and_unread_ones_are_not() {
        let mut inv = inventory();
        let table = |id: &str, pitr: Option<bool>| Table {
            meta: meta("dynamodb.table", id, "us-east-1"),
            point_in_time_recovery: pitr,
        };
        inv.dynamodb.tables = vec![
            table("orders", Some(false)),
            table("ledger", Some(true)),
            table("unread", None),
        ];
        assert_eq!(flagged(&PITR_OFF, &inv), ["orders"]);
        let v = (PITR_OFF.evaluate)(&inv, &crate::checks::test_support::ctx());
        assert!(
            v[0].remediation[0].starts_with("aws dynamodb update-continuous-backups --region us-east-1 --table-name orders --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"),
            "{:?}",
            v[0].remediation
        );
    }
}
