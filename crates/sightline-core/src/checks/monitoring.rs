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

/// The same event in other regions and, when `any_principal`, made by a
/// role session, a federated user and an AWS service on someone's behalf:
/// a filter narrowed to one region or one kind of principal misses most
/// real changes, so it must match them all.
fn variants(event: Value, any_principal: bool) -> Vec<Value> {
    let mut out = vec![event.clone()];
    for region in ["eu-west-1", "ap-southeast-2"] {
        out.push(set(event.clone(), json!({"awsRegion": region})));
    }
    if any_principal {
        out.push(set(
            event.clone(),
            json!({
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/someone", "accountId": "111122223333"},
                "awsRegion": "eu-west-1",
            }),
        ));
        out.push(set(
            event.clone(),
            json!({
                "userIdentity": {"type": "FederatedUser", "arn": "arn:aws:sts::111122223333:federated-user/someone", "accountId": "111122223333"},
                "sourceIPAddress": "203.0.113.9",
            }),
        ));
        out.push(set(
            event,
            json!({
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin/someone", "accountId": "111122223333", "invokedBy": "cloudformation.amazonaws.com"},
                "sourceIPAddress": "cloudformation.amazonaws.com",
            }),
        ));
    }
    out
}

/// Ordinary calls no watch should fire on, reads and writes: a filter that
/// matches one watches everything of its kind, so nothing in particular (an
/// alarm that is always in ALARM never notifies again).
pub fn ordinary_events() -> Vec<Value> {
    vec![
        set(call(EC2, "DescribeInstances"), json!({"readOnly": true})),
        call(EC2, "CreateTags"),
        call("logs.amazonaws.com", "CreateLogStream"),
        call(
            "lambda.amazonaws.com",
            "UpdateFunctionConfiguration20150331v2",
        ),
        set(
            call(S3, "PutObject"),
            json!({"eventCategory": "Data", "eventType": "AwsApiCall"}),
        ),
    ]
}

impl Watched {
    /// Sample CloudTrail records of the activity: a filter watches it when
    /// it matches every one of them.
    pub fn events(&self) -> Vec<Value> {
        let root = json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}});
        match self.aspect {
            "unauthorized_api_calls" => [
                set(
                    call(EC2, "RunInstances"),
                    json!({"errorCode": "Client.UnauthorizedOperation", "errorMessage": "You are not authorized to perform this operation."}),
                ),
                set(
                    call(IAM, "ListUsers"),
                    json!({"errorCode": "AccessDenied", "readOnly": true}),
                ),
            ]
            .into_iter()
            .flat_map(|e| variants(e, true))
            .collect(),
            // The benchmark watches IAM users' sign-ins (roles sign in with MFA
            // at their identity provider).
            "console_signin_without_mfa" => variants(console_login("No", "Success"), false),
            "root_usage" => [
                set(call(IAM, "CreateUser"), root.clone()),
                set(console_login("No", "Success"), root),
            ]
            .into_iter()
            .flat_map(|e| variants(e, false))
            .collect(),
            "console_auth_failures" => variants(
                set(
                    console_login("No", "Failure"),
                    json!({"errorMessage": "Failed authentication"}),
                ),
                false,
            ),
            _ => self
                .calls
                .iter()
                .flat_map(|(s, n)| variants(call(s, n), true))
                .collect(),
        }
    }

    /// Whether `filter` watches this activity.
    pub fn watched_by(&self, filter: &Pattern) -> bool {
        !ordinary_events().iter().any(|e| filter.matches(e))
            && self.events().iter().all(|e| filter.matches(e))
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
        "sns:GetTopicAttributes",
    ],
    // What it could not read it says so itself, activity by activity (a
    // link that could not be read leaves that activity unknown, never
    // unwatched), so what it did see stands beside a gap.
    basis: Basis::Observed,
    risk: "A trail records root logins, policy changes and opened security groups, but nobody hears of them until someone goes looking; an alarm with a subscriber turns the record into a page.",
    evaluate: events_unalarmed,
};

