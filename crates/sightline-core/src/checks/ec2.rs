//! EC2 instance and AMI checks.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Savings, Severity, Violation};
use crate::inventory::ec2::instance_type_successors;
use crate::inventory::metrics::MetricKind;
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[
    &INSTANCE_STOPPED_WITH_VOLUMES,
    &INSTANCE_IDLE,
    &INSTANCE_PREVIOUS_GENERATION,
    &INSTANCE_IMDSV2_NOT_REQUIRED,
    &INSTANCE_NO_PROFILE,
    &AMI_UNUSED,
    &AMI_PUBLIC,
];

pub static INSTANCE_STOPPED_WITH_VOLUMES: Check = Check {
    id: "ec2.instance_stopped_with_volumes",
    title: "EC2 instance stopped for 30+ days still paying for its volumes",
    category: Category::Cost,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &["ec2:DescribeInstances", "ec2:DescribeVolumes"],
    basis: Basis::Observed,
    risk: "A stopped instance costs nothing to run, but its EBS volumes are billed every month it stays stopped.",
    evaluate: instance_stopped_with_volumes,
};

fn instance_stopped_with_volumes(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .instances
        .iter()
        .filter(|i| i.state == "stopped")
        .filter_map(|i| {
            // How long it has been stopped decides whether to suggest a
            // terminate: after 30 days. A stop EC2 gives no date for is
            // reported, with no terminate and no saving.
            let days_stopped = i.state_since.map(|since| (ctx.now - since).num_days());
            if days_stopped.is_some_and(|d| d < ctx.stopped_min_days) {
                return None;
            }
            let volumes: Vec<_> = inv
                .ec2
                .volumes
                .iter()
                .filter(|v| v.attached_instance_ids.contains(&i.meta.id))
                .collect();
            if volumes.is_empty() && i.volume_ids.is_empty() {
                return None;
            }
            let parts: Vec<Savings> = volumes
                .iter()
                .filter_map(|v| ctx.prices.ebs_volume(v))
                .collect();
            let savings = (!parts.is_empty()).then(|| Savings {
                monthly_usd: (parts.iter().map(|s| s.monthly_usd).sum::<f64>() * 100.0).round()
                    / 100.0,
                formula: parts
                    .iter()
                    .map(|s| s.formula.as_str())
                    .collect::<Vec<_>>()
                    .join(" + "),
                prices_as_of: ctx.prices.as_of.clone(),
            });
            let region = &i.meta.region;
            let volume_ids: Vec<&str> = if volumes.is_empty() {
                i.volume_ids.iter().map(String::as_str).collect()
            } else {
                volumes.iter().map(|v| v.meta.id.as_str()).collect()
            };
            let found = Violation::new(
                &i.meta,
                match days_stopped {
                    Some(days) => format!(
                        "Instance has been stopped for {days} days with {} attached volume(s)",
                        volume_ids.len()
                    ),
                    None => format!(
                        "Instance is stopped, since a date EC2 does not give, with {} attached volume(s)",
                        volume_ids.len()
                    ),
                },
            )
            .evidence("state", &i.state)
            .evidence("stopped_since", i.state_since)
            .evidence("volume_ids", &volume_ids);
            if days_stopped.is_none() {
                return Some(
                    found.remediation(
                        Command::aws("ec2", "describe-instances")
                            .region(region)
                            .arg("--instance-ids", &i.meta.id)
                            .arg("--query", "Reservations[].Instances[].StateTransitionReason")
                            .note("find out how long it has been stopped before deciding to terminate it"),
                    )
                    .rollback("# nothing to undo: the command only reads"),
                );
            }
            Some(
                found
                .remediation(
                    Command::aws("ec2", "create-image")
                        .region(region)
                        .arg("--instance-id", &i.meta.id)
                        .arg("--name", &format!("sightline-backup-{}", i.meta.id))
                        .note("keep an AMI, then:"),
                )
                .remediation(
                    Command::aws("ec2", "terminate-instances")
                        .region(region)
                        .arg("--instance-ids", &i.meta.id),
                )
                .rollback(
                    Command::aws("ec2", "run-instances")
                        .region(region)
                        .placeholder("--image-id", "ami-id from create-image")
                        .arg("--instance-type", &i.instance_type),
                )
                .savings(savings)
                .covering(volumes.iter().map(|v| v.meta.arn.clone())),
            )
        })
        .collect()
}

