//! EBS checks: volumes, snapshots and the per-region encryption default.

use chrono::Duration;

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::ec2::Volume;
use crate::inventory::Inventory;
use crate::prices::Gp2Performance;
use crate::shell::{self, Command};

pub const CHECKS: &[&Check] = &[
    &VOLUME_UNATTACHED,
    &VOLUME_GP2,
    &SNAPSHOT_STALE,
    &SNAPSHOT_PUBLIC,
    &VOLUME_UNENCRYPTED,
    &ENCRYPTION_BY_DEFAULT_OFF,
    &VOLUME_NO_RECENT_SNAPSHOT,
];

pub static VOLUME_UNATTACHED: Check = Check {
    id: "ebs.volume_unattached",
    title: "EBS volume not attached to any instance",
    category: Category::Cost,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeVolumes"],
    basis: Basis::Observed,
    risk: "An unattached volume is billed for its full provisioned size while doing no work.",
    evaluate: volume_unattached,
};

fn volume_unattached(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .volumes
        .iter()
        .filter(|v| v.state == "available" && v.attached_instance_ids.is_empty())
        .map(|v| {
            let region = &v.meta.region;
            Violation::new(
                &v.meta,
                format!(
                    "{} GiB {} volume is not attached",
                    v.size_gib, v.volume_type
                ),
            )
            .evidence("state", &v.state)
            .evidence("attachments", &v.attached_instance_ids)
            .evidence("size_gib", v.size_gib)
            .evidence("volume_type", &v.volume_type)
            .remediation(
                Command::aws("ec2", "create-snapshot")
                    .region(region)
                    .arg("--volume-id", &v.meta.id)
                    .arg(
                        "--description",
                        "sightline: before deleting unattached volume",
                    ),
            )
            .remediation(
                Command::aws("ec2", "delete-volume")
                    .region(region)
                    .arg("--volume-id", &v.meta.id),
            )
            .rollback(restore_volume_command(v))
            .savings(ctx.prices.ebs_volume(v))
        })
        .collect()
}

fn restore_volume_command(v: &Volume) -> Command {
    Command::aws("ec2", "create-volume")
        .region(&v.meta.region)
        .placeholder("--snapshot-id", "snapshot-id from the create-snapshot step")
        .arg_or(
            "--availability-zone",
            v.availability_zone.as_deref(),
            "availability-zone",
        )
        .arg("--volume-type", &v.volume_type)
}

pub static VOLUME_GP2: Check = Check {
    id: "ebs.volume_gp2",
    title: "EBS gp2 volume that should be gp3",
    category: Category::Cost,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &["ec2:DescribeVolumes"],
    basis: Basis::Observed,
    risk: "gp3 costs about 20% less than gp2 per GiB, and IOPS and throughput are bought apart: matched to what gp2 gives, it still costs less. The change is online.",
    evaluate: volume_gp2,
};

fn volume_gp2(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .volumes
        .iter()
        .filter(|v| v.volume_type == "gp2")
        .map(|v| {
            let region = &v.meta.region;
            // gp3 given what gp2 delivers at this size, so nothing gets slower.
            let matched = Gp2Performance::of(v.size_gib);
            Violation::new(&v.meta, format!("{} GiB volume is gp2", v.size_gib))
                .evidence("volume_type", &v.volume_type)
                .evidence("size_gib", v.size_gib)
                .evidence("iops", v.iops)
                .remediation(
                    Command::aws("ec2", "modify-volume")
                        .region(region)
                        .arg("--volume-id", &v.meta.id)
                        .arg("--volume-type", "gp3")
                        .arg("--iops", &matched.iops.to_string())
                        .arg("--throughput", &matched.throughput_mibps.to_string())
                        .note("the IOPS and throughput gp2 gives at this size"),
                )
                .rollback(
                    Command::aws("ec2", "modify-volume")
                        .region(region)
                        .arg("--volume-id", &v.meta.id)
                        .arg("--volume-type", "gp2")
                        .note("allowed once the 6-hour modification cooldown has passed"),
                )
                .savings(ctx.prices.gp2_to_gp3(&v.meta.region, v.size_gib))
        })
        .collect()
}