/// Why a trail cannot carry the watch, or `None` when it can: multi-region,
/// logging, recording every management event, delivering to CloudWatch
/// Logs without error.
fn cannot_carry(t: &Trail) -> Option<String> {
    let name = t.meta.name.as_deref().unwrap_or(&t.meta.id);
    if !t.is_multi_region {
        return Some(format!("trail {name} is not multi-region"));
    }
    if t.is_logging != Some(true) {
        return Some(format!("trail {name} is not logging"));
    }
    if !t
        .selectors
        .as_ref()
        .is_some_and(|s| s.management_events().all())
    {
        return Some(format!(
            "trail {name} does not record every management event"
        ));
    }
    if t.log_group_arn.is_none() {
        return Some(format!("trail {name} does not deliver to CloudWatch Logs"));
    }
    if let Some(error) = &t.logs_delivery_error {
        return Some(format!(
            "trail {name} fails to deliver to CloudWatch Logs ({error})"
        ));
    }
    None
}

/// What one link of the chain came to for one activity.
#[derive(Debug, Clone, PartialEq)]
enum Link {
    Watched,
    /// Definitely not watched, and why (the furthest link reached).
    Missing(String),
    /// A read it needed failed.
    Unknown,
}

fn judge(inv: &Inventory, trail: &Trail, group: &TrailLogGroup, watched: &Watched) -> Link {
    if watched.aspect == "cmk_disable_or_delete"
        && trail.selectors.as_ref().is_some_and(|s| {
            s.excluded_sources()
                .iter()
                .any(|x| x == "kms.amazonaws.com")
        })
    {
        return Link::Missing(format!(
            "trail {} leaves KMS events out",
            trail.meta.name.as_deref().unwrap_or(&trail.meta.id)
        ));
    }
    if !group.exists {
        return Link::Missing(format!("log group {} does not exist", group.name));
    }
    let matching: Vec<&MetricFilter> = group
        .filters
        .iter()
        .filter(|f| Pattern::parse(&f.pattern).is_ok_and(|p| watched.watched_by(&p)))
        .collect();
    if matching.is_empty() {
        return Link::Missing(format!(
            "no metric filter on log group {} matches it",
            group.name
        ));
    }
    let mut unknown = false;
    let mut closest = None;
    for filter in &matching {
        for (namespace, metric) in &filter.metrics {
            if inv
                .cloudtrail
                .unread_metrics
                .iter()
                .any(|(r, n, m)| r == &group.region && n == namespace && m == metric)
            {
                unknown = true;
                continue;
            }
            let alarms: Vec<_> = inv
                .cloudtrail
                .alarms
                .iter()
                .filter(|a| {
                    a.region == group.region
                        && &a.namespace == namespace
                        && &a.metric_name == metric
                })
                .collect();
            let live: Vec<_> = alarms
                .iter()
                .filter(|a| a.actions_enabled && a.fires_on_events())
                .collect();
            if live.is_empty() {
                closest.get_or_insert(match alarms.first() {
                    Some(a) if !a.actions_enabled => format!("alarm {} has its actions disabled", a.name),
                    Some(a) => format!(
                        "alarm {} compares with {}: a rising count never sets it off",
                        a.name,
                        a.comparison.as_deref().unwrap_or("no comparison")
                    ),
                    None => format!(
                        "metric filter {} publishes {namespace}/{metric}, but no alarm with actions enabled watches it",
                        filter.name
                    ),
                });
                continue;
            }
            for alarm in live {
                let topics: Vec<&String> = alarm
                    .alarm_actions
                    .iter()
                    .filter(|a| a.split(':').nth(2) == Some("sns"))
                    .collect();
                if topics.is_empty() {
                    closest = Some(format!("alarm {} notifies no SNS topic", alarm.name));
                    continue;
                }
                for topic in &topics {
                    if inv.cloudtrail.unread_topics.contains(topic) {
                        unknown = true;
                    }
                    match inv.cloudtrail.topics.iter().find(|s| &&s.arn == topic) {
                        Some(t) if t.is_heard() => return Link::Watched,
                        Some(t) if t.confirmed > 0 => {
                            closest = Some(format!(
                                "alarm {} notifies {topic}, which is encrypted with alias/aws/sns: CloudWatch cannot publish to it",
                                alarm.name
                            ));
                        }
                        _ => {
                            closest = Some(format!(
                                "alarm {} notifies {topic}, which has no confirmed subscriber",
                                alarm.name
                            ));
                        }
                    }
                }
            }
        }
    }
    if unknown {
        return Link::Unknown;
    }
    Link::Missing(closest.unwrap_or_else(|| "its metric filters publish no metric".to_owned()))
}