/// Trusted Advisor's idle rule: CPU ≤ 10% and network ≤ 5 MB on 4+ of 14 days.
pub const IDLE_CPU_PERCENT: f64 = 10.0;
pub const IDLE_NETWORK_BYTES: f64 = 5.0 * 1024.0 * 1024.0;
pub const IDLE_MIN_DAYS: usize = 4;

pub static INSTANCE_IDLE: Check = Check {
    id: "ec2.instance_idle",
    title: "Idle EC2 instance (CPU ≤ 10% and network ≤ 5 MB on 4+ of the last 14 days)",
    category: Category::Cost,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeInstances", "cloudwatch:GetMetricData"],
    basis: Basis::Absence,
    risk: "An instance that does almost nothing most days is paid for in full; stop it, schedule it or downsize it.",
    evaluate: instance_idle,
};

fn instance_idle(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .instances
        .iter()
        .filter(|i| i.state == "running")
        .filter_map(|i| {
            let cpu = inv.metrics.series(&i.meta.arn, MetricKind::Ec2CpuAverage)?;
            let net = inv
                .metrics
                .series(&i.meta.arn, MetricKind::Ec2NetworkBytes)?;
            let idle_days: Vec<_> = cpu
                .iter()
                .filter(|c| c.value <= IDLE_CPU_PERCENT)
                .filter(|c| {
                    net.iter()
                        .any(|n| n.day == c.day && n.value <= IDLE_NETWORK_BYTES)
                })
                .map(|c| c.day.date_naive())
                .collect();
            if idle_days.len() < IDLE_MIN_DAYS {
                return None;
            }
            let region = &i.meta.region;
            Some(
                Violation::new(
                    &i.meta,
                    format!(
                        "{} of the last {} days were idle",
                        idle_days.len(),
                        inv.metrics.window_days
                    ),
                )
                .evidence("idle_days", &idle_days)
                .evidence("days_with_data", cpu.len())
                .evidence("instance_type", &i.instance_type)
                .evidence(
                    "rule",
                    "daily average CPU <= 10% and NetworkIn+NetworkOut <= 5 MB",
                )
                .remediation(
                    Command::aws("ec2", "stop-instances")
                        .region(region)
                        .arg("--instance-ids", &i.meta.id),
                )
                .rollback(
                    Command::aws("ec2", "start-instances")
                        .region(region)
                        .arg("--instance-ids", &i.meta.id),
                )
                .savings(ctx.prices.ec2_instance(&i.meta.region, &i.instance_type)),
            )
        })
        .collect()
}

pub static INSTANCE_PREVIOUS_GENERATION: Check = Check {
    id: "ec2.instance_previous_generation",
    title: "EC2 instance of a previous-generation type",
    category: Category::Cost,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &["ec2:DescribeInstances", "ec2:DescribeInstanceTypes"],
    basis: Basis::Observed,
    risk: "Previous-generation types cost as much or more than current ones for less performance.",
    evaluate: instance_previous_generation,
};

