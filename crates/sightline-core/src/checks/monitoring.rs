//! CloudTrail monitoring: for each kind of security-relevant activity the
//! CIS benchmark names (unauthorized calls, root use, IAM policy changes,
//! ...), a multi-region trail that records every management event delivers
//! to a log group, a metric filter there matches that activity, an alarm
//! watches the filter's metric, and a topic with a confirmed subscriber
//! hears the alarm. The chain is judged link by link; the finding says,
//! per kind, which link is missing.
//!
//! Whether a filter matches is decided by running it over sample CloudTrail
//! events of the activity ([`Watched::events`]), so a filter written in
//! another order or with a wildcard counts, and one that also fires on an
//! ordinary read-only call (it watches everything, so nothing) does not.

use serde_json::{json, Value};

use super::{Basis, Check, CheckContext};
use crate::filter_pattern::Pattern;
use crate::finding::{Category, Severity, Violation};
use crate::inventory::cloudtrail::{MetricFilter, Trail, TrailLogGroup};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&EVENTS_UNALARMED];

/// One kind of activity to watch: its aspect name (what a framework file
/// maps a control to), what people call it, the benchmark's filter pattern
/// (what the fix puts in place), and the events it must catch.
pub struct Watched {
    pub aspect: &'static str,
    pub title: &'static str,
    pub pattern: &'static str,
    /// (event source, event name) pairs of ordinary API calls, or special
    /// events built by [`Watched::events`].
    calls: &'static [(&'static str, &'static str)],
}

const IAM: &str = "iam.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const S3: &str = "s3.amazonaws.com";
const ORGS: &str = "organizations.amazonaws.com";

