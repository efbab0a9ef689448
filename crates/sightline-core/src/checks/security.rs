//! The account's own security services, region by region: IAM Access
//! Analyzer, AWS Config, Security Hub and GuardDuty. A region whose answer
//! could not be read is a gap (the check says "not evaluated" there), never
//! "off".

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::security::RegionSecurity;
use crate::inventory::{Inventory, ResourceMeta};
use crate::shell::{note_line, Command};

pub const CHECKS: &[&Check] = &[
    &ACCESS_ANALYZER_OFF,
    &CONFIG_OFF,
    &SECURITY_HUB_OFF,
    &GUARDDUTY_OFF,
];

/// The per-region setting a finding is about: the account in that region,
/// named after the service's own resource there.
fn setting(
    inv: &Inventory,
    kind: &str,
    service: &str,
    resource: &str,
    region: &str,
) -> ResourceMeta {
    ResourceMeta::new(
        kind,
        &format!("{}/{region}", inv.account_id),
        &format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            inv.partition, inv.account_id
        ),
        region,
    )
}

pub static ACCESS_ANALYZER_OFF: Check = Check {
    id: "security.access_analyzer_off",
    title: "IAM Access Analyzer not enabled in a region",
    category: Category::Security,
    severity: Severity::Medium,
    service: "security",
    required_actions: &["access-analyzer:ListAnalyzers"],
    basis: Basis::Observed,
    risk: "Without an external-access analyzer, a bucket, key or role opened to another account or to everyone is found by whoever uses it first.",
    evaluate: access_analyzer_off,
};

fn access_analyzer_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    regions(inv)
        .filter_map(|r| {
            let analyzers = r.analyzers.as_ref()?;
            if analyzers.iter().any(|a| a.watches_external_access()) {
                return None;
            }
            let region = &r.region;
            Some(
                Violation::new(
                    &setting(inv, "security.access_analyzer", "access-analyzer", "analyzer", region),
                    format!("No active external-access analyzer in {region}"),
                )
                .evidence("analyzers", analyzers)
                .remediation(
                    Command::aws("accessanalyzer", "create-analyzer")
                        .region(region)
                        .arg("--analyzer-name", "sightline-external-access")
                        .arg("--type", "ACCOUNT")
                        .note("ORGANIZATION instead, from the organization's delegated administrator, covers every member"),
                )
                .rollback(
                    Command::aws("accessanalyzer", "delete-analyzer")
                        .region(region)
                        .arg("--analyzer-name", "sightline-external-access"),
                ),
            )
        })
        .collect()
}

pub static CONFIG_OFF: Check = Check {
    id: "security.config_off",
    title: "AWS Config not recording every resource in a region",
    category: Category::Security,
    severity: Severity::Medium,
    service: "security",
    required_actions: &[
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
    ],
    basis: Basis::Observed,
    risk: "Without a recorder of every resource type, nobody can say what a resource looked like before an incident, or who changed it.",
    evaluate: config_off,
};

fn config_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    regions(inv)
        .filter_map(|r| {
            let recorders = r.config_recorders.as_ref()?;
            if recorders.iter().any(|c| c.records_everything()) {
                return None;
            }
            let region = &r.region;
            let meta = setting(inv, "security.config_recorder", "config", "config-recorder", region);
            let v = Violation::new(
                &meta,
                match recorders.first() {
                    None => format!("No AWS Config recorder in {region}"),
                    Some(c) if !c.all_supported => format!(
                        "The AWS Config recorder {} in {region} records only some resource types",
                        c.name
                    ),
                    Some(c) => format!(
                        "The AWS Config recorder {} in {region} is not recording{}",
                        c.name,
                        match c.last_status.as_deref() {
                            Some("FAILURE") => " (its last delivery failed)",
                            _ => "",
                        }
                    ),
                },
            )
            .evidence("recorders", recorders);
            let configservice = |op: &'static str| Command::aws("configservice", op).region(region);
            Some(match recorders.first() {
                // Stopped, with every type: start it.
                Some(c) if c.all_supported && c.recording != Some(true) => v
                    .remediation(
                        configservice("start-configuration-recorder")
                            .arg("--configuration-recorder-name", &c.name)
                            .note("it needs a delivery channel; describe-delivery-channels shows it"),
                    )
                    .rollback(
                        configservice("stop-configuration-recorder")
                            .arg("--configuration-recorder-name", &c.name),
                    ),
                Some(c) => v
                    .remediation(
                        configservice("put-configuration-recorder")
                            .arg(
                                "--configuration-recorder",
                                &format!("name={},roleARN=<the-recorder's-role-arn>", c.name),
                            )
                            .arg("--recording-group", "allSupported=true,includeGlobalResourceTypes=true")
                            .note("keep includeGlobalResourceTypes=true in one region only"),
                    )
                    .rollback(note_line(&format!(
                        "restore the recorder's recording group as describe-configuration-recorders showed it before ({} resource types)",
                        if c.all_supported { "all" } else { "some" }
                    ))),
                None => v
                    .remediation(
                        configservice("put-configuration-recorder")
                            .placeholder("--configuration-recorder", "name=default,roleARN=arn-of-the-AWSServiceRoleForConfig-role")
                            .arg("--recording-group", "allSupported=true,includeGlobalResourceTypes=true")
                            .note("keep includeGlobalResourceTypes=true in one region only"),
                    )
                    .remediation(
                        configservice("put-delivery-channel")
                            .placeholder("--delivery-channel", "name=default,s3BucketName=config-bucket"),
                    )
                    .remediation(
                        configservice("start-configuration-recorder")
                            .arg("--configuration-recorder-name", "default"),
                    )
                    .rollback(
                        configservice("stop-configuration-recorder")
                            .arg("--configuration-recorder-name", "default"),
                    )
                    .rollback(
                        configservice("delete-delivery-channel")
                            .arg("--delivery-channel-name", "default"),
                    )
                    .rollback(
                        configservice("delete-configuration-recorder")
                            .arg("--configuration-recorder-name", "default"),
                    ),
            })
        })
        .collect()
}

