//! Elastic Load Balancing v2 checks: load balancers with nothing behind
//! them, idle ones, ones in a single Availability Zone, and listeners that
//! serve plain HTTP or accept TLS older than 1.2.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::elb::{Listener, LoadBalancer};
use crate::inventory::metrics::{last_days, MetricKind};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&NO_HEALTHY_TARGETS, &IDLE, &SINGLE_AZ, &LISTENER_INSECURE];

pub static LISTENER_INSECURE: Check = Check {
    id: "elb.listener_insecure",
    title: "Load balancer listener serving plain HTTP or accepting TLS older than 1.2",
    category: Category::Security,
    severity: Severity::Medium,
    service: "elb",
    required_actions: &[
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeSSLPolicies",
    ],
    basis: Basis::Observed,
    risk: "Plain HTTP carries sessions and credentials in clear past everyone on the path; TLS 1.0 and 1.1 have known weaknesses and fail PCI DSS.",
    evaluate: listener_insecure,
};

/// The policy the fix moves a listener to: TLS 1.2 and 1.3 only, for
/// Application and Network Load Balancers alike.
const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// Protocols older than TLS 1.2, as ELB names them.
const WEAK_PROTOCOLS: &[&str] = &["SSLv3", "TLSv1", "TLSv1.1"];

/// An HTTP listener whose default action forwards, authenticates or
/// redirects anywhere but HTTPS (a fixed response alone is not flagged); an HTTPS or TLS listener whose policy,
/// as ELB describes it, accepts a protocol older than TLS 1.2. A policy ELB
/// did not describe is not judged (its read is a gap when it failed).
/// Listener rules are not read: a rule can still serve a path in clear
/// behind a redirecting default.
fn listener_insecure(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let mut found = Vec::new();
    for l in &inv.elb.listeners {
        let port = l.port.map_or("?".to_owned(), |p| p.to_string());
        match l.protocol.as_deref() {
            Some("HTTP") => {
                // A fixed response serves nothing of the application's.
                let answers_only = l.default_actions.iter().all(|a| a.kind == "fixed-response");
                if !answers_only && !l.redirects_to_https() {
                    found.push(plain_http(inv, l, &port));
                }
            }
            Some(protocol @ ("HTTPS" | "TLS")) => {
                let Some(policy) = l.ssl_policy.as_deref() else {
                    continue;
                };
                let Some(accepted) = inv.elb.ssl_protocols(&l.meta.region, policy) else {
                    continue;
                };
                let weak: Vec<&str> = accepted
                    .iter()
                    .map(String::as_str)
                    .filter(|p| WEAK_PROTOCOLS.contains(p))
                    .collect();
                if weak.is_empty() {
                    continue;
                }
                let modify = |to: &str| {
                    Command::aws("elbv2", "modify-listener")
                        .region(&l.meta.region)
                        .arg("--listener-arn", &l.meta.arn)
                        .arg("--ssl-policy", to)
                };
                found.push(
                    Violation::new(
                        &l.meta,
                        format!(
                            "{protocol} listener on port {port} accepts {} ({policy})",
                            weak.join(", ")
                        ),
                    )
                    .evidence("protocol", protocol)
                    .evidence("ssl_policy", policy)
                    .evidence("accepted_protocols", accepted)
                    .remediation(
                        modify(TLS_POLICY)
                            .note("clients that speak only TLS 1.0 or 1.1 will no longer connect"),
                    )
                    .rollback(modify(policy)),
                );
            }
            _ => {}
        }
    }
    found
}