pub const WATCHED: &[Watched] = &[
    Watched {
        aspect: "unauthorized_api_calls",
        title: "unauthorized API calls",
        pattern: r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") && ($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }"#,
        calls: &[],
    },
    Watched {
        aspect: "console_signin_without_mfa",
        title: "console sign-in without MFA",
        pattern: r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
        calls: &[],
    },
    Watched {
        aspect: "root_usage",
        title: "use of the root user",
        pattern: r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
        calls: &[],
    },
    Watched {
        aspect: "iam_policy_changes",
        title: "IAM policy changes",
        pattern: "{ ($.eventSource = iam.amazonaws.com) && (($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) || ($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || ($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || ($.eventName = CreatePolicy) || ($.eventName = DeletePolicy) || ($.eventName = CreatePolicyVersion) || ($.eventName = DeletePolicyVersion) || ($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || ($.eventName = AttachUserPolicy) || ($.eventName = DetachUserPolicy) || ($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy)) }",
        calls: &[
            (IAM, "DeleteGroupPolicy"),
            (IAM, "DeleteRolePolicy"),
            (IAM, "DeleteUserPolicy"),
            (IAM, "PutGroupPolicy"),
            (IAM, "PutRolePolicy"),
            (IAM, "PutUserPolicy"),
            (IAM, "CreatePolicy"),
            (IAM, "DeletePolicy"),
            (IAM, "CreatePolicyVersion"),
            (IAM, "DeletePolicyVersion"),
            (IAM, "AttachRolePolicy"),
            (IAM, "DetachRolePolicy"),
            (IAM, "AttachUserPolicy"),
            (IAM, "DetachUserPolicy"),
            (IAM, "AttachGroupPolicy"),
            (IAM, "DetachGroupPolicy"),
        ],
    },
    Watched {
        aspect: "cloudtrail_changes",
        title: "CloudTrail configuration changes",
        pattern: "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging) }",
        calls: &[
            ("cloudtrail.amazonaws.com", "CreateTrail"),
            ("cloudtrail.amazonaws.com", "UpdateTrail"),
            ("cloudtrail.amazonaws.com", "DeleteTrail"),
            ("cloudtrail.amazonaws.com", "StartLogging"),
            ("cloudtrail.amazonaws.com", "StopLogging"),
        ],
    },
    Watched {
        aspect: "console_auth_failures",
        title: "console authentication failures",
        pattern: r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#,
        calls: &[],
    },
    Watched {
        aspect: "cmk_disable_or_delete",
        title: "disabling or scheduled deletion of customer managed KMS keys",
        pattern: "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }",
        calls: &[
            ("kms.amazonaws.com", "DisableKey"),
            ("kms.amazonaws.com", "ScheduleKeyDeletion"),
        ],
    },
    Watched {
        aspect: "s3_bucket_policy_changes",
        title: "S3 bucket policy changes",
        pattern: "{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || ($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }",
        calls: &[
            (S3, "PutBucketAcl"),
            (S3, "PutBucketPolicy"),
            (S3, "PutBucketCors"),
            (S3, "PutBucketLifecycle"),
            (S3, "PutBucketReplication"),
            (S3, "DeleteBucketPolicy"),
            (S3, "DeleteBucketCors"),
            (S3, "DeleteBucketLifecycle"),
            (S3, "DeleteBucketReplication"),
        ],
    },
    Watched {
        aspect: "config_changes",
        title: "AWS Config configuration changes",
        pattern: "{ ($.eventSource = config.amazonaws.com) && (($.eventName = StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) || ($.eventName = PutDeliveryChannel) || ($.eventName = PutConfigurationRecorder)) }",
        calls: &[
            ("config.amazonaws.com", "StopConfigurationRecorder"),
            ("config.amazonaws.com", "DeleteDeliveryChannel"),
            ("config.amazonaws.com", "PutDeliveryChannel"),
            ("config.amazonaws.com", "PutConfigurationRecorder"),
        ],
    },
    Watched {
        aspect: "security_group_changes",
        title: "security group changes",
        pattern: "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }",
        calls: &[
            (EC2, "AuthorizeSecurityGroupIngress"),
            (EC2, "AuthorizeSecurityGroupEgress"),
            (EC2, "RevokeSecurityGroupIngress"),
            (EC2, "RevokeSecurityGroupEgress"),
            (EC2, "CreateSecurityGroup"),
            (EC2, "DeleteSecurityGroup"),
        ],
    },
    Watched {
        aspect: "nacl_changes",
        title: "network ACL changes",
        pattern: "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }",
        calls: &[
            (EC2, "CreateNetworkAcl"),
            (EC2, "CreateNetworkAclEntry"),
            (EC2, "DeleteNetworkAcl"),
            (EC2, "DeleteNetworkAclEntry"),
            (EC2, "ReplaceNetworkAclEntry"),
            (EC2, "ReplaceNetworkAclAssociation"),
        ],
    },
    Watched {
        aspect: "network_gateway_changes",
        title: "network gateway changes",
        pattern: "{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || ($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }",
        calls: &[
            (EC2, "CreateCustomerGateway"),
            (EC2, "DeleteCustomerGateway"),
            (EC2, "AttachInternetGateway"),
            (EC2, "CreateInternetGateway"),
            (EC2, "DeleteInternetGateway"),
            (EC2, "DetachInternetGateway"),
        ],
    },
    Watched {
        aspect: "route_table_changes",
        title: "route table changes",
        pattern: "{ ($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }",
        calls: &[
            (EC2, "CreateRoute"),
            (EC2, "CreateRouteTable"),
            (EC2, "ReplaceRoute"),
            (EC2, "ReplaceRouteTableAssociation"),
            (EC2, "DeleteRouteTable"),
            (EC2, "DeleteRoute"),
            (EC2, "DisassociateRouteTable"),
        ],
    },
    Watched {
        aspect: "vpc_changes",
        title: "VPC changes",
        pattern: "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || ($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || ($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }",
        calls: &[
            (EC2, "CreateVpc"),
            (EC2, "DeleteVpc"),
            (EC2, "ModifyVpcAttribute"),
            (EC2, "AcceptVpcPeeringConnection"),
            (EC2, "CreateVpcPeeringConnection"),
            (EC2, "DeleteVpcPeeringConnection"),
            (EC2, "RejectVpcPeeringConnection"),
        ],
    },
    Watched {
        aspect: "organizations_changes",
        title: "AWS Organizations changes",
        pattern: "{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = AcceptHandshake) || ($.eventName = AttachPolicy) || ($.eventName = CreateAccount) || ($.eventName = CreateOrganizationalUnit) || ($.eventName = CreatePolicy) || ($.eventName = DeclineHandshake) || ($.eventName = DeleteOrganization) || ($.eventName = DeleteOrganizationalUnit) || ($.eventName = DeletePolicy) || ($.eventName = DetachPolicy) || ($.eventName = DisablePolicyType) || ($.eventName = EnablePolicyType) || ($.eventName = InviteAccountToOrganization) || ($.eventName = LeaveOrganization) || ($.eventName = MoveAccount) || ($.eventName = RemoveAccountFromOrganization) || ($.eventName = UpdatePolicy) || ($.eventName = UpdateOrganizationalUnit)) }",
        calls: &[
            (ORGS, "AcceptHandshake"),
            (ORGS, "AttachPolicy"),
            (ORGS, "CreateAccount"),
            (ORGS, "CreateOrganizationalUnit"),
            (ORGS, "CreatePolicy"),
            (ORGS, "DeclineHandshake"),
            (ORGS, "DeleteOrganization"),
            (ORGS, "DeleteOrganizationalUnit"),
            (ORGS, "DeletePolicy"),
            (ORGS, "DetachPolicy"),
            (ORGS, "DisablePolicyType"),
            (ORGS, "EnablePolicyType"),
            (ORGS, "InviteAccountToOrganization"),
            (ORGS, "LeaveOrganization"),
            (ORGS, "MoveAccount"),
            (ORGS, "RemoveAccountFromOrganization"),
            (ORGS, "UpdatePolicy"),
            (ORGS, "UpdateOrganizationalUnit"),
        ],
    },
];

