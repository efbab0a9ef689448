//! CloudTrail checks: a logging multi-region trail records every management
//! event, trails validate and encrypt their log files, and S3 object-level
//! events are recorded for every bucket.

use serde_json::json;

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::cloudtrail::{EventSelectors, Recorded, Trail};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[
    &NOT_MULTI_REGION,
    &LOG_VALIDATION_OFF,
    &NOT_KMS_ENCRYPTED,
    &S3_OBJECT_EVENTS_UNLOGGED,
    &BUCKET_LOGGING_OFF,
];

/// `aws cloudtrail update-trail` for one trail, in its home region (the
/// only region that can change it).
pub(super) fn update_trail(t: &Trail) -> Command {
    Command::aws("cloudtrail", "update-trail")
        .region(&t.home_region)
        .arg("--name", t.meta.name.as_deref().unwrap_or(&t.meta.id))
}

pub static NOT_MULTI_REGION: Check = Check {
    id: "cloudtrail.not_multi_region",
    title: "CloudTrail not enabled in all regions",
    category: Category::Security,
    severity: Severity::High,
    service: "cloudtrail",
    required_actions: &[
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
    ],
    basis: Basis::Absence,
    risk: "Without a logging multi-region trail that records every management event, API activity in other regions (where attackers like to work), or the reads or writes it leaves out, goes unrecorded.",
    evaluate: not_multi_region,
};

fn recorded_words(r: Recorded) -> &'static str {
    match (r.reads, r.writes) {
        (true, true) => "all",
        (true, false) => "only read",
        (false, true) => "only write",
        (false, false) => "no",
    }
}

