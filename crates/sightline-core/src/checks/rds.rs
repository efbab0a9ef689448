//! RDS checks: idle, public and unencrypted instances, public snapshots, and
//! the reliability settings of instances and clusters.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::metrics::{last_days, MetricKind};
use crate::inventory::rds::DbInstance;
use crate::inventory::{Inventory, ResourceMeta};
use crate::shell::{self, Command};

pub const CHECKS: &[&Check] = &[
    &INSTANCE_IDLE,
    &INSTANCE_PUBLIC,
    &INSTANCE_UNENCRYPTED,
    &SNAPSHOT_PUBLIC,
    &INSTANCE_SINGLE_AZ,
    &BACKUP_RETENTION_SHORT,
    &DELETION_PROTECTION_OFF,
    &MINOR_VERSION_UPGRADE_OFF,
];

/// Standalone instances: cluster members take these settings from their cluster.
fn standalone(inv: &Inventory) -> impl Iterator<Item = &DbInstance> {
    inv.rds.instances.iter().filter(|i| i.cluster_id.is_none())
}

/// Standalone primaries: read replicas are single-AZ and unbacked-up by design.
fn primaries(inv: &Inventory) -> impl Iterator<Item = &DbInstance> {
    standalone(inv).filter(|i| i.read_replica_source.is_none())
}

pub static INSTANCE_IDLE: Check = Check {
    id: "rds.instance_idle",
    title: "Idle RDS instance (no connections for 7 days)",
    category: Category::Cost,
    severity: Severity::Medium,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances", "cloudwatch:GetMetricData"],
    basis: Basis::Absence,
    risk: "A database nobody has connected to in a week is billed around the clock.",
    evaluate: instance_idle,
};

fn instance_idle(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.rds
        .instances
        .iter()
        .filter(|i| i.status.as_deref().is_none_or(|s| s == "available"))
        .filter_map(|i| {
            // DatabaseConnections is reported every minute: a missing day is unknown, not zero.
            let series = inv
                .metrics
                .series(&i.meta.arn, MetricKind::RdsConnectionsMax);
            let recent = last_days(series, ctx.day_start_days_ago(0), 7, None)?;
            if recent.iter().any(|v| *v > 0.0) {
                return None;
            }
            let region = &i.meta.region;
            Some(
                Violation::new(&i.meta, "No database connections in the last 7 days")
                    .evidence("max_connections_last_7_days", 0)
                    .evidence("daily_values", &recent)
                    .evidence("instance_class", &i.instance_class)
                    .remediation(
                        Command::aws("rds", "create-db-snapshot")
                            .region(region)
                            .arg("--db-instance-identifier", &i.meta.id)
                            .arg(
                                "--db-snapshot-identifier",
                                &format!("{}-sightline-final", i.meta.id),
                            ),
                    )
                    .remediation(
                        Command::aws("rds", "stop-db-instance")
                            .region(region)
                            .arg("--db-instance-identifier", &i.meta.id)
                            .note("stays stopped 7 days; delete once the snapshot is verified"),
                    )
                    .rollback(
                        Command::aws("rds", "start-db-instance")
                            .region(region)
                            .arg("--db-instance-identifier", &i.meta.id),
                    )
                    .savings(ctx.prices.rds_instance(i)),
            )
        })
        .collect()
}

pub static INSTANCE_PUBLIC: Check = Check {
    id: "rds.instance_public",
    title: "RDS instance publicly accessible",
    category: Category::Security,
    severity: Severity::Critical,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances"],
    basis: Basis::Observed,
    risk: "A publicly accessible instance gets a public DNS answer; only its security group stands between it and the internet.",
    evaluate: instance_public,
};

fn instance_public(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.rds
        .instances
        .iter()
        .filter(|i| i.publicly_accessible)
        .map(|i| {
            Violation::new(&i.meta, "PubliclyAccessible is true")
                .evidence("publicly_accessible", true)
                .remediation(
                    modify("instance", &i.meta)
                        .flag("--no-publicly-accessible")
                        .flag("--apply-immediately"),
                )
                .rollback(
                    modify("instance", &i.meta)
                        .flag("--publicly-accessible")
                        .flag("--apply-immediately"),
                )
        })
        .collect()
}

pub static INSTANCE_UNENCRYPTED: Check = Check {
    id: "rds.instance_unencrypted",
    title: "RDS instance storage not encrypted",
    category: Category::Security,
    severity: Severity::High,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances"],
    basis: Basis::Observed,
    risk: "Data, logs, backups and snapshots of an unencrypted instance are stored in clear.",
    evaluate: instance_unencrypted,
};