pub static SECURITY_HUB_OFF: Check = Check {
    id: "security.security_hub_off",
    title: "Security Hub not enabled in a region",
    category: Category::Security,
    severity: Severity::Medium,
    service: "security",
    required_actions: &["securityhub:DescribeHub"],
    basis: Basis::Observed,
    risk: "Without Security Hub the findings of GuardDuty, Inspector, Macie and Config rules stay scattered per service and per region.",
    evaluate: security_hub_off,
};

fn security_hub_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    regions(inv)
        .filter(|r| r.security_hub == Some(false))
        .map(|r| {
            let region = &r.region;
            Violation::new(
                &setting(
                    inv,
                    "security.security_hub",
                    "securityhub",
                    "hub/default",
                    region,
                ),
                format!("The account is not subscribed to Security Hub in {region}"),
            )
            .evidence("subscribed", false)
            .remediation(
                Command::aws("securityhub", "enable-security-hub")
                    .region(region)
                    .flag("--enable-default-standards")
                    .note("Security Hub is billed per check and per finding ingested"),
            )
            .rollback(Command::aws("securityhub", "disable-security-hub").region(region))
        })
        .collect()
}

pub static GUARDDUTY_OFF: Check = Check {
    id: "security.guardduty_off",
    title: "GuardDuty not enabled in a region",
    category: Category::Security,
    severity: Severity::Medium,
    service: "security",
    required_actions: &["guardduty:ListDetectors", "guardduty:GetDetector"],
    basis: Basis::Observed,
    risk: "GuardDuty is what notices stolen credentials used from a strange place, crypto-mining, or an instance talking to a known command server; a region without it is a region nobody watches.",
    evaluate: guardduty_off,
};

fn guardduty_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    regions(inv)
        .filter_map(|r| {
            let detectors = r.guardduty_detectors.as_ref()?;
            if detectors
                .iter()
                .any(|d| d.status.as_deref() != Some("DISABLED"))
            {
                // Enabled, or a status that could not be read (a gap).
                return None;
            }
            let region = &r.region;
            let v = Violation::new(
                &setting(inv, "security.guardduty", "guardduty", "detector", region),
                match detectors.first() {
                    None => format!("No GuardDuty detector in {region}"),
                    Some(d) => format!("The GuardDuty detector {} in {region} is disabled", d.id),
                },
            )
            .evidence("detectors", detectors);
            Some(match detectors.first() {
                Some(d) => v
                    .remediation(
                        Command::aws("guardduty", "update-detector")
                            .region(region)
                            .arg("--detector-id", &d.id)
                            .flag("--enable"),
                    )
                    .rollback(
                        Command::aws("guardduty", "update-detector")
                            .region(region)
                            .arg("--detector-id", &d.id)
                            .flag("--no-enable"),
                    ),
                None => v
                    .remediation(
                        Command::aws("guardduty", "create-detector")
                            .region(region)
                            .flag("--enable")
                            .note(
                                "GuardDuty is billed by the volume of events and logs it analyses",
                            ),
                    )
                    .rollback(
                        Command::aws("guardduty", "delete-detector")
                            .region(region)
                            .placeholder("--detector-id", "the-id-create-detector-returned"),
                    ),
            })
        })
        .collect()
}