/// Instances whose type EC2 itself calls previous-generation
/// (`CurrentGeneration: false`). The suggested type is the cheapest of
/// `instance_type_successors` that EC2 confirms current in the region (the
/// first confirmed one when none is priced); with none, the finding says
/// how to look one up.
fn instance_previous_generation(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .instances
        .iter()
        .filter(|i| i.state != "terminated")
        .filter(|i| {
            inv.ec2
                .current_generation(&i.meta.region, &i.instance_type)
                == Some(false)
        })
        .map(|i| {
            let region = &i.meta.region;
            let confirmed: Vec<String> = instance_type_successors(&i.instance_type)
                .into_iter()
                .filter(|t| inv.ec2.current_generation(region, t) == Some(true))
                .collect();
            let priced = |t: &String| ctx.prices.ec2_instance(region, t).map(|s| s.monthly_usd);
            let target = confirmed
                .iter()
                .filter(|t| priced(t).is_some())
                .min_by(|a, b| priced(a).partial_cmp(&priced(b)).expect("prices are numbers"))
                .or(confirmed.first());
            let found = Violation::new(
                &i.meta,
                format!(
                    "{} is a previous-generation type{}",
                    i.instance_type,
                    target.map_or(String::new(), |t| format!("; {t} is current")),
                ),
            )
            .evidence("instance_type", &i.instance_type)
            .evidence("current_generation", false)
            .evidence("suggested_type", target);
            let Some(target) = target else {
                return found
                    .remediation(
                        Command::aws("ec2", "describe-instance-types")
                            .region(region)
                            .arg("--filters", "Name=current-generation,Values=true")
                            .arg("--query", "InstanceTypes[].InstanceType")
                            .note("pick a current type of the same size and role, then stop, resize and start the instance"),
                    )
                    .rollback("# nothing to undo: the command only reads");
            };
            let savings = match (
                ctx.prices.ec2_instance(region, &i.instance_type),
                ctx.prices.ec2_instance(region, target),
            ) {
                (Some(old), Some(new)) if old.monthly_usd > new.monthly_usd => Some(Savings {
                    monthly_usd: ((old.monthly_usd - new.monthly_usd) * 100.0).round() / 100.0,
                    formula: format!("({}) − ({})", old.formula, new.formula),
                    prices_as_of: old.prices_as_of,
                }),
                _ => None,
            };
            let stop = || {
                Command::aws("ec2", "stop-instances")
                    .region(region)
                    .arg("--instance-ids", &i.meta.id)
            };
            let start = || {
                Command::aws("ec2", "start-instances")
                    .region(region)
                    .arg("--instance-ids", &i.meta.id)
            };
            let resize = |to: &str| {
                Command::aws("ec2", "modify-instance-attribute")
                    .region(region)
                    .arg("--instance-id", &i.meta.id)
                    .arg("--instance-type", &format!("Value={to}"))
            };
            found
                .remediation(stop())
                .remediation(resize(target).note(
                    "current types run on Nitro: the AMI needs ENA and NVMe drivers (paravirtual AMIs cannot move); check before stopping",
                ))
                .remediation(start())
                .rollback(stop().and_then(resize(&i.instance_type)).and_then(start()))
                .savings(savings)
        })
        .collect()
}

pub static INSTANCE_IMDSV2_NOT_REQUIRED: Check = Check {
    id: "ec2.instance_imdsv2_not_required",
    title: "EC2 instance does not require IMDSv2",
    category: Category::Security,
    severity: Severity::High,
    service: "ec2",
    required_actions: &["ec2:DescribeInstances"],
    basis: Basis::Observed,
    risk: "IMDSv1 answers plain GETs, so a server-side request forgery can steal the instance role's credentials.",
    evaluate: instance_imdsv2_not_required,
};

fn instance_imdsv2_not_required(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .instances
        .iter()
        .filter(|i| i.state != "terminated")
        .filter(|i| i.imds_http_endpoint.as_deref() != Some("disabled"))
        .filter(|i| {
            i.imds_http_tokens
                .as_deref()
                .is_some_and(|t| t != "required")
        })
        .map(|i| {
            let options = || {
                Command::aws("ec2", "modify-instance-metadata-options")
                    .region(&i.meta.region)
                    .arg("--instance-id", &i.meta.id)
            };
            Violation::new(&i.meta, "Instance metadata accepts IMDSv1 requests")
                .evidence("http_tokens", &i.imds_http_tokens)
                .evidence("http_endpoint", &i.imds_http_endpoint)
                .remediation(
                    options()
                        .arg("--http-tokens", "required")
                        .arg("--http-endpoint", "enabled"),
                )
                .rollback(options().arg("--http-tokens", "optional"))
        })
        .collect()
}

pub static INSTANCE_NO_PROFILE: Check = Check {
    id: "ec2.instance_no_profile",
    title: "EC2 instance without an instance role",
    category: Category::Security,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &["ec2:DescribeInstances"],
    basis: Basis::Observed,
    risk: "Software on an instance with no role that calls AWS does so with long-lived keys stored on the box.",
    evaluate: instance_no_profile,
};