/// A CloudTrail record of an IAM user's successful API call.
fn call(source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/someone", "accountId": "111122223333"},
        "eventTime": "2026-01-01T00:00:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "eventType": "AwsApiCall",
        "readOnly": false,
        "recipientAccountId": "111122223333"
    })
}

fn set(mut event: Value, changes: Value) -> Value {
    if let (Some(e), Some(c)) = (event.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            e.insert(k.clone(), v.clone());
        }
    }
    event
}

fn console_login(mfa: &str, outcome: &str) -> Value {
    set(
        call("signin.amazonaws.com", "ConsoleLogin"),
        json!({
            "eventType": "AwsConsoleSignIn",
            "additionalEventData": {"MFAUsed": mfa, "LoginTo": "https://console.aws.amazon.com/"},
            "responseElements": {"ConsoleLogin": outcome},
        }),
    )
}

/// An ordinary read-only call that no watch should fire on: a filter that
/// matches it watches everything, so nothing in particular.
pub fn ordinary_event() -> Value {
    set(call(EC2, "DescribeInstances"), json!({"readOnly": true}))
}

impl Watched {
    /// Sample CloudTrail records of the activity: a filter watches it when
    /// it matches every one of them.
    pub fn events(&self) -> Vec<Value> {
        match self.aspect {
            "unauthorized_api_calls" => vec![
                set(
                    call(EC2, "RunInstances"),
                    json!({"errorCode": "Client.UnauthorizedOperation", "errorMessage": "You are not authorized to perform this operation."}),
                ),
                set(
                    call(IAM, "ListUsers"),
                    json!({"errorCode": "AccessDenied", "readOnly": true}),
                ),
            ],
            "console_signin_without_mfa" => vec![console_login("No", "Success")],
            "root_usage" => vec![
                set(
                    call(IAM, "CreateUser"),
                    json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}}),
                ),
                set(
                    console_login("No", "Success"),
                    json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}}),
                ),
            ],
            "console_auth_failures" => vec![set(
                console_login("No", "Failure"),
                json!({"errorMessage": "Failed authentication"}),
            )],
            _ => self.calls.iter().map(|(s, n)| call(s, n)).collect(),
        }
    }

    /// Whether `filter` watches this activity.
    pub fn watched_by(&self, filter: &Pattern) -> bool {
        !filter.matches(&ordinary_event()) && self.events().iter().all(|e| filter.matches(e))
    }
}