fn plain_http(inv: &Inventory, l: &Listener, port: &str) -> Violation {
    // Where to redirect to: the port of an HTTPS listener beside it.
    let https_port = inv
        .elb
        .listeners
        .iter()
        .filter(|other| {
            other.load_balancer_arn == l.load_balancer_arn
                && other.protocol.as_deref() == Some("HTTPS")
        })
        .filter_map(|other| other.port)
        .min();
    let https_beside = https_port.is_some();
    let saved = format!("listener-{}-default-actions.json", l.meta.id);
    let modify = || {
        Command::aws("elbv2", "modify-listener")
            .region(&l.meta.region)
            .arg("--listener-arn", &l.meta.arn)
    };
    let redirect = modify().arg(
        "--default-actions",
        &format!(
            "Type=redirect,RedirectConfig={{Protocol=HTTPS,Port={},StatusCode=HTTP_301}}",
            https_port.unwrap_or(443)
        ),
    );
    Violation::new(
        &l.meta,
        format!(
            "HTTP listener on port {port} serves requests in clear instead of redirecting to HTTPS"
        ),
    )
    .evidence("protocol", "HTTP")
    .evidence(
        "default_actions",
        l.default_actions
            .iter()
            .map(|a| a.kind.as_str())
            .collect::<Vec<_>>(),
    )
    .evidence("https_listener_on_same_load_balancer", https_beside)
    .remediation(
        Command::aws("elbv2", "describe-listeners")
            .region(&l.meta.region)
            .arg("--listener-arns", &l.meta.arn)
            .arg("--query", "Listeners[0].DefaultActions")
            .arg("--output", "json")
            .save_to(&saved),
    )
    .remediation(if https_beside {
        redirect
    } else {
        redirect.note("first add an HTTPS listener on 443 with a certificate: there is none")
    })
    .rollback(modify().arg("--default-actions", &format!("file://{saved}")))
}

pub static NO_HEALTHY_TARGETS: Check = Check {
    id: "elb.no_healthy_targets",
    title: "Load balancer with no healthy targets",
    category: Category::Cost,
    severity: Severity::Medium,
    service: "elb",
    required_actions: &[
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    ],
    basis: Basis::Absence,
    risk: "A load balancer with no healthy target serves only errors and is billed by the hour.",
    evaluate: no_healthy_targets,
};

fn no_healthy_targets(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.elb
        .load_balancers
        .iter()
        .filter(|lb| lb.lb_type != "gateway")
        .filter_map(|lb| {
            let groups: Vec<_> = inv
                .elb
                .target_groups
                .iter()
                .filter(|tg| tg.load_balancer_arns.contains(&lb.meta.arn))
                .collect();
            // No target group: a redirect or fixed-response balancer, not a broken one.
            // A group whose health could not be read, or whose targets report no
            // health at all (`unavailable`, e.g. Lambda without health checks), is unknown.
            if groups.is_empty()
                || groups.iter().any(|tg| {
                    tg.targets
                        .as_ref()
                        .is_none_or(|t| t.iter().any(|x| x.state == "unavailable"))
                })
            {
                return None;
            }
            let healthy = groups
                .iter()
                .flat_map(|tg| tg.targets.iter().flatten())
                .filter(|t| t.state == "healthy")
                .count();
            if healthy > 0 {
                return None;
            }
            let registered: usize = groups
                .iter()
                .map(|tg| tg.targets.as_ref().map_or(0, Vec::len))
                .sum();
            Some(
                Violation::new(
                    &lb.meta,
                    format!(
                        "{} target group(s), {registered} target(s), none healthy",
                        groups.len()
                    ),
                )
                .evidence(
                    "target_groups",
                    groups
                        .iter()
                        .map(|tg| tg.meta.arn.clone())
                        .collect::<Vec<_>>(),
                )
                .evidence("registered_targets", registered)
                .evidence("healthy_targets", 0)
                .remediation(delete_load_balancer(lb))
                .rollback(
                    recreate_load_balancer(lb)
                        .note("recreate listeners too; the DNS name will change"),
                )
                .savings(ctx.prices.load_balancer(&lb.meta.region)),
            )
        })
        .collect()
}

fn delete_load_balancer(lb: &LoadBalancer) -> Command {
    Command::aws("elbv2", "delete-load-balancer")
        .region(&lb.meta.region)
        .arg("--load-balancer-arn", &lb.meta.arn)
}