fn instance_no_profile(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .instances
        .iter()
        .filter(|i| !matches!(i.state.as_str(), "terminated" | "shutting-down"))
        .filter(|i| i.instance_profile_arn.is_none())
        .map(|i| {
            Violation::new(&i.meta, "The instance has no IAM instance profile")
                .evidence("instance_profile_arn", serde_json::Value::Null)
                .evidence("state", &i.state)
                .remediation(
                    Command::aws("ec2", "associate-iam-instance-profile")
                        .region(&i.meta.region)
                        .arg("--instance-id", &i.meta.id)
                        .placeholder(
                            "--iam-instance-profile",
                            "Name=profile-with-the-role-it-needs",
                        ),
                )
                .rollback(
                    Command::aws("ec2", "describe-iam-instance-profile-associations")
                        .region(&i.meta.region)
                        .arg(
                            "--filters",
                            &format!("Name=instance-id,Values={}", i.meta.id),
                        )
                        .note("find the association id"),
                )
                .rollback(
                    Command::aws("ec2", "disassociate-iam-instance-profile")
                        .region(&i.meta.region)
                        .placeholder("--association-id", "association-id"),
                )
        })
        .collect()
}

pub static AMI_UNUSED: Check = Check {
    id: "ec2.ami_unused",
    title: "Self-owned AMI not used by any instance",
    category: Category::Cost,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &[
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
    ],
    basis: Basis::Absence,
    risk: "An unused AMI keeps its backing snapshots, and their storage charges, alive. Launch templates and launch configurations are not read (they carry user data): check them before deregistering.",
    evaluate: ami_unused,
};

fn ami_unused(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .images
        .iter()
        .filter(|image| !inv.missing("ec2:DescribeInstances", &image.meta.region))
        .filter(|image| {
            !inv.ec2
                .instances
                .iter()
                .any(|i| i.image_id.as_deref() == Some(image.meta.id.as_str()))
        })
        .map(|image| {
            let region = &image.meta.region;
            let id = &image.meta.id;
            // Launch templates and Auto Scaling launch configurations name
            // AMIs beside user data, so the monitoring role may not read
            // them (the data-plane deny): whether one of them still uses this
            // AMI is unknown. No deregistration, snapshot deletion or saving
            // is offered; the commands let someone who may read them look.
            Violation::new(
                &image.meta,
                "No instance in the region was launched from this AMI; launch templates and launch \
                 configurations were not read (they carry user data), so check them before deregistering it",
            )
            .evidence("snapshot_ids", &image.snapshot_ids)
            .evidence("creation_date", image.creation_date)
            .remediation(
                Command::aws("ec2", "describe-launch-template-versions")
                    .region(region)
                    .arg("--versions", "$Latest")
                    .arg(
                        "--query",
                        &format!("LaunchTemplateVersions[?LaunchTemplateData.ImageId=='{id}'].LaunchTemplateName"),
                    )
                    .placeholder("--launch-template-name", "each launch template")
                    .note("any name printed still uses the AMI"),
            )
            .remediation(
                Command::aws("autoscaling", "describe-launch-configurations")
                    .region(region)
                    .arg(
                        "--query",
                        &format!("LaunchConfigurations[?ImageId=='{id}'].LaunchConfigurationName"),
                    )
                    .note("then deregister the AMI and its snapshots only if nothing uses it"),
            )
            .rollback("# nothing to undo: these commands only read")
        })
        .collect()
}

pub static AMI_PUBLIC: Check = Check {
    id: "ec2.ami_public",
    title: "Self-owned AMI shared publicly",
    category: Category::Security,
    severity: Severity::Critical,
    service: "ec2",
    required_actions: &["ec2:DescribeImages"],
    basis: Basis::Observed,
    risk: "Anyone can launch a public AMI and read the disks it was built from, secrets included.",
    evaluate: ami_public,
};