pub static SNAPSHOT_STALE: Check = Check {
    id: "ebs.snapshot_stale",
    title: "EBS snapshot older than the retention threshold or of a deleted volume",
    category: Category::Cost,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &["ec2:DescribeSnapshots", "ec2:DescribeVolumes", "ec2:DescribeImages"],
    basis: Basis::Absence,
    risk: "Old snapshots and snapshots of volumes that no longer exist accumulate storage charges long after anyone needs them.",
    evaluate: snapshot_stale,
};

fn snapshot_stale(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    let cutoff = ctx.days_ago(ctx.snapshot_max_age_days);
    inv.ec2
        .snapshots
        .iter()
        .filter_map(|s| {
            let too_old = s.start_time.is_some_and(|t| t < cutoff);
            // Without the volume list of this region, "volume deleted" cannot be told apart from "not read".
            let volume_gone = !inv.missing("ec2:DescribeVolumes", &s.meta.region)
                && s.volume_id.as_deref().is_some_and(|vol| {
                    vol != "vol-ffffffff" && !inv.ec2.volumes.iter().any(|v| v.meta.id == vol)
                });
            let used_by_image = inv
                .ec2
                .images
                .iter()
                .any(|i| i.snapshot_ids.contains(&s.meta.id));
            if !(too_old || volume_gone) || used_by_image {
                return None;
            }
            let reason = match (too_old, volume_gone) {
                (true, true) => format!(
                    "older than {} days and its volume was deleted",
                    ctx.snapshot_max_age_days
                ),
                (true, false) => format!("older than {} days", ctx.snapshot_max_age_days),
                _ => "of a volume that no longer exists".to_owned(),
            };
            let region = &s.meta.region;
            Some(
                Violation::new(&s.meta, format!("Snapshot is {reason}"))
                    .evidence("start_time", s.start_time)
                    .evidence("volume_id", &s.volume_id)
                    .evidence("volume_exists", !volume_gone)
                    .remediation(
                        Command::aws("ec2", "modify-snapshot-tier")
                            .region(region)
                            .arg("--snapshot-id", &s.meta.id)
                            .arg("--storage-tier", "archive")
                            .note("or, if no longer needed:"),
                    )
                    .remediation(
                        Command::aws("ec2", "delete-snapshot")
                            .region(region)
                            .arg("--snapshot-id", &s.meta.id),
                    )
                    .rollback(
                        Command::aws("ec2", "restore-snapshot-tier")
                            .region(region)
                            .arg("--snapshot-id", &s.meta.id)
                            .note("a deleted snapshot cannot be restored; archive first if unsure"),
                    )
                    .savings(ctx.prices.snapshot(&s.meta.region, s.volume_size_gib)),
            )
        })
        .collect()
}

pub static SNAPSHOT_PUBLIC: Check = Check {
    id: "ebs.snapshot_public",
    title: "EBS snapshot shared publicly",
    category: Category::Security,
    severity: Severity::Critical,
    service: "ec2",
    required_actions: &["ec2:DescribeSnapshots"],
    basis: Basis::Observed,
    risk: "Anyone with an AWS account can create a volume from a public snapshot and read every byte of the disk.",
    evaluate: snapshot_public,
};

fn snapshot_public(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .snapshots
        .iter()
        .filter(|s| s.public == Some(true))
        .map(|s| {
            let permission = |operation: &str| {
                Command::aws("ec2", "modify-snapshot-attribute")
                    .region(&s.meta.region)
                    .arg("--snapshot-id", &s.meta.id)
                    .arg("--attribute", "createVolumePermission")
                    .arg("--operation-type", operation)
                    .arg("--group-names", "all")
            };
            Violation::new(
                &s.meta,
                "Anyone may create a volume from this snapshot: EC2 lists it as restorable by all",
            )
            .evidence("restorable_by", "all")
            .remediation(permission("remove"))
            .rollback(permission("add"))
        })
        .collect()
}