fn instance_unencrypted(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.rds
        .instances
        .iter()
        .filter(|i| !i.storage_encrypted)
        .map(|i| {
            let region = &i.meta.region;
            let id = &i.meta.id;
            let (plain, encrypted) = (format!("{id}-plain"), format!("{id}-encrypted"));
            Violation::new(&i.meta, "StorageEncrypted is false")
                .evidence("storage_encrypted", false)
                .remediation(
                    Command::aws("rds", "create-db-snapshot")
                        .region(region)
                        .arg("--db-instance-identifier", id)
                        .arg("--db-snapshot-identifier", &plain),
                )
                .remediation(
                    Command::aws("rds", "copy-db-snapshot")
                        .region(region)
                        .arg("--source-db-snapshot-identifier", &plain)
                        .arg("--target-db-snapshot-identifier", &encrypted)
                        .arg("--kms-key-id", "alias/aws/rds"),
                )
                .remediation(
                    Command::aws("rds", "restore-db-instance-from-db-snapshot")
                        .region(region)
                        .arg("--db-instance-identifier", &encrypted)
                        .arg("--db-snapshot-identifier", &encrypted)
                        .note("then cut over"),
                )
                .rollback(shell::note_line(&format!(
                    "keep {id} running until the encrypted copy is verified; point clients back at it to roll back"
                )))
        })
        .collect()
}

pub static SNAPSHOT_PUBLIC: Check = Check {
    id: "rds.snapshot_public",
    title: "RDS snapshot shared publicly",
    category: Category::Security,
    severity: Severity::Critical,
    service: "rds",
    required_actions: &[
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBSnapshotAttributes",
    ],
    basis: Basis::Observed,
    risk: "Any AWS account can restore a public snapshot and read the whole database.",
    evaluate: snapshot_public,
};

fn snapshot_public(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.rds
        .snapshots
        .iter()
        .filter(|s| s.public == Some(true))
        .map(|s| {
            let attribute = || {
                Command::aws("rds", "modify-db-snapshot-attribute")
                    .region(&s.meta.region)
                    .arg("--db-snapshot-identifier", &s.meta.id)
                    .arg("--attribute-name", "restore")
            };
            Violation::new(&s.meta, "The snapshot's restore attribute includes 'all'")
                .evidence("restore_attribute", ["all"])
                .remediation(attribute().arg("--values-to-remove", "all"))
                .rollback(attribute().arg("--values-to-add", "all"))
        })
        .collect()
}

pub static INSTANCE_SINGLE_AZ: Check = Check {
    id: "rds.instance_single_az",
    title: "RDS instance in a single Availability Zone",
    category: Category::Reliability,
    severity: Severity::Medium,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances"],
    basis: Basis::Observed,
    risk: "A single-AZ instance is down for the whole of an AZ outage or a host failure, and for patching.",
    evaluate: instance_single_az,
};

fn instance_single_az(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let instances = primaries(inv).filter(|i| !i.multi_az).map(|i| {
        Violation::new(&i.meta, "MultiAZ is false")
            .evidence("multi_az", false)
            .remediation(
                modify("instance", &i.meta)
                    .flag("--multi-az")
                    .flag("--apply-immediately"),
            )
            .rollback(
                modify("instance", &i.meta)
                    .flag("--no-multi-az")
                    .flag("--apply-immediately"),
            )
    });
    // An Aurora cluster is multi-AZ when its instances span zones: add a reader in another AZ.
    let clusters = inv.rds.clusters.iter().filter(|c| !c.multi_az).map(|c| {
        let region = &c.meta.region;
        let reader = format!("{}-reader-b", c.meta.id);
        Violation::new(
            &c.meta,
            "The cluster's instances are all in one Availability Zone",
        )
        .evidence("multi_az", false)
        .remediation(
            Command::aws("rds", "create-db-instance")
                .region(region)
                .arg("--db-cluster-identifier", &c.meta.id)
                .arg("--db-instance-identifier", &reader)
                .arg("--engine", &c.engine)
                .placeholder("--db-instance-class", "class")
                .placeholder("--availability-zone", "another-az"),
        )
        .rollback(
            Command::aws("rds", "delete-db-instance")
                .region(region)
                .arg("--db-instance-identifier", &reader),
        )
    });
    instances.chain(clusters).collect()
}

pub const MIN_BACKUP_RETENTION_DAYS: i64 = 7;