/// `put-event-selectors` needs every selector the trail keeps: this is the
/// trail's own list in the CLI's JSON, with `change` applied.
fn selectors_json(selectors: &EventSelectors, advanced: bool) -> String {
    let omit_empty = |key: &str, values: &[String]| {
        (!values.is_empty()).then(|| (key.to_owned(), json!(values)))
    };
    let list: Vec<serde_json::Value> = if advanced {
        selectors
            .advanced
            .iter()
            .map(|a| {
                let fields: Vec<serde_json::Value> = a
                    .fields
                    .iter()
                    .map(|f| {
                        let mut o = serde_json::Map::new();
                        o.insert("Field".into(), json!(f.field));
                        for (k, v) in [
                            ("Equals", &f.equals),
                            ("NotEquals", &f.not_equals),
                            ("StartsWith", &f.starts_with),
                            ("NotStartsWith", &f.not_starts_with),
                            ("EndsWith", &f.ends_with),
                            ("NotEndsWith", &f.not_ends_with),
                        ] {
                            if let Some((k, v)) = omit_empty(k, v) {
                                o.insert(k, v);
                            }
                        }
                        serde_json::Value::Object(o)
                    })
                    .collect();
                match &a.name {
                    Some(name) => json!({"Name": name, "FieldSelectors": fields}),
                    None => json!({"FieldSelectors": fields}),
                }
            })
            .collect()
    } else {
        selectors
            .basic
            .iter()
            .map(|b| {
                json!({
                    "ReadWriteType": b.read_write_type,
                    "IncludeManagementEvents": b.include_management_events,
                    "ExcludeManagementEventSources": b.exclude_management_event_sources,
                    "DataResources": b.data_resources.iter().map(|(t, v)| json!({"Type": t, "Values": v})).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    serde_json::Value::Array(list).to_string()
}

/// The trail's selectors as they are (for the rollback) and with `add`
/// appended (for the fix), in whichever form the trail uses.
fn selector_commands(
    trail: &Trail,
    selectors: &EventSelectors,
    add_basic: serde_json::Value,
    add_advanced: serde_json::Value,
    note: &str,
) -> (Command, Command) {
    let name = trail.meta.name.as_deref().unwrap_or(&trail.meta.id);
    let put = || {
        Command::aws("cloudtrail", "put-event-selectors")
            .region(&trail.home_region)
            .arg("--trail-name", name)
    };
    let advanced = !selectors.advanced.is_empty();
    let (flag, before) = if advanced {
        (
            "--advanced-event-selectors",
            selectors_json(selectors, true),
        )
    } else {
        ("--event-selectors", selectors_json(selectors, false))
    };
    let mut after: Vec<serde_json::Value> = serde_json::from_str(&before).unwrap_or_default();
    after.push(if advanced { add_advanced } else { add_basic });
    let fix = put()
        .arg(flag, &serde_json::Value::Array(after).to_string())
        .note(note);
    // A trail with no selectors at all gets basic ones; undoing that needs
    // an empty list of the same kind.
    let rollback = put().arg(flag, &before);
    (fix, rollback)
}

fn not_multi_region(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let multi: Vec<&Trail> = inv
        .cloudtrail
        .trails
        .iter()
        .filter(|t| t.is_multi_region)
        .collect();
    let covered = multi.iter().any(|t| {
        t.is_logging == Some(true)
            && t.selectors
                .as_ref()
                .is_some_and(|s| s.management_events().all())
    });
    // A multi-region trail whose status or selectors could not be read may
    // be the one: unknown, not failed.
    let unknown = multi
        .iter()
        .any(|t| t.is_logging != Some(false) && (t.is_logging.is_none() || t.selectors.is_none()));
    if covered || unknown {
        return Vec::new();
    }
    let trails: Vec<_> = inv
        .cloudtrail
        .trails
        .iter()
        .map(|t| {
            json!({
                "name": t.meta.name,
                "multi_region": t.is_multi_region,
                "logging": t.is_logging,
                "management_events": t.selectors.as_ref().map(|s| recorded_words(s.management_events())),
            })
        })
        .collect();
    // A logging multi-region trail that leaves management events out: record them all.
    let partial = multi.iter().find_map(|t| {
        let selectors = t.selectors.as_ref()?;
        (t.is_logging == Some(true)).then_some((t, selectors))
    });
    if let Some((trail, selectors)) = partial {
        let name = trail.meta.name.as_deref().unwrap_or(&trail.meta.id);
        let (fix, rollback) = selector_commands(
            trail,
            selectors,
            json!({"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [], "ExcludeManagementEventSources": []}),
            json!({"Name": "All management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}),
            "adds a selector for every management event; the trail's own selectors stay",
        );
        return vec![Violation::new(
            &inv.account_meta(),
            format!(
                "The multi-region trail {name} records {} management events, and no other multi-region trail logs them all",
                recorded_words(selectors.management_events())
            ),
        )
        .evidence("trails", trails)
        .remediation(fix)
        .rollback(rollback)];
    }
    let home = inv
        .regions
        .first()
        .map(String::as_str)
        .unwrap_or("us-east-1");
    vec![
        Violation::new(&inv.account_meta(), "No multi-region trail is logging")
            .evidence("trails", trails)
            .remediation(
                Command::aws("cloudtrail", "create-trail")
                    .region(home)
                    .arg("--name", "sightline-org-trail")
                    .placeholder("--s3-bucket-name", "log-bucket")
                    .flag("--is-multi-region-trail")
                    .flag("--enable-log-file-validation"),
            )
            .remediation(
                Command::aws("cloudtrail", "start-logging")
                    .region(home)
                    .arg("--name", "sightline-org-trail"),
            )
            .rollback(
                Command::aws("cloudtrail", "delete-trail")
                    .region(home)
                    .arg("--name", "sightline-org-trail"),
            ),
    ]
}

pub static BUCKET_LOGGING_OFF: Check = Check {
    id: "cloudtrail.bucket_logging_off",
    title: "CloudTrail bucket without access logging",
    category: Category::Security,
    severity: Severity::Low,
    service: "cloudtrail",
    required_actions: &[
        "cloudtrail:DescribeTrails",
        "s3:GetBucketLocation",
        "s3:GetBucketLogging",
    ],
    basis: Basis::Observed,
    risk: "The trail records who changed the account; access logging on its bucket records who read, or tried to delete, that record.",
    evaluate: bucket_logging_off,
};

fn bucket_logging_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.cloudtrail
        .trails
        .iter()
        .filter(|t| t.bucket_logging == Some(false))
        .filter_map(|t| {
            let bucket = t.s3_bucket.as_deref()?;
            let put = |status: &str| {
                Command::aws("s3api", "put-bucket-logging")
                    .arg("--bucket", bucket)
                    .arg("--bucket-logging-status", status)
            };
            Some(
                Violation::new(
                    &t.meta,
                    format!("The trail's bucket {bucket} does not log access to itself"),
                )
                .evidence("s3_bucket", bucket)
                .evidence("bucket_logging", false)
                .remediation(
                    put(&format!(
                        r#"{{"LoggingEnabled":{{"TargetBucket":"<access-log-bucket>","TargetPrefix":"{bucket}/"}}}}"#
                    ))
                    .note("the target bucket, not this one, must let logging.s3.amazonaws.com write"),
                )
                .rollback(put("{}")),
            )
        })
        .collect()
}

pub static NOT_KMS_ENCRYPTED: Check = Check {
    id: "cloudtrail.not_kms_encrypted",
    title: "CloudTrail trail not encrypted with a KMS key",
    category: Category::Security,
    severity: Severity::Medium,
    service: "cloudtrail",
    required_actions: &["cloudtrail:DescribeTrails"],
    basis: Basis::Observed,
    risk: "Log files under S3's own key can be read by anyone the bucket lets in; a KMS key adds a second lock, with its own policy and its own audit trail of every decryption.",
    evaluate: not_kms_encrypted,
};

fn not_kms_encrypted(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.cloudtrail
        .trails
        .iter()
        .filter(|t| t.kms_key_id.is_none())
        .map(|t| {
            let update = || update_trail(t);
            Violation::new(&t.meta, "The trail's log files are not encrypted with a KMS key (SSE-KMS)")
                .evidence("kms_key_id", serde_json::Value::Null)
                .remediation(
                    update()
                        .placeholder("--kms-key-id", "kms-key-arn-whose-policy-lets-cloudtrail-encrypt")
                        .note("the key policy must allow cloudtrail.amazonaws.com kms:GenerateDataKey*, and readers kms:Decrypt"),
                )
                .rollback(update().arg("--kms-key-id", "").note("an empty key id turns SSE-KMS off"))
        })
        .collect()
}

pub static S3_OBJECT_EVENTS_UNLOGGED: Check = Check {
    id: "cloudtrail.s3_object_events_unlogged",
    title: "S3 object-level reads or writes not recorded by CloudTrail",
    category: Category::Security,
    severity: Severity::Low,
    service: "cloudtrail",
    required_actions: &[
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
    ],
    basis: Basis::Absence,
    risk: "Management events say who changed a bucket, not who read or overwrote its objects; without data events an exfiltration or a ransomware overwrite leaves no record.",
    evaluate: s3_object_events_unlogged,
};

fn s3_object_events_unlogged(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let logging: Vec<&Trail> = inv
        .cloudtrail
        .trails
        .iter()
        .filter(|t| t.is_multi_region && t.is_logging != Some(false))
        .collect();
    // A multi-region trail whose status or selectors are unknown may record them.
    if logging
        .iter()
        .any(|t| t.is_logging.is_none() || t.selectors.is_none())
    {
        return Vec::new();
    }
    let mut recorded = Recorded::default();
    for t in &logging {
        if let Some(s) = &t.selectors {
            let r = s.s3_object_events(&inv.partition);
            recorded.reads |= r.reads;
            recorded.writes |= r.writes;
        }
    }
    let mut aspects = Vec::new();
    if !recorded.writes {
        aspects.push("write");
    }
    if !recorded.reads {
        aspects.push("read");
    }
    if aspects.is_empty() {
        return Vec::new();
    }
    let message = format!(
        "No logging multi-region trail records S3 object-level {} events for every bucket",
        aspects.join(" or ")
    );
    let mut v = Violation::new(&inv.account_meta(), message)
        .evidence("aspects", &aspects)
        .evidence(
            "multi_region_trails",
            logging
                .iter()
                .map(|t| json!({"name": t.meta.name, "s3_object_events": t.selectors.as_ref().map(|s| recorded_words(s.s3_object_events(&inv.partition)))}))
                .collect::<Vec<_>>(),
        );
    let read_write = match (recorded.reads, recorded.writes) {
        (true, false) => "WriteOnly",
        (false, true) => "ReadOnly",
        _ => "All",
    };
    let every_bucket = format!("arn:{}:s3", inv.partition);
    match logging
        .first()
        .and_then(|t| Some((*t, t.selectors.as_ref()?)))
    {
        Some((trail, selectors)) => {
            let mut advanced_fields = vec![
                json!({"Field": "eventCategory", "Equals": ["Data"]}),
                json!({"Field": "resources.type", "Equals": ["AWS::S3::Object"]}),
            ];
            if read_write != "All" {
                advanced_fields.push(json!({"Field": "readOnly", "Equals": [if read_write == "ReadOnly" { "true" } else { "false" }]}));
            }
            let (fix, rollback) = selector_commands(
                trail,
                selectors,
                json!({"ReadWriteType": read_write, "IncludeManagementEvents": false, "DataResources": [{"Type": "AWS::S3::Object", "Values": [every_bucket]}], "ExcludeManagementEventSources": []}),
                json!({"Name": "S3 object events", "FieldSelectors": advanced_fields}),
                "data events are billed per 100,000 recorded; the trail's own selectors stay",
            );
            v = v.remediation(fix).rollback(rollback);
        }
        None => {
            v = v
                .remediation(crate::shell::note_line(
                    "first give the account a logging multi-region trail (cloudtrail.not_multi_region), then record S3 object events on it",
                ))
                .rollback(crate::shell::note_line("nothing was changed here"));
        }
    }
    vec![v]
}

pub static LOG_VALIDATION_OFF: Check = Check {
    id: "cloudtrail.log_validation_off",
    title: "CloudTrail trail without log file validation",
    category: Category::Security,
    severity: Severity::Medium,
    service: "cloudtrail",
    required_actions: &["cloudtrail:DescribeTrails"],
    basis: Basis::Observed,
    risk: "Without digest files nobody can prove that delivered logs were not altered or deleted.",
    evaluate: log_validation_off,
};

fn log_validation_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.cloudtrail
        .trails
        .iter()
        .filter(|t| !t.log_file_validation)
        .map(|t| {
            let update = || update_trail(t);
            Violation::new(&t.meta, "LogFileValidationEnabled is false")
                .evidence("log_file_validation_enabled", false)
                .remediation(update().flag("--enable-log-file-validation"))
                .rollback(update().flag("--no-enable-log-file-validation"))
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::cloudtrail::{AdvancedSelector, BasicSelector, FieldSelector, Trail};

    fn basic(read_write: &str, management: bool, s3_all: bool) -> BasicSelector {
        BasicSelector {
            read_write_type: read_write.into(),
            include_management_events: management,
            exclude_management_event_sources: Vec::new(),
            data_resources: if s3_all {
                vec![("AWS::S3::Object".into(), vec!["arn:aws:s3".into()])]
            } else {
                Vec::new()
            },
        }
    }

    /// A trail recording every management event (AWS's default selector).
    fn trail(id: &str, multi: bool, validation: bool, logging: Option<bool>) -> Trail {
        let mut m = meta("cloudtrail.trail", id, "us-east-1");
        m.name = Some(id.into());
        Trail {
            meta: m,
            home_region: "us-east-1".into(),
            is_multi_region: multi,
            log_file_validation: validation,
            is_organization_trail: false,
            s3_bucket: None,
            is_logging: logging,
            kms_key_id: None,
            log_group_arn: None,
            selectors: Some(EventSelectors {
                basic: vec![basic("All", true, false)],
                advanced: Vec::new(),
            }),
            logs_delivery_error: None,
            bucket_logging: None,
        }
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut none = inventory();
        none.cloudtrail.trails = vec![trail("regional", false, true, Some(true))];
        vec![
            (&NOT_MULTI_REGION, none.clone()),
            (&S3_OBJECT_EVENTS_UNLOGGED, none),
        ]
    }

    #[test]
    fn multi_region_logging_trail_is_needed() {
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![
            trail("regional", false, true, Some(true)),
            trail("stopped", true, false, Some(false)),
        ];
        assert_eq!(flagged(&NOT_MULTI_REGION, &inv), ["123456789012"]);
        assert_eq!(flagged(&LOG_VALIDATION_OFF, &inv), ["stopped"]);
        inv.cloudtrail
            .trails
            .push(trail("org", true, true, Some(true)));
        assert!(flagged(&NOT_MULTI_REGION, &inv).is_empty());
    }

    /// CIS 3.0 3.1: multi-region means every management event, reads and
    /// writes; the fix adds a selector and keeps the trail's own.
    #[test]
    fn a_multi_region_trail_must_record_every_management_event() {
        let mut inv = inventory();
        let mut writes = trail("writes", true, true, Some(true));
        writes.selectors.as_mut().unwrap().basic = vec![basic("WriteOnly", true, true)];
        inv.cloudtrail.trails = vec![writes];
        let v = not_multi_region(&inv, &ctx());
        assert_eq!(
            v[0].message,
            "The multi-region trail writes records only write management events, and no other multi-region trail logs them all"
        );
        assert_eq!(
            v[0].remediation,
            [
                r#"aws cloudtrail put-event-selectors --region us-east-1 --trail-name writes --event-selectors '[{"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}],"ExcludeManagementEventSources":[],"IncludeManagementEvents":true,"ReadWriteType":"WriteOnly"},{"DataResources":[],"ExcludeManagementEventSources":[],"IncludeManagementEvents":true,"ReadWriteType":"All"}]'  # adds a selector for every management event; the trail's own selectors stay"#
            ]
        );
        assert_eq!(
            v[0].rollback,
            [
                r#"aws cloudtrail put-event-selectors --region us-east-1 --trail-name writes --event-selectors '[{"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}],"ExcludeManagementEventSources":[],"IncludeManagementEvents":true,"ReadWriteType":"WriteOnly"}]'"#
            ]
        );
        // Selectors that could not be read: unknown, no finding.
        inv.cloudtrail.trails[0].selectors = None;
        assert!(flagged(&NOT_MULTI_REGION, &inv).is_empty());
    }

    #[test]
    fn a_trail_bucket_without_access_logging_is_flagged_unless_unread() {
        let mut inv = inventory();
        let with = |name: &str, logging: Option<bool>| {
            let mut t = trail(name, true, true, Some(true));
            t.s3_bucket = Some(format!("{name}-bucket"));
            t.bucket_logging = logging;
            t
        };
        inv.cloudtrail.trails = vec![
            with("logged", Some(true)),
            with("silent", Some(false)),
            with("elsewhere", None),
        ];
        assert_eq!(flagged(&BUCKET_LOGGING_OFF, &inv), ["silent"]);
        let v = bucket_logging_off(&inv, &ctx());
        assert_eq!(
            v[0].rollback,
            ["aws s3api put-bucket-logging --bucket silent-bucket --bucket-logging-status '{}'"]
        );
    }

    #[test]
    fn trails_without_a_kms_key_are_flagged() {
        let mut inv = inventory();
        let mut sealed = trail("sealed", true, true, Some(true));
        sealed.kms_key_id = Some("arn:aws:kms:us-east-1:123456789012:key/k".into());
        inv.cloudtrail.trails = vec![sealed, trail("plain", false, true, Some(true))];
        assert_eq!(flagged(&NOT_KMS_ENCRYPTED, &inv), ["plain"]);
        assert_eq!(
            not_kms_encrypted(&inv, &ctx())[0].rollback,
            ["aws cloudtrail update-trail --region us-east-1 --name plain --kms-key-id ''  # an empty key id turns SSE-KMS off"]
        );
    }

    #[test]
    fn s3_object_events_name_the_missing_direction_and_keep_advanced_selectors() {
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![trail("main", true, true, Some(true))];
        let aspects = |inv: &Inventory| {
            s3_object_events_unlogged(inv, &ctx())
                .first()
                .map(|v| v.evidence["aspects"].clone())
        };
        assert_eq!(aspects(&inv), Some(serde_json::json!(["write", "read"])));

        // Writes recorded by an advanced selector: only reads are missing,
        // and the fix appends a read-only selector to the advanced ones.
        let field = |name: &str, equals: &str| FieldSelector {
            field: name.into(),
            equals: vec![equals.into()],
            ..FieldSelector::default()
        };
        inv.cloudtrail.trails[0].selectors = Some(EventSelectors {
            basic: Vec::new(),
            advanced: vec![
                AdvancedSelector {
                    name: Some("mgmt".into()),
                    fields: vec![field("eventCategory", "Management")],
                },
                AdvancedSelector {
                    name: None,
                    fields: vec![
                        field("eventCategory", "Data"),
                        field("resources.type", "AWS::S3::Object"),
                        field("readOnly", "false"),
                    ],
                },
            ],
        });
        assert_eq!(aspects(&inv), Some(serde_json::json!(["read"])));
        let v = &s3_object_events_unlogged(&inv, &ctx())[0];
        assert!(
            v.remediation[0].ends_with(r#"{"FieldSelectors":[{"Equals":["Data"],"Field":"eventCategory"},{"Equals":["AWS::S3::Object"],"Field":"resources.type"},{"Equals":["true"],"Field":"readOnly"}],"Name":"S3 object events"}]'  # data events are billed per 100,000 recorded; the trail's own selectors stay"#),
            "{}",
            v.remediation[0]
        );
        assert!(v.remediation[0].contains(
            "--advanced-event-selectors '[{\"FieldSelectors\":[{\"Equals\":[\"Management\"]"
        ));

        // Both recorded: nothing to say.
        inv.cloudtrail.trails[0].selectors = Some(EventSelectors {
            basic: vec![basic("All", true, true)],
            advanced: Vec::new(),
        });
        assert_eq!(aspects(&inv), None);
        // A stopped trail records nothing.
        inv.cloudtrail.trails[0].is_logging = Some(false);
        assert_eq!(aspects(&inv), Some(serde_json::json!(["write", "read"])));
    }
}