fn ami_public(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .images
        .iter()
        .filter(|image| image.public)
        .map(|image| {
            let permission = |change: &str| {
                Command::aws("ec2", "modify-image-attribute")
                    .region(&image.meta.region)
                    .arg("--image-id", &image.meta.id)
                    .arg("--launch-permission", change)
            };
            Violation::new(
                &image.meta,
                "AMI launch permission includes the group 'all'",
            )
            .evidence("public", true)
            .remediation(permission("Remove=[{Group=all}]"))
            .rollback(permission("Add=[{Group=all}]"))
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::checks::test_support::{arn, ctx, flagged, inventory, meta};
    use crate::inventory::ec2::{Image, Instance};

    fn instance(id: &str, kind: &str, state: &str, tokens: &str) -> Instance {
        Instance {
            meta: meta("ec2.instance", id, "us-east-1"),
            instance_type: kind.into(),
            state: state.into(),
            launch_time: None,
            imds_http_tokens: Some(tokens.into()),
            imds_http_endpoint: Some("enabled".into()),
            image_id: Some("ami-used".into()),
            vpc_id: None,
            availability_zone: None,
            volume_ids: vec!["vol-1".into()],
            security_group_ids: vec![],
            public_ip: None,
            state_since: None,
            instance_profile_arn: Some("arn:aws:iam::123456789012:instance-profile/app".into()),
        }
    }

    /// An instance stopped 45 days ago, which the stopped check flags.
    pub(in crate::checks) fn stopped_long_ago() -> Vec<(&'static Check, Inventory)> {
        let mut inv = inventory();
        let mut i = instance("i-forgotten", "t3.micro", "stopped", "required");
        i.state_since = Some(ctx().now - chrono::Duration::days(45));
        inv.ec2.instances = vec![i];
        vec![(&INSTANCE_STOPPED_WITH_VOLUMES, inv)]
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut idle = inventory();
        idle.ec2.instances = vec![instance("i-idle", "t3.micro", "running", "required")];
        for d in 1..=14 {
            let day = ctx().day_start_days_ago(d);
            idle.metrics
                .add(&arn("i-idle"), MetricKind::Ec2CpuAverage, day, 2.0);
            idle.metrics
                .add(&arn("i-idle"), MetricKind::Ec2NetworkBytes, day, 1e3);
        }
        let mut spare = inventory();
        spare.ec2.instances = vec![instance("i-1", "t3.micro", "running", "required")];
        spare.ec2.images = vec![Image {
            meta: meta("ec2.image", "ami-spare", "us-east-1"),
            public: false,
            state: Some("available".into()),
            creation_date: None,
            snapshot_ids: vec![],
        }];
        vec![(&INSTANCE_IDLE, idle), (&AMI_UNUSED, spare)]
    }

    #[test]
    fn idle_needs_four_quiet_days_of_both_cpu_and_network() {
        let mut inv = inventory();
        inv.ec2.instances = vec![
            instance("i-idle", "t3.micro", "running", "required"),
            instance("i-busy", "t3.micro", "running", "required"),
        ];
        for d in 1..=14 {
            let day = ctx().day_start_days_ago(d);
            inv.metrics
                .add(&arn("i-idle"), MetricKind::Ec2CpuAverage, day, 2.0);
            inv.metrics.add(
                &arn("i-idle"),
                MetricKind::Ec2NetworkBytes,
                day,
                if d <= 4 { 1e6 } else { 1e9 },
            );
            inv.metrics.add(
                &arn("i-busy"),
                MetricKind::Ec2CpuAverage,
                day,
                if d <= 3 { 1.0 } else { 60.0 },
            );
            inv.metrics
                .add(&arn("i-busy"), MetricKind::Ec2NetworkBytes, day, 1e6);
        }
        assert_eq!(flagged(&INSTANCE_IDLE, &inv), ["i-idle"]);
        let v = &(INSTANCE_IDLE.evaluate)(&inv, &ctx())[0];
        assert_eq!(v.savings.as_ref().unwrap().monthly_usd, 7.59);
    }

    #[test]
    fn no_metrics_means_not_idle() {
        let mut inv = inventory();
        inv.ec2.instances = vec![instance("i-new", "t3.micro", "running", "required")];
        assert!(flagged(&INSTANCE_IDLE, &inv).is_empty());
    }

    #[test]
    fn previous_generation_imds_and_stopped_instances_are_flagged() {
        let mut inv = inventory();
        inv.ec2.instances = vec![
            instance("i-old", "m4.large", "running", "required"),
            instance("i-v1", "t3.micro", "running", "optional"),
            instance("i-stopped", "t3.micro", "stopped", "required"),
        ];
        generations(&mut inv, &[("m4.large", false), ("t3.micro", true)]);
        assert_eq!(flagged(&INSTANCE_PREVIOUS_GENERATION, &inv), ["i-old"]);
        assert_eq!(flagged(&INSTANCE_IMDSV2_NOT_REQUIRED, &inv), ["i-v1"]);
        // Stopped long enough ago to be forgotten, not merely stopped today.
        inv.ec2.instances[2].state_since = Some(ctx().now - chrono::Duration::days(45));
        assert_eq!(flagged(&INSTANCE_STOPPED_WITH_VOLUMES, &inv), ["i-stopped"]);
    }

    fn generations(inv: &mut Inventory, types: &[(&str, bool)]) {
        inv.ec2.instance_generations.insert(
            "us-east-1".into(),
            types.iter().map(|(t, c)| (t.to_string(), *c)).collect(),
        );
    }

    /// EC2's own `CurrentGeneration` decides, not a list of ours: a type
    /// EC2 calls current is not flagged whatever its age, and a type it
    /// was not asked about is not judged.
    #[test]
    fn previous_generation_is_what_ec2_says_and_the_suggestion_is_a_type_it_calls_current() {
        let mut inv = inventory();
        inv.ec2.instances = vec![
            instance("i-m4", "m4.large", "running", "required"),
            instance("i-m5", "m5.large", "running", "required"),
            instance("i-t2", "t2.micro", "running", "required"),
            instance("i-unread", "c4.large", "running", "required"),
        ];
        generations(
            &mut inv,
            &[
                ("m4.large", false),
                ("m5.large", false),
                ("m6i.large", true),
                ("m7i.large", true),
                ("t2.micro", true),
            ],
        );
        assert_eq!(
            flagged(&INSTANCE_PREVIOUS_GENERATION, &inv),
            ["i-m4", "i-m5"]
        );
        let found = (INSTANCE_PREVIOUS_GENERATION.evaluate)(&inv, &ctx());
        // m5 is not current here, so m4 goes to the cheaper of m6i and m7i.
        let m4 = found.iter().find(|v| v.resource.id == "i-m4").unwrap();
        assert_eq!(m4.evidence["suggested_type"], "m6i.large");
        assert!(
            m4.remediation[1].contains("Value=m6i.large"),
            "{:?}",
            m4.remediation
        );
        // ($0.1 − $0.096) × 730 hours.
        assert_eq!(m4.savings.as_ref().unwrap().monthly_usd, 2.92);
        let m5 = found.iter().find(|v| v.resource.id == "i-m5").unwrap();
        assert_eq!(m5.evidence["suggested_type"], "m6i.large");
        // Same price: a move, but no saving claimed.
        assert_eq!(m5.savings, None);
    }

    #[test]
    fn with_no_confirmed_successor_the_finding_tells_how_to_find_one() {
        let mut inv = inventory();
        inv.ec2.instances = vec![instance("i-m4", "m4.large", "running", "required")];
        generations(&mut inv, &[("m4.large", false), ("m5.large", false)]);
        let found = (INSTANCE_PREVIOUS_GENERATION.evaluate)(&inv, &ctx());
        assert_eq!(found.len(), 1);
        let v = &found[0];
        assert_eq!(v.evidence["suggested_type"], serde_json::Value::Null);
        assert!(
            v.remediation[0].contains("describe-instance-types"),
            "{:?}",
            v.remediation
        );
        assert!(!v
            .remediation
            .iter()
            .any(|c| c.contains("modify-instance-attribute")));
        assert_eq!(v.savings, None);
    }

    /// A terminate is suggested only after 30 days stopped; a stop of
    /// unknown date is reported with no terminate and no saving.
    #[test]
    fn a_stopped_instance_is_flagged_only_after_thirty_days_stopped() {
        let mut inv = inventory();
        let stopped = |id: &str, days: Option<i64>| {
            let mut i = instance(id, "t3.micro", "stopped", "required");
            i.state_since = days.map(|d| ctx().now - chrono::Duration::days(d));
            i
        };
        inv.ec2.instances = vec![
            stopped("i-today", Some(0)),
            stopped("i-29-days", Some(29)),
            stopped("i-31-days", Some(31)),
            stopped("i-unknown", None),
        ];
        assert_eq!(
            flagged(&INSTANCE_STOPPED_WITH_VOLUMES, &inv),
            ["i-31-days", "i-unknown"]
        );
        let found = (INSTANCE_STOPPED_WITH_VOLUMES.evaluate)(&inv, &ctx());
        // Of unknown date: reported, with no terminate and no saving.
        let unknown = found.iter().find(|v| v.resource.id == "i-unknown").unwrap();
        assert!(unknown.savings.is_none());
        assert!(!unknown.rollback.is_empty(), "every finding has a rollback");
        assert!(
            unknown
                .remediation
                .iter()
                .all(|c| !c.contains("terminate-instances")),
            "{:?}",
            unknown.remediation
        );
        let v = found.iter().find(|v| v.resource.id == "i-31-days").unwrap();
        assert!(v
            .remediation
            .iter()
            .any(|c| c.contains("terminate-instances")));
        assert!(
            !v.evidence.contains_key("days_stopped"),
            "a count of days would change every day"
        );
        assert!(v.message.contains("stopped for 31 days"), "{}", v.message);
    }

    #[test]
    fn unused_and_public_amis_are_flagged() {
        let mut inv = inventory();
        inv.ec2.instances = vec![instance("i-1", "t3.micro", "running", "required")];
        let image = |id: &str, public: bool| Image {
            meta: meta("ec2.image", id, "us-east-1"),
            public,
            state: Some("available".into()),
            creation_date: None,
            snapshot_ids: vec![],
        };
        inv.ec2.images = vec![image("ami-used", false), image("ami-spare", true)];
        assert_eq!(flagged(&AMI_UNUSED, &inv), ["ami-spare"]);
        assert_eq!(flagged(&AMI_PUBLIC, &inv), ["ami-spare"]);
        // Launch templates and launch configurations carry user data, so
        // Sightline never reads them: their use of the AMI is unknown, and
        // no deregistration, snapshot deletion or saving is offered.
        let v = &(AMI_UNUSED.evaluate)(&inv, &ctx())[0];
        assert!(
            v.remediation
                .iter()
                .all(|c| !c.contains("deregister-image") && !c.contains("delete-snapshot")),
            "{:?}",
            v.remediation
        );
        assert!(v
            .remediation
            .iter()
            .any(|c| c.contains("describe-launch-template-versions")));
        assert!(v.savings.is_none());
        assert!(v.message.contains("launch templates"), "{}", v.message);
        assert!(!v.rollback.is_empty());
    }

    #[test]
    fn an_instance_without_a_role_is_flagged_unless_it_is_going_away() {
        let mut inv = inventory();
        let mut bare = instance("i-bare", "t3.micro", "running", "required");
        bare.instance_profile_arn = None;
        let mut bare_stopped = instance("i-bare-stopped", "t3.micro", "stopped", "required");
        bare_stopped.instance_profile_arn = None;
        let mut gone = instance("i-gone", "t3.micro", "terminated", "required");
        gone.instance_profile_arn = None;
        inv.ec2.instances = vec![
            instance("i-with-role", "t3.micro", "running", "required"),
            bare,
            bare_stopped,
            gone,
        ];
        assert_eq!(
            flagged(&INSTANCE_NO_PROFILE, &inv),
            ["i-bare", "i-bare-stopped"]
        );
        let v = instance_no_profile(&inv, &ctx());
        assert_eq!(
            v[0].remediation,
            ["aws ec2 associate-iam-instance-profile --region us-east-1 --instance-id i-bare --iam-instance-profile '<Name=profile-with-the-role-it-needs>'"]
        );
    }
}