pub static BACKUP_RETENTION_SHORT: Check = Check {
    id: "rds.backup_retention_short",
    title: "RDS backup retention shorter than 7 days",
    category: Category::Reliability,
    severity: Severity::Medium,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances", "rds:DescribeDBClusters"],
    basis: Basis::Observed,
    risk: "Short retention leaves few restore points; 0 disables automated backups and point-in-time recovery.",
    evaluate: backup_retention_short,
};

fn backup_retention_short(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let instances = primaries(inv).map(|i| (&i.meta, i.backup_retention_days, "instance"));
    let clusters = inv
        .rds
        .clusters
        .iter()
        .map(|c| (&c.meta, c.backup_retention_days, "cluster"));
    instances
        .chain(clusters)
        .filter(|(_, days, _)| *days < MIN_BACKUP_RETENTION_DAYS)
        .map(|(meta, days, kind)| {
            Violation::new(meta, format!("Backup retention is {days} day(s)"))
                .evidence("backup_retention_period", days)
                .remediation(
                    modify(kind, meta)
                        .arg(
                            "--backup-retention-period",
                            &MIN_BACKUP_RETENTION_DAYS.to_string(),
                        )
                        .flag("--apply-immediately"),
                )
                .rollback(
                    modify(kind, meta)
                        .arg("--backup-retention-period", &days.to_string())
                        .flag("--apply-immediately"),
                )
        })
        .collect()
}

pub static DELETION_PROTECTION_OFF: Check = Check {
    id: "rds.deletion_protection_off",
    title: "RDS deletion protection off",
    category: Category::Reliability,
    severity: Severity::Low,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances", "rds:DescribeDBClusters"],
    basis: Basis::Observed,
    risk: "One mistaken delete call, console click or stack update removes the database.",
    evaluate: deletion_protection_off,
};

fn deletion_protection_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let instances = standalone(inv).map(|i| (&i.meta, i.deletion_protection, "instance"));
    let clusters = inv
        .rds
        .clusters
        .iter()
        .map(|c| (&c.meta, c.deletion_protection, "cluster"));
    instances
        .chain(clusters)
        .filter(|(_, on, _)| !on)
        .map(|(meta, _, kind)| {
            Violation::new(meta, "DeletionProtection is false")
                .evidence("deletion_protection", false)
                .remediation(
                    modify(kind, meta)
                        .flag("--deletion-protection")
                        .flag("--apply-immediately"),
                )
                .rollback(
                    modify(kind, meta)
                        .flag("--no-deletion-protection")
                        .flag("--apply-immediately"),
                )
        })
        .collect()
}

pub static MINOR_VERSION_UPGRADE_OFF: Check = Check {
    id: "rds.minor_version_upgrade_off",
    title: "RDS automatic minor version upgrade off",
    category: Category::Security,
    severity: Severity::Low,
    service: "rds",
    required_actions: &["rds:DescribeDBInstances"],
    basis: Basis::Observed,
    risk: "Minor versions carry the engine's security fixes; without automatic upgrades they wait for someone to remember.",
    evaluate: minor_version_upgrade_off,
};

/// Every instance, Aurora members too: the setting is the instance's own.
fn minor_version_upgrade_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.rds
        .instances
        .iter()
        .filter(|i| i.auto_minor_version_upgrade == Some(false))
        .map(|i| {
            Violation::new(&i.meta, "AutoMinorVersionUpgrade is false")
                .evidence("auto_minor_version_upgrade", false)
                .evidence("engine", &i.engine)
                .remediation(
                    modify("instance", &i.meta)
                        .flag("--auto-minor-version-upgrade")
                        .flag("--no-apply-immediately")
                        .note("upgrades then happen in the maintenance window"),
                )
                .rollback(
                    modify("instance", &i.meta)
                        .flag("--no-auto-minor-version-upgrade")
                        .flag("--apply-immediately"),
                )
        })
        .collect()
}