/// Whether a filter pattern watches any of the activities: what the
/// collector asks before it looks for alarms on the filter's metric.
pub fn watches_anything(pattern: &str) -> bool {
    Pattern::parse(pattern).is_ok_and(|p| WATCHED.iter().any(|w| w.watched_by(&p)))
}

pub static EVENTS_UNALARMED: Check = Check {
    id: "cloudtrail.events_unalarmed",
    title: "Security-relevant activity without a CloudWatch alarm",
    category: Category::Security,
    severity: Severity::Medium,
    service: "cloudtrail",
    required_actions: &[
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "logs:DescribeMetricFilters",
        "cloudwatch:DescribeAlarmsForMetric",
        "sns:ListSubscriptionsByTopic",
    ],
    basis: Basis::Absence,
    risk: "A trail records root logins, policy changes and opened security groups, but nobody hears of them until someone goes looking; an alarm with a subscriber turns the record into a page.",
    evaluate: events_unalarmed,
};

/// A trail whose log group can carry the watch: multi-region, logging,
/// recording every management event, delivering to CloudWatch Logs.
fn carries_the_watch(t: &Trail) -> bool {
    t.is_multi_region
        && t.is_logging == Some(true)
        && t.log_group_arn.is_some()
        && t.selectors
            .as_ref()
            .is_some_and(|s| s.management_events().all())
}

