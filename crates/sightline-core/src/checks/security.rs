//! The account's own security services, region by region: IAM Access
//! Analyzer, AWS Config, Security Hub and GuardDuty. A region whose answer
//! could not be read is a gap (the check says "not evaluated" there), never
//! "off".

use super::{setting, Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::security::{ConfigRecorder, RegionSecurity};
use crate::inventory::Inventory;
use crate::shell::{note_line, Command};

pub const CHECKS: &[&Check] = &[
    &ACCESS_ANALYZER_OFF,
    &CONFIG_OFF,
    &SECURITY_HUB_OFF,
    &GUARDDUTY_OFF,
];

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
                    format!(
                        "No active external-access analyzer in {region} (an organization's analyzer shows only in its delegated administrator account: if one covers this account, this finding is answered there)"
                    ),
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

/// `--recording-group` as the recorder has it.
fn recording_group(c: &ConfigRecorder, all_supported: bool, include_global: bool) -> String {
    if all_supported {
        format!("allSupported=true,includeGlobalResourceTypes={include_global}")
    } else {
        format!(
            "allSupported=false,includeGlobalResourceTypes={include_global},resourceTypes={}",
            c.resource_types.join(",")
        )
    }
}

fn config_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let mut out: Vec<Violation> = regions(inv)
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
                    Some(c) if c.recording == Some(true) => format!(
                        "The AWS Config recorder {} in {region} is recording, but its last recording failed{}",
                        c.name,
                        c.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                    ),
                    Some(c) => format!("The AWS Config recorder {} in {region} is not recording", c.name),
                },
            )
            .evidence("recorders", recorders);
            let configservice = |op: &'static str| Command::aws("configservice", op).region(region);
            Some(match recorders.first() {
                // Recording every type, but failing: the role or the bucket.
                Some(c) if c.all_supported && c.recording == Some(true) => v
                    .remediation(note_line(&format!(
                        "check that the recorder's role ({}) may read the resources and that the delivery channel's bucket policy lets it write: aws configservice describe-configuration-recorder-status --region {region} shows the error",
                        c.role_arn.as_deref().unwrap_or("none set")
                    )))
                    .rollback(note_line("nothing was changed here")),
                // Stopped, with every type: start it.
                Some(c) if c.all_supported => v
                    .remediation(
                        configservice("start-configuration-recorder")
                            .arg("--configuration-recorder-name", &c.name)
                            .note("it needs a delivery channel; describe-delivery-channels shows it"),
                    )
                    .rollback(
                        configservice("stop-configuration-recorder")
                            .arg("--configuration-recorder-name", &c.name),
                    ),
                // Some types only: record all, with the role it has.
                Some(c) => {
                    let put = |group: String| {
                        configservice("put-configuration-recorder")
                            .arg_or(
                                "--configuration-recorder",
                                c.role_arn
                                    .as_deref()
                                    .map(|role| format!("name={},roleARN={role}", c.name))
                                    .as_deref(),
                                "name-and-roleARN-of-the-recorder",
                            )
                            .arg("--recording-group", &group)
                    };
                    v.remediation(
                        put(recording_group(c, true, c.include_global))
                            .note("a recording mode (daily overrides) is not carried over: describe-configuration-recorders shows it"),
                    )
                    .rollback(put(recording_group(c, false, c.include_global)))
                }
                None => v
                    .remediation(
                        configservice("put-configuration-recorder")
                            .placeholder("--configuration-recorder", "name=default,roleARN=arn-of-the-AWSServiceRoleForConfig-role")
                            .arg("--recording-group", "allSupported=true,includeGlobalResourceTypes=false")
                            .note("set includeGlobalResourceTypes=true in the one region that records IAM"),
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
        .collect();
    // Global resource types (IAM) are recorded once, in one region: if every
    // region was read and none records them, the account's IAM history is
    // nowhere.
    let read: Vec<&RegionSecurity> = regions(inv).collect();
    if !read.is_empty()
        && read.iter().all(|r| r.config_recorders.is_some())
        && !read.iter().any(|r| {
            r.config_recorders
                .iter()
                .flatten()
                .any(|c| c.records_everything() && c.include_global)
        })
        && read.iter().any(|r| {
            r.config_recorders
                .iter()
                .flatten()
                .any(|c| c.records_everything())
        })
    {
        out.push(
            Violation::new(
                &inv.account_meta(),
                "No region's AWS Config recorder records global resource types (IAM users, roles, policies)",
            )
            .evidence("regions", read.iter().map(|r| &r.region).collect::<Vec<_>>())
            .remediation(note_line(
                "set includeGlobalResourceTypes=true on the recorder of one region (put-configuration-recorder --recording-group allSupported=true,includeGlobalResourceTypes=true)",
            ))
            .rollback(note_line("set it back to false on that recorder")),
        );
    }
    out
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
                    .note("the default standards (FSBP, CIS) are billed per check and per finding ingested"),
            )
            .rollback(
                Command::aws("securityhub", "disable-security-hub")
                    .region(region)
                    .note("deletes the hub's findings; refused for an organization member, whose administrator disables it"),
            )
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
            last_error: status
                .filter(|s| *s == "Failure")
                .map(|_| "AccessDeniedException".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/config".into()),
            resource_types: if all {
                Vec::new()
            } else {
                vec!["AWS::EC2::Instance".into()]
            },
        }
    }

    #[test]
    fn config_must_record_every_resource_type_and_be_recording() {
        let mut inv = inventory();
        inv.security.regions = vec![
            RegionSecurity {
                config_recorders: Some(vec![recorder(true, Some(true), Some("Success"))]),
                ..region("us-east-1")
            },
            RegionSecurity {
                config_recorders: Some(vec![recorder(true, Some(false), None)]),
                ..region("us-east-2")
            },
            RegionSecurity {
                config_recorders: Some(vec![recorder(false, Some(true), Some("Success"))]),
                ..region("eu-west-1")
            },
            RegionSecurity {
                config_recorders: Some(vec![recorder(true, Some(true), Some("Failure"))]),
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
            .map(|v| v.into_data().message)
            .collect();
        assert_eq!(
            found,
            [
                "The AWS Config recorder default in us-east-2 is not recording",
                "The AWS Config recorder default in eu-west-1 records only some resource types",
                "The AWS Config recorder default in eu-west-2 is recording, but its last recording failed (AccessDeniedException)",
                "No AWS Config recorder in ap-south-1",
            ]
        );
        let stopped = &config_off(&inv, &ctx())[0];
        assert_eq!(
            stopped.remediation,
            ["aws configservice start-configuration-recorder --region us-east-2 --configuration-recorder-name default  # it needs a delivery channel; describe-delivery-channels shows it"]
        );
    }

    /// The fix for a recorder of some types keeps its role, and the
    /// rollback puts its own types back.
    #[test]
    fn a_partial_recorder_is_widened_with_its_own_role_and_narrowed_back() {
        let mut inv = inventory();
        inv.security.regions = vec![RegionSecurity {
            config_recorders: Some(vec![recorder(false, Some(true), Some("Success"))]),
            ..region("eu-west-1")
        }];
        let v = &config_off(&inv, &ctx())[0];
        assert_eq!(
            v.remediation,
            ["aws configservice put-configuration-recorder --region eu-west-1 --configuration-recorder name=default,roleARN=arn:aws:iam::123456789012:role/config --recording-group allSupported=true,includeGlobalResourceTypes=true  # a recording mode (daily overrides) is not carried over: describe-configuration-recorders shows it"]
        );
        assert_eq!(
            v.rollback,
            ["aws configservice put-configuration-recorder --region eu-west-1 --configuration-recorder name=default,roleARN=arn:aws:iam::123456789012:role/config --recording-group allSupported=false,includeGlobalResourceTypes=true,resourceTypes=AWS::EC2::Instance"]
        );
    }

    /// CIS asks for global types too: one region must record them.
    #[test]
    fn an_account_where_no_region_records_global_types_is_flagged() {
        let mut inv = inventory();
        let mut local = recorder(true, Some(true), Some("Success"));
        local.include_global = false;
        inv.security.regions = vec![
            RegionSecurity {
                config_recorders: Some(vec![local.clone()]),
                ..region("us-east-1")
            },
            RegionSecurity {
                config_recorders: Some(vec![local]),
                ..region("eu-west-1")
            },
        ];
        assert_eq!(flagged(&CONFIG_OFF, &inv), ["123456789012"]);
        inv.security.regions[1].config_recorders =
            Some(vec![recorder(true, Some(true), Some("Success"))]);
        assert!(flagged(&CONFIG_OFF, &inv).is_empty());
        // A region not read leaves it unknown.
        inv.security.regions[1].config_recorders = None;
        assert!(flagged(&CONFIG_OFF, &inv).is_empty());
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