/// `aws rds modify-db-instance` or `modify-db-cluster` of this instance or cluster.
fn modify(kind: &str, meta: &ResourceMeta) -> Command {
    let (operation, flag) = match kind {
        "cluster" => ("modify-db-cluster", "--db-cluster-identifier"),
        _ => ("modify-db-instance", "--db-instance-identifier"),
    };
    Command::aws("rds", operation)
        .region(&meta.region)
        .arg(flag, &meta.id)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::checks::test_support::{arn, ctx, flagged, inventory, meta};
    use crate::inventory::rds::{DbCluster, DbSnapshot};

    fn db(id: &str) -> DbInstance {
        DbInstance {
            meta: meta("rds.db_instance", id, "us-east-1"),
            engine: "postgres".into(),
            instance_class: "db.t3.micro".into(),
            status: Some("available".into()),
            multi_az: true,
            publicly_accessible: false,
            storage_encrypted: true,
            backup_retention_days: 7,
            deletion_protection: true,
            auto_minor_version_upgrade: Some(true),
            cluster_id: None,
            read_replica_source: None,
            allocated_storage_gib: 20,
            storage_type: Some("gp2".into()),
            iops: Some(100),
            storage_throughput_mibps: None,
            create_time: None,
        }
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut idle = inventory();
        idle.rds.instances = vec![db("db-idle")];
        for d in 0..7 {
            idle.metrics.add(
                &arn("db-idle"),
                MetricKind::RdsConnectionsMax,
                ctx().day_start_days_ago(d + 1),
                0.0,
            );
        }
        vec![(&INSTANCE_IDLE, idle)]
    }

    #[test]
    fn each_setting_flags_only_its_instance() {
        let mut inv = inventory();
        let mut public = db("db-public");
        public.publicly_accessible = true;
        let mut plain = db("db-plain");
        plain.storage_encrypted = false;
        let mut single = db("db-single");
        single.multi_az = false;
        let mut short = db("db-short");
        short.backup_retention_days = 1;
        let mut unprotected = db("db-unprotected");
        unprotected.deletion_protection = false;
        let mut member = db("db-member");
        member.multi_az = false;
        member.cluster_id = Some("cluster-1".into());
        inv.rds.instances = vec![
            public,
            plain,
            single,
            short,
            unprotected,
            member,
            db("db-clean"),
        ];
        inv.rds.clusters = vec![DbCluster {
            meta: meta("rds.db_cluster", "cluster-1", "us-east-1"),
            engine: "aurora-postgresql".into(),
            multi_az: true,
            storage_encrypted: true,
            backup_retention_days: 1,
            deletion_protection: true,
        }];
        assert_eq!(flagged(&INSTANCE_PUBLIC, &inv), ["db-public"]);
        assert_eq!(flagged(&INSTANCE_UNENCRYPTED, &inv), ["db-plain"]);
        assert_eq!(flagged(&INSTANCE_SINGLE_AZ, &inv), ["db-single"]);
        assert_eq!(
            flagged(&BACKUP_RETENTION_SHORT, &inv),
            ["cluster-1", "db-short"]
        );
        assert_eq!(flagged(&DELETION_PROTECTION_OFF, &inv), ["db-unprotected"]);
    }

    #[test]
    fn idle_needs_seven_days_of_zero_connections_and_public_snapshots_are_flagged() {
        let mut inv = inventory();
        inv.rds.instances = vec![db("db-idle"), db("db-used")];
        for d in 0..7 {
            let day = ctx().day_start_days_ago(d + 1);
            inv.metrics
                .add(&arn("db-idle"), MetricKind::RdsConnectionsMax, day, 0.0);
            inv.metrics.add(
                &arn("db-used"),
                MetricKind::RdsConnectionsMax,
                day,
                if d == 6 { 3.0 } else { 0.0 },
            );
        }
        assert_eq!(flagged(&INSTANCE_IDLE, &inv), ["db-idle"]);
        let snap = |id: &str, public: Option<bool>| DbSnapshot {
            meta: meta("rds.db_snapshot", id, "us-east-1"),
            instance_id: "db-idle".into(),
            snapshot_type: "manual".into(),
            encrypted: true,
            create_time: None,
            public,
        };
        inv.rds.snapshots = vec![
            snap("snap-public", Some(true)),
            snap("snap-private", Some(false)),
            snap("snap-unknown", None),
        ];
        assert_eq!(flagged(&SNAPSHOT_PUBLIC, &inv), ["snap-public"]);
    }

    #[test]
    fn only_an_instance_that_says_no_to_minor_upgrades_is_flagged() {
        let mut inv = inventory();
        let mut off = db("db-off");
        off.auto_minor_version_upgrade = Some(false);
        let mut aurora_member = db("aurora-1");
        aurora_member.auto_minor_version_upgrade = Some(false);
        aurora_member.cluster_id = Some("aurora".into());
        let mut unknown = db("db-unknown");
        unknown.auto_minor_version_upgrade = None;
        inv.rds.instances = vec![db("db-on"), off, aurora_member, unknown];
        assert_eq!(
            flagged(&MINOR_VERSION_UPGRADE_OFF, &inv),
            ["aurora-1", "db-off"]
        );
        let v = minor_version_upgrade_off(&inv, &ctx());
        assert_eq!(
            v[0].remediation,
            ["aws rds modify-db-instance --region us-east-1 --db-instance-identifier db-off --auto-minor-version-upgrade --no-apply-immediately  # upgrades then happen in the maintenance window"]
        );
    }
}