fn regions(inv: &Inventory) -> impl Iterator<Item = &RegionSecurity> {
    inv.security.regions.iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory};
    use crate::inventory::security::{Analyzer, ConfigRecorder, Detector};

    fn region(name: &str) -> RegionSecurity {
        RegionSecurity {
            region: name.into(),
            ..RegionSecurity::default()
        }
    }

    fn analyzer(kind: &str, status: &str) -> Analyzer {
        Analyzer {
            name: format!("{kind}-{status}"),
            kind: kind.into(),
            status: status.into(),
        }
    }

    #[test]
    fn access_analyzer_needs_an_active_external_access_analyzer_per_region() {
        let mut inv = inventory();
        inv.security.regions = vec![
            RegionSecurity {
                analyzers: Some(vec![analyzer("ACCOUNT", "ACTIVE")]),
                ..region("us-east-1")
            },
            RegionSecurity {
                analyzers: Some(vec![analyzer("ORGANIZATION", "ACTIVE")]),
                ..region("us-east-2")
            },
            // An unused-access analyzer finds something else.
            RegionSecurity {
                analyzers: Some(vec![analyzer("ACCOUNT_UNUSED_ACCESS", "ACTIVE")]),
                ..region("eu-west-1")
            },
            RegionSecurity {
                analyzers: Some(vec![analyzer("ACCOUNT", "DISABLED")]),
                ..region("eu-west-2")
            },
            RegionSecurity {
                analyzers: Some(Vec::new()),
                ..region("ap-south-1")
            },
            // Could not be read: a gap, not "off".
            region("sa-east-1"),
        ];
        assert_eq!(
            flagged(&ACCESS_ANALYZER_OFF, &inv),
            [
                "123456789012/ap-south-1",
                "123456789012/eu-west-1",
                "123456789012/eu-west-2"
            ]
        );
    }

    fn recorder(all: bool, recording: Option<bool>, status: Option<&str>) -> ConfigRecorder {
        ConfigRecorder {
            name: "default".into(),
            all_supported: all,
            include_global: true,
            recording,
            last_status: status.map(Into::into),
        }
    }

    #[test]
    fn config_must_record_every_resource_type_and_be_recording() {
        let mut inv = inventory();
        inv.security.regions = vec![
            RegionSecurity {
                config_recorders: Some(vec![recorder(true, Some(true), Some("SUCCESS"))]),
                ..region("us-east-1")
            },
            RegionSecurity {
                config_recorders: Some(vec![recorder(true, Some(false), None)]),
                ..region("us-east-2")
            },
            RegionSecurity {
                config_recorders: Some(vec![recorder(false, Some(true), Some("SUCCESS"))]),
                ..region("eu-west-1")
            },
            RegionSecurity {
                config_recorders: Some(vec![recorder(true, Some(true), Some("FAILURE"))]),
                ..region("eu-west-2")
            },
            RegionSecurity {
                config_recorders: Some(Vec::new()),
                ..region("ap-south-1")
            },
            region("sa-east-1"),
        ];
        let found: Vec<String> = config_off(&inv, &ctx())
            .into_iter()
            .map(|v| v.message)
            .collect();
        assert_eq!(
            found,
            [
                "The AWS Config recorder default in us-east-2 is not recording",
                "The AWS Config recorder default in eu-west-1 records only some resource types",
                "The AWS Config recorder default in eu-west-2 is not recording (its last delivery failed)",
                "No AWS Config recorder in ap-south-1",
            ]
        );
        let stopped = &config_off(&inv, &ctx())[0];
        assert_eq!(
            stopped.remediation,
            ["aws configservice start-configuration-recorder --region us-east-2 --configuration-recorder-name default  # it needs a delivery channel; describe-delivery-channels shows it"]
        );
    }

    #[test]
    fn security_hub_and_guardduty_are_off_only_when_aws_says_so() {
        let mut inv = inventory();
        let detector = |status: Option<&str>| Detector {
            id: "d-1".into(),
            status: status.map(Into::into),
        };
        inv.security.regions = vec![
            RegionSecurity {
                security_hub: Some(true),
                guardduty_detectors: Some(vec![detector(Some("ENABLED"))]),
                ..region("us-east-1")
            },
            RegionSecurity {
                security_hub: Some(false),
                guardduty_detectors: Some(vec![detector(Some("DISABLED"))]),
                ..region("eu-west-1")
            },
            RegionSecurity {
                security_hub: None,
                guardduty_detectors: Some(Vec::new()),
                ..region("ap-south-1")
            },
            // A detector whose status could not be read may be enabled.
            RegionSecurity {
                guardduty_detectors: Some(vec![detector(None)]),
                ..region("sa-east-1")
            },
        ];
        assert_eq!(flagged(&SECURITY_HUB_OFF, &inv), ["123456789012/eu-west-1"]);
        assert_eq!(
            flagged(&GUARDDUTY_OFF, &inv),
            ["123456789012/ap-south-1", "123456789012/eu-west-1"]
        );
        let v = guardduty_off(&inv, &ctx());
        assert_eq!(
            v[0].remediation,
            ["aws guardduty update-detector --region eu-west-1 --detector-id d-1 --enable"]
        );
    }
}