fn recreate_load_balancer(lb: &LoadBalancer) -> Command {
    Command::aws("elbv2", "create-load-balancer")
        .region(&lb.meta.region)
        .arg_or("--name", lb.meta.name.as_deref(), "name")
        .arg("--type", &lb.lb_type)
        .placeholder("--subnets", "subnet-ids")
}

/// Trusted Advisor calls a load balancer idle below 100 requests a day for 7 days.
pub const IDLE_REQUESTS_PER_DAY: f64 = 100.0;

pub static IDLE: Check = Check {
    id: "elb.idle",
    title: "Load balancer with negligible requests (< 100 a day for 7 days)",
    category: Category::Cost,
    severity: Severity::Low,
    service: "elb",
    required_actions: &[
        "elasticloadbalancing:DescribeLoadBalancers",
        "cloudwatch:GetMetricData",
    ],
    basis: Basis::Absence,
    risk:
        "A load balancer that serves almost nothing is billed the same hourly charge as a busy one.",
    evaluate: idle,
};

fn idle(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.elb
        .load_balancers
        .iter()
        .filter(|lb| lb.traffic_metric().is_some())
        .filter_map(|lb| {
            // CloudWatch sends no RequestCount on a day without requests.
            let series = inv.metrics.series(&lb.meta.arn, MetricKind::LbRequests);
            let recent = last_days(series, ctx.day_start_days_ago(0), 7, lb.created_time)?;
            if recent.iter().any(|v| *v >= IDLE_REQUESTS_PER_DAY) {
                return None;
            }
            let total: f64 = recent.iter().sum();
            Some(
                Violation::new(&lb.meta, format!("{total} requests in the last 7 days"))
                    .evidence("requests_last_7_days", total)
                    .evidence("daily_values", &recent)
                    .remediation(delete_load_balancer(lb))
                    .rollback(recreate_load_balancer(lb).note("recreate listeners too"))
                    .savings(ctx.prices.load_balancer(&lb.meta.region)),
            )
        })
        .collect()
}

pub static SINGLE_AZ: Check = Check {
    id: "elb.single_az",
    title: "Load balancer in a single Availability Zone",
    category: Category::Reliability,
    severity: Severity::Medium,
    service: "elb",
    required_actions: &["elasticloadbalancing:DescribeLoadBalancers"],
    basis: Basis::Observed,
    risk: "A load balancer in one AZ goes down with that AZ, however many targets stand elsewhere.",
    evaluate: single_az,
};