pub static VOLUME_UNENCRYPTED: Check = Check {
    id: "ebs.volume_unencrypted",
    title: "EBS volume not encrypted",
    category: Category::Security,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeVolumes"],
    basis: Basis::Observed,
    risk: "Unencrypted volumes, and every snapshot taken of them, hold data at rest in clear.",
    evaluate: volume_unencrypted,
};

fn volume_unencrypted(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .volumes
        .iter()
        .filter(|v| !v.encrypted)
        .map(|v| {
            let region = &v.meta.region;
            Violation::new(&v.meta, "Volume is not encrypted")
                .evidence("encrypted", v.encrypted)
                .remediation(
                    Command::aws("ec2", "create-snapshot")
                        .region(region)
                        .arg("--volume-id", &v.meta.id),
                )
                .remediation(
                    Command::aws("ec2", "copy-snapshot")
                        .region(region)
                        .arg("--source-region", region)
                        .placeholder("--source-snapshot-id", "snapshot-id")
                        .flag("--encrypted"),
                )
                .remediation(
                    Command::aws("ec2", "create-volume")
                        .region(region)
                        .placeholder("--snapshot-id", "encrypted-snapshot-id")
                        .arg_or(
                            "--availability-zone",
                            v.availability_zone.as_deref(),
                            "availability-zone",
                        )
                        .arg("--volume-type", &v.volume_type)
                        .note("then swap the attachment in a maintenance window"),
                )
                .rollback(shell::note_line(&format!(
                    "keep {} until the encrypted copy is verified; re-attach it to roll back",
                    v.meta.id
                )))
        })
        .collect()
}

pub static ENCRYPTION_BY_DEFAULT_OFF: Check = Check {
    id: "ebs.encryption_by_default_off",
    title: "EBS encryption by default is off in the region",
    category: Category::Security,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:GetEbsEncryptionByDefault"],
    basis: Basis::Observed,
    risk: "Without encryption by default every new volume is created in clear unless its creator remembers to ask.",
    evaluate: encryption_by_default_off,
};

fn encryption_by_default_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .ebs_encryption_by_default
        .iter()
        .filter(|(_, on)| !**on)
        .map(|(region, _)| {
            let meta = inv.region_setting_meta("ec2.ebs_encryption_by_default", region);
            Violation::new(
                &meta,
                format!("EBS encryption by default is off in {region}"),
            )
            .evidence("ebs_encryption_by_default", false)
            .remediation(Command::aws("ec2", "enable-ebs-encryption-by-default").region(region))
            .rollback(Command::aws("ec2", "disable-ebs-encryption-by-default").region(region))
        })
        .collect()
}

pub static VOLUME_NO_RECENT_SNAPSHOT: Check = Check {
    id: "ebs.volume_no_recent_snapshot",
    title: "EBS volume of a running instance with no snapshot in 7 days",
    category: Category::Reliability,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeInstances"],
    basis: Basis::Absence,
    risk: "A volume without a recent snapshot cannot be restored to a recent point after deletion, corruption or an AZ failure.",
    evaluate: volume_no_recent_snapshot,
};