fn events_unalarmed(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let trails = &inv.cloudtrail.trails;
    // A multi-region trail whose status or selectors are unknown may be the
    // carrier: every activity is unknown.
    if trails.iter().any(|t| {
        t.is_multi_region
            && t.is_logging != Some(false)
            && (t.is_logging.is_none() || t.selectors.is_none())
    }) {
        return Vec::new();
    }
    let carriers: Vec<(&Trail, Option<&TrailLogGroup>)> = trails
        .iter()
        .filter(|t| cannot_carry(t).is_none())
        .map(|t| {
            let arn = t.log_group_arn.as_deref().unwrap_or_default();
            (t, inv.cloudtrail.log_groups.iter().find(|g| g.arn == arn))
        })
        .collect();
    let mut unwatched: Vec<(&Watched, String)> = Vec::new();
    for watched in WATCHED {
        if carriers.is_empty() {
            let why = trails.iter().filter_map(cannot_carry).collect::<Vec<_>>();
            unwatched.push((
                watched,
                if why.is_empty() {
                    "no trail at all".to_owned()
                } else {
                    format!("no trail can carry the alarms: {}", why.join("; "))
                },
            ));
            continue;
        }
        let links: Vec<Link> = carriers
            .iter()
            .map(|(t, g)| match g {
                Some(g) => judge(inv, t, g, watched),
                // Its log group could not be read.
                None => Link::Unknown,
            })
            .collect();
        if links.iter().all(|l| matches!(l, Link::Missing(_))) {
            let reasons: Vec<String> = links
                .into_iter()
                .filter_map(|l| match l {
                    Link::Missing(why) => Some(why),
                    _ => None,
                })
                .collect();
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
            trails
                .iter()
                .map(|t| {
                    json!({
                        "name": t.meta.name,
                        "multi_region": t.is_multi_region,
                        "logging": t.is_logging,
                        "all_management_events": t.selectors.as_ref().map(|s| s.management_events().all()),
                        "log_group": t.log_group_arn,
                        "logs_delivery_error": t.logs_delivery_error,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .evidence(
            "unreadable_filters",
            inv.cloudtrail
                .log_groups
                .iter()
                .flat_map(|g| g.filters.iter().filter_map(|f| {
                    Pattern::parse(&f.pattern).err().map(|e| json!({"log_group": g.name, "filter": f.name, "error": e.to_string()}))
                }))
                .collect::<Vec<_>>(),
        );
    match carriers.iter().find_map(|(_, g)| *g) {
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
            // Only a logging multi-region trail that records every
            // management event and delivers nowhere yet is pointed at a log
            // group here; anything else is cloudtrail.not_multi_region's to fix.
            let ready = trails.iter().find(|t| {
                t.is_multi_region
                    && t.is_logging == Some(true)
                    && t.log_group_arn.is_none()
                    && t.selectors
                        .as_ref()
                        .is_some_and(|s| s.management_events().all())
            });
            match ready {
                Some(t) => {
                    let update = || super::cloudtrail::update_trail(t);
                    v = v
                        .remediation(
                            update()
                                .placeholder("--cloud-watch-logs-log-group-arn", "log-group-arn")
                                .placeholder("--cloud-watch-logs-role-arn", "role-cloudtrail-can-assume-to-write-logs")
                                .note("then scan again: the metric filters and alarms go on that log group"),
                        )
                        .rollback(
                            update()
                                .arg("--cloud-watch-logs-log-group-arn", "")
                                .arg("--cloud-watch-logs-role-arn", "")
                                .note("the trail delivered to no log group before"),
                        );
                }
                None => {
                    v = v
                        .remediation(crate::shell::note_line(
                            "first make a multi-region trail log every management event (cloudtrail.not_multi_region) and deliver to CloudWatch Logs without error, then scan again",
                        ))
                        .rollback(crate::shell::note_line("nothing was changed here"));
                }
            }
        }
    }
    vec![v]
}

/// The benchmark's metric filter and an alarm on it for one activity, and
/// their removal. The names are Sightline's own, so that the fix replaces
/// nothing someone else made (put-metric-filter and put-metric-alarm
/// overwrite a namesake).
fn watch_commands(group: &TrailLogGroup, watched: &Watched) -> (Vec<Command>, Vec<Command>) {
    let mut name = format!("sightline-cis-{}", watched.aspect.replace('_', "-"));
    if group.filters.iter().any(|f| f.name == name) {
        name.push_str("-2");
    }
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
            .placeholder("--alarm-actions", "sns-topic-arn-with-a-confirmed-subscriber")
            .note("an alarm of this name is replaced: aws cloudwatch describe-alarms --alarm-names shows whether one exists"),
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
mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, inventory, meta};
    use crate::inventory::cloudtrail::{
        BasicSelector, EventSelectors, MetricAlarm, TopicSubscribers,
    };

    fn watches(aspect: &str, pattern: &str) -> bool {
        let w = WATCHED.iter().find(|w| w.aspect == aspect).unwrap();
        w.watched_by(&Pattern::parse(pattern).unwrap())
    }

    /// Every pattern the fix puts in place watches what it is for, and no
    /// ordinary call.
    #[test]
    fn each_benchmark_pattern_watches_its_own_activity() {
        for w in WATCHED {
            let p = Pattern::parse(w.pattern).unwrap_or_else(|e| panic!("{}: {e}", w.aspect));
            assert!(w.watched_by(&p), "{} does not watch itself", w.aspect);
            for e in ordinary_events() {
                assert!(!p.matches(&e), "{} matches {e}", w.aspect);
            }
        }
        // Written another way, the same watch still counts.
        assert!(watches(
            "cloudtrail_changes",
            r#"{($.eventName="StopLogging")||($.eventName="StartLogging")||($.eventName="DeleteTrail")||($.eventName="UpdateTrail")||($.eventName="CreateTrail")}"#,
        ));
    }

    /// A filter counts only if it would fire on the activity however it
    /// happens, and not on ordinary calls.
    #[test]
    fn narrowed_partial_or_catch_all_filters_watch_nothing() {
        let trail = "($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging)";
        // One event left out.
        assert!(!watches(
            "cloudtrail_changes",
            "{ ($.eventName = CreateTrail) || ($.eventName = DeleteTrail) }"
        ));
        // Only IAM users' changes: roles and SSO sessions make most of them.
        assert!(!watches(
            "cloudtrail_changes",
            &format!(r#"{{ ({trail}) && ($.userIdentity.type = "IAMUser") }}"#)
        ));
        // Only one region.
        assert!(!watches(
            "cloudtrail_changes",
            &format!(r#"{{ ({trail}) && ($.awsRegion = "us-east-1") }}"#)
        ));
        // Every write, or every event: always in ALARM, so never notifying.
        for catch_all in [r#"{ $.readOnly IS FALSE }"#, r#"{ $.eventName = "*" }"#] {
            assert!(
                WATCHED
                    .iter()
                    .all(|w| !w.watched_by(&Pattern::parse(catch_all).unwrap())),
                "{catch_all}"
            );
        }
        // A wildcard inside a word is that word, not a wildcard.
        assert!(!watches(
            "cloudtrail_changes",
            r#"{ ($.eventName = "*Trail") || ($.eventName = "St*Logging") }"#
        ));
    }

    fn carrier() -> Trail {
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
            logs_delivery_error: None,
            bucket_logging: None,
        }
    }

    fn group(filters: &[(&str, &str)]) -> TrailLogGroup {
        TrailLogGroup {
            arn: "arn:aws:logs:us-east-1:123456789012:log-group:trail:*".into(),
            region: "us-east-1".into(),
            name: "trail".into(),
            exists: true,
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
            comparison: Some("GreaterThanOrEqualToThreshold".into()),
        }
    }

    fn topic(arn: &str, confirmed: usize) -> TopicSubscribers {
        TopicSubscribers {
            arn: arn.into(),
            confirmed,
            kms_key: None,
        }
    }

    fn pattern(aspect: &str) -> &'static str {
        WATCHED.iter().find(|w| w.aspect == aspect).unwrap().pattern
    }

    fn unwatched(inv: &Inventory) -> Vec<(String, String)> {
        events_unalarmed(inv, &ctx())
            .first()
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

    fn why(found: &[(String, String)], aspect: &str) -> Option<String> {
        found
            .iter()
            .find(|(a, _)| a == aspect)
            .map(|(_, w)| w.clone())
    }

    const HEARD: &str = "arn:aws:sns:us-east-1:123456789012:security";
    const SILENT: &str = "arn:aws:sns:us-east-1:123456789012:nobody";

    /// The estate of the chain: each link present or missing in turn.
    fn chain() -> Inventory {
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![carrier()];
        inv.cloudtrail.log_groups = vec![group(&[
            ("trail-changes", pattern("cloudtrail_changes")),
            ("sg-changes", pattern("security_group_changes")),
            ("root", pattern("root_usage")),
            ("nacl", pattern("nacl_changes")),
            ("vpc", pattern("vpc_changes")),
            ("routes", pattern("route_table_changes")),
            ("broken", "{ $.eventName = "),
        ])];
        inv.cloudtrail.alarms = vec![
            alarm("trail-changes", HEARD),
            alarm("sg-changes", SILENT),
            MetricAlarm {
                alarm_actions: Vec::new(),
                ..alarm("nacl", HEARD)
            },
            MetricAlarm {
                comparison: Some("LessThanThreshold".into()),
                ..alarm("vpc", HEARD)
            },
            alarm("routes", "arn:aws:sns:us-east-1:123456789012:encrypted"),
        ];
        inv.cloudtrail.topics = vec![
            topic(HEARD, 1),
            topic(SILENT, 0),
            TopicSubscribers {
                kms_key: Some("alias/aws/sns".into()),
                ..topic("arn:aws:sns:us-east-1:123456789012:encrypted", 2)
            },
        ];
        inv
    }

    #[test]
    fn each_link_of_the_chain_is_judged_and_named() {
        let inv = chain();
        let found = unwatched(&inv);
        assert_eq!(why(&found, "cloudtrail_changes"), None);
        assert_eq!(
            why(&found, "security_group_changes").as_deref(),
            Some("alarm sg-changes-alarm notifies arn:aws:sns:us-east-1:123456789012:nobody, which has no confirmed subscriber")
        );
        assert_eq!(
            why(&found, "root_usage").as_deref(),
            Some("metric filter root publishes CIS/root, but no alarm with actions enabled watches it")
        );
        assert_eq!(
            why(&found, "nacl_changes").as_deref(),
            Some("alarm nacl-alarm notifies no SNS topic")
        );
        assert_eq!(
            why(&found, "vpc_changes").as_deref(),
            Some(
                "alarm vpc-alarm compares with LessThanThreshold: a rising count never sets it off"
            )
        );
        assert_eq!(
            why(&found, "route_table_changes").as_deref(),
            Some("alarm routes-alarm notifies arn:aws:sns:us-east-1:123456789012:encrypted, which is encrypted with alias/aws/sns: CloudWatch cannot publish to it")
        );
        assert_eq!(
            why(&found, "iam_policy_changes").as_deref(),
            Some("no metric filter on log group trail matches it")
        );
        assert_eq!(found.len(), 14);
        let v = &events_unalarmed(&inv, &ctx())[0];
        assert_eq!(v.remediation.len(), 28);
        assert!(v.remediation[0].starts_with(
            "aws logs put-metric-filter --region us-east-1 --log-group-name trail --filter-name sightline-cis-unauthorized-api-calls --filter-pattern '{ ($.errorCode"
        ));
        assert_eq!(
            v.evidence["unreadable_filters"][0]["filter"],
            serde_json::json!("broken")
        );
    }

    /// A link that could not be read leaves its activity unknown: not in
    /// the finding, while what was seen to be missing still is.
    #[test]
    fn an_unread_alarm_or_topic_leaves_only_its_activity_unknown() {
        let mut inv = chain();
        inv.cloudtrail
            .unread_metrics
            .push(("us-east-1".into(), "CIS".into(), "root".into()));
        inv.cloudtrail.topics.retain(|t| t.arn != SILENT);
        inv.cloudtrail.unread_topics.push(SILENT.into());
        let found = unwatched(&inv);
        assert_eq!(why(&found, "root_usage"), None);
        assert_eq!(why(&found, "security_group_changes"), None);
        assert!(why(&found, "vpc_changes").is_some());
        assert_eq!(found.len(), 12);
    }

    #[test]
    fn a_trail_that_cannot_carry_the_watch_leaves_everything_unwatched() {
        let all_filters: Vec<(&str, &str)> =
            WATCHED.iter().map(|w| (w.aspect, w.pattern)).collect();
        for (broken, reason) in [
            (
                (|t: &mut Trail| t.is_multi_region = false) as fn(&mut Trail),
                "trail main is not multi-region",
            ),
            (|t| t.is_logging = Some(false), "trail main is not logging"),
            (
                |t| t.log_group_arn = None,
                "trail main does not deliver to CloudWatch Logs",
            ),
            (
                |t| t.selectors.as_mut().unwrap().basic[0].read_write_type = "WriteOnly".into(),
                "trail main does not record every management event",
            ),
            (
                |t| t.logs_delivery_error = Some("AccessDenied".into()),
                "trail main fails to deliver to CloudWatch Logs (AccessDenied)",
            ),
        ] {
            let mut inv = inventory();
            let mut trail = carrier();
            broken(&mut trail);
            inv.cloudtrail.trails = vec![trail];
            inv.cloudtrail.log_groups = vec![group(&all_filters)];
            let found = unwatched(&inv);
            assert_eq!(found.len(), WATCHED.len(), "{reason}");
            let expected = format!("no trail can carry the alarms: {reason}");
            assert!(found.iter().all(|(_, why)| *why == expected), "{found:?}");
        }
        // The group of a carrier could not be read: unknown, no finding.
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![carrier()];
        assert!(events_unalarmed(&inv, &ctx()).is_empty());
        // No trail at all.
        assert_eq!(unwatched(&inventory()).len(), WATCHED.len());
    }

    /// Leaving KMS events out of the trail leaves key deletions unwatched,
    /// whatever the filters; nothing else changes.
    #[test]
    fn a_trail_that_leaves_kms_out_cannot_watch_key_deletion() {
        let mut inv = inventory();
        let mut trail = carrier();
        trail.selectors.as_mut().unwrap().basic[0].exclude_management_event_sources =
            vec!["kms.amazonaws.com".into()];
        inv.cloudtrail.trails = vec![trail];
        inv.cloudtrail.log_groups = vec![group(&[
            ("keys", pattern("cmk_disable_or_delete")),
            ("trail-changes", pattern("cloudtrail_changes")),
        ])];
        inv.cloudtrail.alarms = vec![alarm("keys", HEARD), alarm("trail-changes", HEARD)];
        inv.cloudtrail.topics = vec![topic(HEARD, 1)];
        let found = unwatched(&inv);
        assert_eq!(
            why(&found, "cmk_disable_or_delete").as_deref(),
            Some("trail main leaves KMS events out")
        );
        assert_eq!(why(&found, "cloudtrail_changes"), None);
    }

    #[test]
    fn a_deleted_log_group_is_a_missing_link_not_a_gap() {
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![carrier()];
        inv.cloudtrail.log_groups = vec![TrailLogGroup {
            exists: false,
            ..group(&[])
        }];
        let found = unwatched(&inv);
        assert_eq!(found.len(), WATCHED.len());
        assert_eq!(found[0].1, "log group trail does not exist");
    }
}