fn single_az(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.elb
        .load_balancers
        .iter()
        .filter(|lb| lb.availability_zones.len() < 2)
        .map(|lb| {
            let region = &lb.meta.region;
            Violation::new(
                &lb.meta,
                format!(
                    "Enabled in {} Availability Zone(s)",
                    lb.availability_zones.len()
                ),
            )
            .evidence("availability_zones", &lb.availability_zones)
            .remediation(
                Command::aws("elbv2", "set-subnets")
                    .region(region)
                    .arg("--load-balancer-arn", &lb.meta.arn)
                    .placeholders("--subnets", &["subnet-in-az-1", "subnet-in-az-2"]),
            )
            .rollback(
                Command::aws("elbv2", "set-subnets")
                    .region(region)
                    .arg("--load-balancer-arn", &lb.meta.arn)
                    .placeholder("--subnets", "original-subnet-id"),
            )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::Duration;

    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::elb::{ListenerAction, LoadBalancer, TargetGroup, TargetHealth};

    fn listener(
        id: &str,
        lb: &str,
        protocol: &str,
        port: i32,
        actions: &[(&str, Option<&str>)],
        policy: Option<&str>,
    ) -> Listener {
        Listener {
            meta: meta("elb.listener", id, "us-east-1"),
            load_balancer_arn: format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/{lb}/1"
            ),
            port: Some(port),
            protocol: Some(protocol.into()),
            default_actions: actions
                .iter()
                .map(|(kind, to)| ListenerAction {
                    kind: kind.to_string(),
                    redirect_protocol: to.map(str::to_owned),
                })
                .collect(),
            ssl_policy: policy.map(str::to_owned),
        }
    }

    fn policies(inv: &mut Inventory) {
        inv.elb.ssl_policies.insert(
            "us-east-1".into(),
            [
                (
                    "ELBSecurityPolicy-2016-08",
                    &["TLSv1", "TLSv1.1", "TLSv1.2"][..],
                ),
                (
                    "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    &["TLSv1.2", "TLSv1.3"][..],
                ),
            ]
            .into_iter()
            .map(|(name, protocols)| {
                (
                    name.to_owned(),
                    protocols.iter().map(|p| p.to_string()).collect(),
                )
            })
            .collect(),
        );
    }

    #[test]
    fn listeners_in_clear_or_on_old_tls_are_flagged_and_their_twins_are_not() {
        let mut inv = inventory();
        policies(&mut inv);
        let forward = [("forward", None)];
        inv.elb.listeners = vec![
            listener("plain", "shop", "HTTP", 80, &forward, None),
            listener(
                "oidc-plain",
                "shop",
                "HTTP",
                8080,
                &[("authenticate-oidc", None), ("forward", None)],
                None,
            ),
            listener(
                "redirect",
                "site",
                "HTTP",
                80,
                &[("redirect", Some("HTTPS"))],
                None,
            ),
            // A redirect that keeps the protocol still serves in clear.
            listener(
                "same-protocol",
                "site",
                "HTTP",
                81,
                &[("redirect", Some("#{protocol}"))],
                None,
            ),
            listener(
                "not-found",
                "site",
                "HTTP",
                82,
                &[("fixed-response", None)],
                None,
            ),
            listener(
                "old-tls",
                "site",
                "HTTPS",
                443,
                &forward,
                Some("ELBSecurityPolicy-2016-08"),
            ),
            listener(
                "new-tls",
                "shop",
                "HTTPS",
                443,
                &forward,
                Some("ELBSecurityPolicy-TLS13-1-2-2021-06"),
            ),
            // A policy ELB did not describe is not judged.
            listener(
                "unknown-policy",
                "shop",
                "TLS",
                8443,
                &forward,
                Some("ELBSecurityPolicy-Custom"),
            ),
            listener("tcp", "nlb", "TCP", 22, &forward, None),
        ];
        assert_eq!(
            flagged(&LISTENER_INSECURE, &inv),
            ["oidc-plain", "old-tls", "plain", "same-protocol"]
        );
        let found = (LISTENER_INSECURE.evaluate)(&inv, &ctx());
        let by_id = |id: &str| found.iter().find(|v| v.resource.id == id).unwrap();
        let tls = by_id("old-tls");
        assert!(tls.message.contains("TLSv1, TLSv1.1"), "{}", tls.message);
        assert!(tls.remediation[0].contains("--ssl-policy ELBSecurityPolicy-TLS13-1-2-2021-06"));
        assert!(tls.rollback[0].contains("--ssl-policy ELBSecurityPolicy-2016-08"));
        // The redirect keeps the listener's actions to roll back to.
        let plain = by_id("plain");
        assert!(
            plain.remediation[0].contains("describe-listeners"),
            "{:?}",
            plain.remediation
        );
        assert!(
            plain.remediation[1].contains("Type=redirect"),
            "{:?}",
            plain.remediation
        );
        assert!(
            plain.rollback[0].contains("file://listener-plain-default-actions.json"),
            "{:?}",
            plain.rollback
        );
        assert_eq!(plain.evidence["https_listener_on_same_load_balancer"], true);
        // Without an HTTPS listener beside it, the fix says to add one first.
        let same = by_id("same-protocol");
        assert_eq!(same.evidence["https_listener_on_same_load_balancer"], true);
        let mut alone = inventory();
        alone.elb.listeners = vec![listener("alone", "solo", "HTTP", 80, &forward, None)];
        let alone = &(LISTENER_INSECURE.evaluate)(&alone, &ctx())[0];
        assert!(
            alone.remediation[1].contains("first add an HTTPS listener"),
            "{:?}",
            alone.remediation
        );
    }

    fn lb(id: &str, azs: &[&str]) -> LoadBalancer {
        let mut m = meta("elb.load_balancer", id, "us-east-1");
        m.arn =
            format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/{id}/1");
        LoadBalancer {
            meta: m,
            lb_type: "application".into(),
            scheme: None,
            state: None,
            availability_zones: azs.iter().map(|s| s.to_string()).collect(),
            created_time: None,
            dns_name: None,
        }
    }

    fn group(id: &str, lb: &str, states: Option<&[&str]>) -> TargetGroup {
        TargetGroup {
            meta: meta("elb.target_group", id, "us-east-1"),
            load_balancer_arns: vec![format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/{lb}/1"
            )],
            target_type: Some("instance".into()),
            targets: states.map(|s| {
                s.iter()
                    .map(|state| TargetHealth {
                        target_id: "i-1".into(),
                        port: Some(80),
                        state: state.to_string(),
                    })
                    .collect()
            }),
        }
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut sick = inventory();
        sick.elb.load_balancers = vec![lb("sick", &["a", "b"])];
        sick.elb.target_groups = vec![group("tg-sick", "sick", Some(&["unhealthy"]))];
        // No datapoint in a week from a month-old balancer: idle, as far as CloudWatch knows.
        let mut idle = inventory();
        let mut quiet = lb("quiet", &["a", "b"]);
        quiet.created_time = Some(ctx().now - Duration::days(30));
        idle.elb.load_balancers = vec![quiet];
        vec![(&NO_HEALTHY_TARGETS, sick), (&IDLE, idle)]
    }

    /// CloudWatch has no request metric for a Gateway Load Balancer (none is
    /// fetched), so no datapoint there says nothing about its traffic.
    #[test]
    fn a_gateway_load_balancer_is_never_idle_for_want_of_a_metric() {
        let mut inv = inventory();
        let mut gateway = lb("inspection", &["a", "b"]);
        gateway.lb_type = "gateway".into();
        gateway.created_time = Some(ctx().now - Duration::days(30));
        let mut classic_like = lb("unknown-kind", &["a", "b"]);
        classic_like.lb_type = "something-new".into();
        classic_like.created_time = Some(ctx().now - Duration::days(30));
        inv.elb.load_balancers = vec![gateway, classic_like];
        assert!(flagged(&IDLE, &inv).is_empty());
    }

    #[test]
    fn healthy_targets_idle_traffic_and_zones() {
        let mut inv = inventory();
        inv.elb.load_balancers = vec![
            lb("empty", &["a", "b"]),
            lb("sick", &["a", "b"]),
            lb("fine", &["a"]),
            lb("unknown", &["a", "b"]),
        ];
        inv.elb.target_groups = vec![
            group("tg-sick", "sick", Some(&["unhealthy"])),
            group("tg-fine", "fine", Some(&["healthy", "unhealthy"])),
            group("tg-unknown", "unknown", None),
        ];
        // "empty" has no target group at all (a redirect-only balancer): not flagged.
        assert_eq!(flagged(&NO_HEALTHY_TARGETS, &inv), ["sick"]);
        assert_eq!(flagged(&SINGLE_AZ, &inv), ["fine"]);
        let lb_arn = |id: &str| {
            format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/{id}/1")
        };
        for d in 1..=7 {
            let day = ctx().day_start_days_ago(d);
            inv.metrics
                .add(&lb_arn("fine"), MetricKind::LbRequests, day, 3.0);
            if d != 4 {
                inv.metrics
                    .add(&lb_arn("sick"), MetricKind::LbRequests, day, 500.0);
            }
        }
        // "empty" has no datapoint at all: idle only once it existed all week.
        assert_eq!(flagged(&IDLE, &inv), ["fine"]);
        inv.elb.load_balancers[0].created_time = Some(ctx().now - Duration::days(30));
        assert_eq!(flagged(&IDLE, &inv), ["empty", "fine"]);
    }
}