/// Why one activity is not watched through one log group, or `None` when
/// it is.
fn missing_link(inv: &Inventory, group: &TrailLogGroup, watched: &Watched) -> Option<String> {
    let matching: Vec<&MetricFilter> = group
        .filters
        .iter()
        .filter(|f| Pattern::parse(&f.pattern).is_ok_and(|p| watched.watched_by(&p)))
        .collect();
    if matching.is_empty() {
        return Some(format!(
            "no metric filter on log group {} matches it",
            group.name
        ));
    }
    let mut closest = None;
    for filter in &matching {
        for (namespace, metric) in &filter.metrics {
            let alarms: Vec<_> = inv
                .cloudtrail
                .alarms
                .iter()
                .filter(|a| {
                    a.region == group.region
                        && &a.namespace == namespace
                        && &a.metric_name == metric
                        && a.actions_enabled
                })
                .collect();
            if alarms.is_empty() {
                closest.get_or_insert(format!(
                    "metric filter {} publishes {namespace}/{metric}, but no alarm with actions enabled watches it",
                    filter.name
                ));
                continue;
            }
            for alarm in alarms {
                let topics: Vec<&String> = alarm
                    .alarm_actions
                    .iter()
                    .filter(|a| a.split(':').nth(2) == Some("sns"))
                    .collect();
                if topics.is_empty() {
                    closest = Some(format!("alarm {} notifies no SNS topic", alarm.name));
                    continue;
                }
                let heard = topics.iter().any(|t| {
                    inv.cloudtrail
                        .topics
                        .iter()
                        .any(|s| &&s.arn == t && s.confirmed > 0)
                });
                if heard {
                    return None;
                }
                closest = Some(format!(
                    "alarm {} notifies {}, which has no confirmed subscriber",
                    alarm.name,
                    topics
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    closest.or_else(|| Some("its metric filters publish no metric".to_owned()))
}

fn events_unalarmed(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let carriers: Vec<&Trail> = inv
        .cloudtrail
        .trails
        .iter()
        .filter(|t| carries_the_watch(t))
        .collect();
    let groups: Vec<&TrailLogGroup> = carriers
        .iter()
        .filter_map(|t| {
            let arn = t.log_group_arn.as_deref()?;
            inv.cloudtrail.log_groups.iter().find(|g| g.arn == arn)
        })
        .collect();
    // A carrier whose log group could not be read leaves the answer unknown
    // (the gap that says so makes the check "not evaluated").
    if groups.len() < carriers.len() {
        return Vec::new();
    }
    let mut unwatched: Vec<(&Watched, String)> = Vec::new();
    for watched in WATCHED {
        let reasons: Vec<String> = groups
            .iter()
            .map(|g| missing_link(inv, g, watched))
            .collect::<Option<Vec<String>>>()
            .unwrap_or_default();
        if groups.is_empty() {
            unwatched.push((
                watched,
                "no multi-region trail that logs and records every management event delivers to CloudWatch Logs".to_owned(),
            ));
        } else if reasons.len() == groups.len() {
            unwatched.push((watched, reasons.join("; ")));
        }
    }
    if unwatched.is_empty() {
        return Vec::new();
    }
    let message = format!(
        "No alarm with a subscriber watches {} of {} kinds of security-relevant activity: {}",
        unwatched.len(),
        WATCHED.len(),
        unwatched
            .iter()
            .map(|(w, _)| w.title)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut v = Violation::new(&inv.account_meta(), message)
        .evidence(
            "unwatched",
            unwatched
                .iter()
                .map(|(w, why)| json!({"activity": w.title, "aspect": w.aspect, "why": why}))
                .collect::<Vec<_>>(),
        )
        .evidence(
            "aspects",
            unwatched.iter().map(|(w, _)| w.aspect).collect::<Vec<_>>(),
        )
        .evidence(
            "trails",
            inv.cloudtrail
                .trails
                .iter()
                .map(|t| {
                    json!({
                        "name": t.meta.name,
                        "multi_region": t.is_multi_region,
                        "logging": t.is_logging,
                        "all_management_events": t.selectors.as_ref().map(|s| s.management_events().all()),
                        "log_group": t.log_group_arn,
                    })
                })
                .collect::<Vec<_>>(),
        );
    match groups.first() {
        Some(group) => {
            for (watched, _) in &unwatched {
                let (create, undo) = watch_commands(group, watched);
                for c in create {
                    v = v.remediation(c);
                }
                for c in undo {
                    v = v.rollback(c);
                }
            }
        }
        None => {
            // Deliver a multi-region trail to CloudWatch Logs first; the
            // filters and alarms follow once it does.
            let trail = inv.cloudtrail.trails.iter().find(|t| t.is_multi_region);
            let (name, region) = match trail {
                Some(t) => (t.meta.name.clone(), t.home_region.clone()),
                None => (None, "us-east-1".to_owned()),
            };
            let update = Command::aws("cloudtrail", "update-trail")
                .region(&region)
                .arg_or("--name", name.as_deref(), "multi-region-trail-name");
            v = v
                .remediation(
                    update
                        .clone()
                        .placeholder("--cloud-watch-logs-log-group-arn", "log-group-arn")
                        .placeholder(
                            "--cloud-watch-logs-role-arn",
                            "role-cloudtrail-can-assume-to-write-logs",
                        )
                        .note(
                            "then scan again: the metric filters and alarms go on that log group",
                        ),
                )
                .rollback(
                    update
                        .arg("--cloud-watch-logs-log-group-arn", "")
                        .arg("--cloud-watch-logs-role-arn", ""),
                );
        }
    }
    vec![v]
}

/// The benchmark's metric filter and an alarm on it for one activity, and
/// their removal.
fn watch_commands(group: &TrailLogGroup, watched: &Watched) -> (Vec<Command>, Vec<Command>) {
    let name = format!("cis-{}", watched.aspect.replace('_', "-"));
    let create = vec![
        Command::aws("logs", "put-metric-filter")
            .region(&group.region)
            .arg("--log-group-name", &group.name)
            .arg("--filter-name", &name)
            .arg("--filter-pattern", watched.pattern)
            .arg(
                "--metric-transformations",
                &format!("metricName={name},metricNamespace=CISBenchmark,metricValue=1"),
            ),
        Command::aws("cloudwatch", "put-metric-alarm")
            .region(&group.region)
            .arg("--alarm-name", &name)
            .arg("--metric-name", &name)
            .arg("--namespace", "CISBenchmark")
            .arg("--statistic", "Sum")
            .arg("--period", "300")
            .arg("--threshold", "1")
            .arg("--comparison-operator", "GreaterThanOrEqualToThreshold")
            .arg("--evaluation-periods", "1")
            .arg("--treat-missing-data", "notBreaching")
            .placeholder(
                "--alarm-actions",
                "sns-topic-arn-with-a-confirmed-subscriber",
            ),
    ];
    let undo = vec![
        Command::aws("cloudwatch", "delete-alarms")
            .region(&group.region)
            .arg("--alarm-names", &name),
        Command::aws("logs", "delete-metric-filter")
            .region(&group.region)
            .arg("--log-group-name", &group.name)
            .arg("--filter-name", &name),
    ];
    (create, undo)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::cloudtrail::{
        BasicSelector, EventSelectors, MetricAlarm, TopicSubscribers,
    };

    /// Every pattern the fix puts in place watches what it is for, and
    /// nothing else's whole list: the samples and the patterns agree.
    #[test]
    fn each_benchmark_pattern_watches_its_own_activity() {
        for w in WATCHED {
            let p = Pattern::parse(w.pattern).unwrap_or_else(|e| panic!("{}: {e}", w.aspect));
            assert!(w.watched_by(&p), "{} does not watch itself", w.aspect);
            assert!(!p.matches(&ordinary_event()), "{}", w.aspect);
        }
        let everything = Pattern::parse(r#"{ $.eventName = "*" }"#).unwrap();
        assert!(WATCHED.iter().all(|w| !w.watched_by(&everything)));
        // Written another way, the same watch still counts.
        let reordered = Pattern::parse(
            r#"{($.eventName="StopLogging")||($.eventName="StartLogging")||($.eventName="DeleteTrail")||($.eventName="UpdateTrail")||($.eventName="CreateTrail")}"#,
        )
        .unwrap();
        assert!(WATCHED[4].watched_by(&reordered));
        // One event left out is not the watch.
        let partial =
            Pattern::parse("{ ($.eventName = CreateTrail) || ($.eventName = DeleteTrail) }")
                .unwrap();
        assert!(!WATCHED[4].watched_by(&partial));
    }

    pub(crate) fn carrier() -> Trail {
        let mut m = meta("cloudtrail.trail", "main", "us-east-1");
        m.name = Some("main".into());
        Trail {
            meta: m,
            home_region: "us-east-1".into(),
            is_multi_region: true,
            log_file_validation: true,
            is_organization_trail: false,
            s3_bucket: Some("logs".into()),
            is_logging: Some(true),
            kms_key_id: None,
            log_group_arn: Some("arn:aws:logs:us-east-1:123456789012:log-group:trail:*".into()),
            selectors: Some(EventSelectors {
                basic: vec![BasicSelector {
                    read_write_type: "All".into(),
                    include_management_events: true,
                    exclude_management_event_sources: Vec::new(),
                    data_resources: Vec::new(),
                }],
                advanced: Vec::new(),
            }),
        }
    }

    fn group(filters: &[(&str, &str)]) -> TrailLogGroup {
        TrailLogGroup {
            arn: "arn:aws:logs:us-east-1:123456789012:log-group:trail:*".into(),
            region: "us-east-1".into(),
            name: "trail".into(),
            filters: filters
                .iter()
                .map(|(name, pattern)| MetricFilter {
                    name: (*name).into(),
                    pattern: (*pattern).into(),
                    metrics: vec![("CIS".into(), (*name).into())],
                })
                .collect(),
        }
    }

    fn alarm(metric: &str, topic: &str) -> MetricAlarm {
        MetricAlarm {
            region: "us-east-1".into(),
            name: format!("{metric}-alarm"),
            namespace: "CIS".into(),
            metric_name: metric.into(),
            actions_enabled: true,
            alarm_actions: vec![topic.into()],
        }
    }

    /// An inventory on which the check fires: no trail at all.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        vec![(&EVENTS_UNALARMED, inventory())]
    }

    fn unwatched(inv: &Inventory) -> Vec<(String, String)> {
        let v = events_unalarmed(inv, &ctx());
        v.first()
            .map(|v| {
                v.evidence["unwatched"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| {
                        (
                            u["aspect"].as_str().unwrap().to_owned(),
                            u["why"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn each_link_of_the_chain_is_judged_and_named() {
        let topic = "arn:aws:sns:us-east-1:123456789012:security";
        let silent = "arn:aws:sns:us-east-1:123456789012:nobody";
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![carrier()];
        inv.cloudtrail.log_groups = vec![group(&[
            ("trail-changes", WATCHED[4].pattern),
            ("sg-changes", WATCHED[9].pattern),
            ("root", WATCHED[2].pattern),
            ("nacl", WATCHED[10].pattern),
            ("broken", "{ $.eventName = "),
        ])];
        inv.cloudtrail.alarms = vec![
            alarm("trail-changes", topic),
            alarm("sg-changes", silent),
            MetricAlarm {
                alarm_actions: Vec::new(),
                ..alarm("nacl", topic)
            },
        ];
        inv.cloudtrail.topics = vec![
            TopicSubscribers {
                arn: topic.into(),
                confirmed: 1,
            },
            TopicSubscribers {
                arn: silent.into(),
                confirmed: 0,
            },
        ];
        let found = unwatched(&inv);
        let why = |aspect: &str| {
            found
                .iter()
                .find(|(a, _)| a == aspect)
                .map(|(_, w)| w.as_str())
        };
        assert_eq!(why("cloudtrail_changes"), None);
        assert_eq!(
            why("security_group_changes"),
            Some("alarm sg-changes-alarm notifies arn:aws:sns:us-east-1:123456789012:nobody, which has no confirmed subscriber")
        );
        assert_eq!(
            why("root_usage"),
            Some("metric filter root publishes CIS/root, but no alarm with actions enabled watches it")
        );
        assert_eq!(
            why("nacl_changes"),
            Some("alarm nacl-alarm notifies no SNS topic")
        );
        assert_eq!(
            why("vpc_changes"),
            Some("no metric filter on log group trail matches it")
        );
        assert_eq!(found.len(), 14);
        let v = &events_unalarmed(&inv, &ctx())[0];
        assert_eq!(v.remediation.len(), 28);
        assert!(v.remediation[0].starts_with(
            "aws logs put-metric-filter --region us-east-1 --log-group-name trail --filter-name cis-unauthorized-api-calls --filter-pattern '{ ($.errorCode"
        ));

        // With the subscriber confirmed, security group changes are heard.
        inv.cloudtrail.topics[1].confirmed = 1;
        assert!(why("security_group_changes").is_some());
        assert_eq!(unwatched(&inv).len(), 13);
    }

    #[test]
    fn a_trail_that_cannot_carry_the_watch_leaves_everything_unwatched() {
        let reason = "no multi-region trail that logs and records every management event delivers to CloudWatch Logs";
        let all_filters: Vec<(&str, &str)> =
            WATCHED.iter().map(|w| (w.aspect, w.pattern)).collect();
        for broken in [
            |t: &mut Trail| t.is_multi_region = false,
            |t: &mut Trail| t.is_logging = Some(false),
            |t: &mut Trail| t.log_group_arn = None,
            |t: &mut Trail| {
                t.selectors.as_mut().unwrap().basic[0].read_write_type = "WriteOnly".into()
            },
        ] {
            let mut inv = inventory();
            let mut trail = carrier();
            broken(&mut trail);
            inv.cloudtrail.trails = vec![trail];
            inv.cloudtrail.log_groups = vec![group(&all_filters)];
            let found = unwatched(&inv);
            assert_eq!(found.len(), WATCHED.len());
            assert!(found.iter().all(|(_, why)| why == reason));
        }
        // The group of a carrier could not be read: unknown, no finding.
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![carrier()];
        assert!(flagged(&EVENTS_UNALARMED, &inv).is_empty());
    }
}