fn volume_no_recent_snapshot(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    let since = ctx.now - Duration::days(7);
    inv.ec2
        .volumes
        .iter()
        .filter(|v| {
            v.attached_instance_ids.iter().any(|id| {
                inv.ec2
                    .instances
                    .iter()
                    .any(|i| &i.meta.id == id && i.state == "running")
            })
        })
        .filter_map(|v| {
            let latest = inv
                .ec2
                .snapshots
                .iter()
                .filter(|s| s.volume_id.as_deref() == Some(v.meta.id.as_str()))
                // Pending or failed, a snapshot is no backup yet.
                .filter(|s| s.state == "completed")
                .filter_map(|s| s.start_time)
                .max();
            if latest.is_some_and(|t| t >= since) {
                return None;
            }
            let region = &v.meta.region;
            Some(
                Violation::new(
                    &v.meta,
                    "In-use volume has no snapshot from the last 7 days",
                )
                .evidence("attached_instance_ids", &v.attached_instance_ids)
                .evidence("latest_snapshot", latest)
                .remediation(
                    Command::aws("ec2", "create-snapshot")
                        .region(region)
                        .arg("--volume-id", &v.meta.id)
                        .arg("--description", "sightline: backup")
                        .note("better: a Data Lifecycle Manager or AWS Backup policy"),
                )
                .rollback(
                    Command::aws("ec2", "delete-snapshot")
                        .region(region)
                        .placeholder("--snapshot-id", "snapshot-id created above"),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::Duration;

    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::ec2::{Instance, Snapshot, Volume};

    fn volume(id: &str, kind: &str, attached: &[&str], encrypted: bool) -> Volume {
        Volume {
            meta: meta("ec2.volume", id, "us-east-1"),
            volume_type: kind.into(),
            size_gib: 100,
            iops: None,
            throughput: None,
            encrypted,
            state: if attached.is_empty() {
                "available"
            } else {
                "in-use"
            }
            .into(),
            attached_instance_ids: attached.iter().map(|s| s.to_string()).collect(),
            availability_zone: Some("us-east-1a".into()),
            create_time: None,
        }
    }

    fn snapshot(id: &str, volume: &str, age_days: i64) -> Snapshot {
        Snapshot {
            meta: meta("ec2.snapshot", id, "us-east-1"),
            volume_id: Some(volume.into()),
            volume_size_gib: 8,
            start_time: Some(ctx().now - Duration::days(age_days)),
            encrypted: true,
            state: "completed".into(),
            public: Some(false),
        }
    }

    fn running(id: &str) -> Instance {
        Instance {
            meta: meta("ec2.instance", id, "us-east-1"),
            instance_type: "t3.micro".into(),
            state: "running".into(),
            launch_time: None,
            imds_http_tokens: Some("required".into()),
            imds_http_endpoint: Some("enabled".into()),
            image_id: None,
            vpc_id: None,
            availability_zone: None,
            volume_ids: vec![],
            security_group_ids: vec![],
            public_ip: None,
            state_since: None,
            instance_profile_arn: Some("arn:aws:iam::123456789012:instance-profile/app".into()),
        }
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut stale = inventory();
        stale.ec2.volumes = vec![volume("vol-live", "gp3", &["i-1"], true)];
        stale.ec2.snapshots = vec![snapshot("snap-old", "vol-live", 200)];
        let mut unsnapped = inventory();
        unsnapped.ec2.instances = vec![running("i-1")];
        unsnapped.ec2.volumes = vec![volume("vol-b", "gp3", &["i-1"], true)];
        unsnapped.ec2.snapshots = vec![snapshot("snap-b", "vol-b", 30)];
        vec![
            (&SNAPSHOT_STALE, stale),
            (&VOLUME_NO_RECENT_SNAPSHOT, unsnapped),
        ]
    }

    #[test]
    fn unattached_gp2_and_unencrypted_volumes_are_flagged_with_savings() {
        let mut inv = inventory();
        inv.ec2.volumes = vec![
            volume("vol-free", "gp2", &[], false),
            volume("vol-used", "gp3", &["i-1"], true),
        ];
        assert_eq!(flagged(&VOLUME_UNATTACHED, &inv), ["vol-free"]);
        assert_eq!(flagged(&VOLUME_GP2, &inv), ["vol-free"]);
        assert_eq!(flagged(&VOLUME_UNENCRYPTED, &inv), ["vol-free"]);
        let v = &(VOLUME_UNATTACHED.evaluate)(&inv, &ctx())[0];
        assert_eq!(v.savings.as_ref().unwrap().monthly_usd, 10.0);
        assert!(!v.rollback.is_empty());
    }

    #[test]
    fn the_gp3_move_gives_the_volume_what_gp2_gave_it() {
        let mut inv = inventory();
        let mut large = volume("vol-large", "gp2", &["i-1"], true);
        large.size_gib = 2000;
        inv.ec2.volumes = vec![volume("vol-small", "gp2", &["i-1"], true), large];
        let found = (VOLUME_GP2.evaluate)(&inv, &ctx());
        let modify = |id: &str| {
            found
                .iter()
                .find(|v| v.resource.id == id)
                .unwrap()
                .remediation[0]
                .clone()
        };
        assert!(
            modify("vol-small").contains("--volume-type gp3 --iops 3000 --throughput 125"),
            "{}",
            modify("vol-small")
        );
        assert!(
            modify("vol-large").contains("--volume-type gp3 --iops 6000 --throughput 250"),
            "{}",
            modify("vol-large")
        );
        let saving = |id: &str| {
            let v = found.iter().find(|v| v.resource.id == id).unwrap();
            v.savings.as_ref().unwrap().monthly_usd
        };
        assert_eq!(saving("vol-small"), 2.0);
        assert_eq!(saving("vol-large"), 20.0);
    }

    #[test]
    fn stale_snapshots_are_old_or_orphaned_but_not_when_volumes_were_unreadable() {
        let mut inv = inventory();
        inv.ec2.volumes = vec![volume("vol-live", "gp3", &["i-1"], true)];
        inv.ec2.snapshots = vec![
            snapshot("snap-old", "vol-live", 200),
            snapshot("snap-orphan", "vol-gone", 1),
            snapshot("snap-fresh", "vol-live", 1),
        ];
        assert_eq!(flagged(&SNAPSHOT_STALE, &inv), ["snap-old", "snap-orphan"]);
        inv.gaps.push(crate::CoverageGap {
            service: "ec2".into(),
            region: "us-east-1".into(),
            action: "ec2:DescribeVolumes".into(),
            kind: "AccessDenied".into(),
            error: "denied".into(),
        });
        assert_eq!(flagged(&SNAPSHOT_STALE, &inv), ["snap-old"]);
    }

    #[test]
    fn running_instance_volume_without_recent_snapshot_is_flagged() {
        let mut inv = inventory();
        inv.ec2.instances = vec![running("i-1")];
        inv.ec2.volumes = vec![
            volume("vol-a", "gp3", &["i-1"], true),
            volume("vol-b", "gp3", &["i-1"], true),
        ];
        inv.ec2.snapshots = vec![
            snapshot("snap-a", "vol-a", 2),
            snapshot("snap-b", "vol-b", 30),
        ];
        assert_eq!(flagged(&VOLUME_NO_RECENT_SNAPSHOT, &inv), ["vol-b"]);
        // A snapshot still pending, or failed, is no backup yet.
        for state in ["pending", "error"] {
            let mut unfinished = snapshot("snap-b-new", "vol-b", 1);
            unfinished.state = state.into();
            inv.ec2.snapshots.push(unfinished);
            assert_eq!(
                flagged(&VOLUME_NO_RECENT_SNAPSHOT, &inv),
                ["vol-b"],
                "{state}"
            );
            inv.ec2.snapshots.pop();
        }
    }

    #[test]
    fn public_snapshot_and_default_encryption_off_are_flagged() {
        let mut inv = inventory();
        let mut public = snapshot("snap-pub", "vol-x", 1);
        public.public = Some(true);
        let mut unknown = snapshot("snap-unknown", "vol-x", 1);
        unknown.public = None;
        inv.ec2.snapshots = vec![public, unknown, snapshot("snap-private", "vol-x", 1)];
        assert_eq!(flagged(&SNAPSHOT_PUBLIC, &inv), ["snap-pub"]);
        inv.ec2
            .ebs_encryption_by_default
            .insert("us-east-1".into(), false);
        inv.ec2
            .ebs_encryption_by_default
            .insert("eu-west-1".into(), true);
        assert_eq!(
            flagged(&ENCRYPTION_BY_DEFAULT_OFF, &inv),
            ["123456789012/us-east-1"]
        );
    }
}
