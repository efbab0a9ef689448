//! Elastic Load Balancing checks, v2 and Classic alike: load balancers with
//! nothing behind them, idle ones, ones in a single Availability Zone, and
//! listeners that serve plain HTTP or accept TLS older than 1.2. A Classic
//! Load Balancer is managed through `aws elb`, by name, and its fixes say so.

use super::{Basis, Check, CheckContext};
use crate::finding::Savings;
use crate::finding::{Category, Severity, Violation};
use crate::inventory::elb::{ClassicListener, Listener, LoadBalancer};
use crate::inventory::metrics::{last_days, MetricKind};
use crate::inventory::Inventory;
use crate::prices::PriceTable;
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
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
    ],
    basis: Basis::Observed,
    risk: "Plain HTTP carries sessions and credentials in clear past everyone on the path; TLS 1.0 and 1.1 have known weaknesses and fail PCI DSS.",
    evaluate: listener_insecure,
};

/// The policy the fix moves a listener to: TLS 1.2 and 1.3 only, for
/// Application and Network Load Balancers alike.
const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// The predefined policy a Classic listener's fix refers to: TLS 1.2 only
/// (Classic Load Balancers have no TLS 1.3 policy).
const CLASSIC_TLS_POLICY: &str = "ELBSecurityPolicy-TLS-1-2-2017-01";

/// The name of the policy that fix creates on the load balancer.
const CLASSIC_TLS_POLICY_NAME: &str = "Sightline-TLS-1-2-2017-01";

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
    found.extend(
        inv.elb
            .load_balancers
            .iter()
            .filter(|lb| lb.is_classic())
            .filter_map(classic_listeners_insecure),
    );
    found
}

/// The protocols older than TLS 1.2 that a Classic HTTPS or SSL listener's
/// negotiation policy enables; `None` when that policy was not described.
fn classic_weak_protocols(l: &ClassicListener) -> Option<Vec<&str>> {
    let accepted = l.ssl_protocols.as_ref()?;
    let weak: Vec<&str> = accepted
        .iter()
        .map(String::as_str)
        .filter(|p| WEAK_PROTOCOLS.contains(p))
        .collect();
    (!weak.is_empty()).then_some(weak)
}

/// A Classic Load Balancer's HTTP listeners (it cannot redirect, so each
/// serves in clear) and its HTTPS or SSL listeners whose policy enables TLS
/// older than 1.2: one finding per load balancer, a fix per listener. A TCP
/// listener passes bytes through (the application may speak TLS itself)
/// and is not judged, as for a Network Load Balancer.
fn classic_listeners_insecure(lb: &LoadBalancer) -> Option<Violation> {
    let region = &lb.meta.region;
    let name = classic_name(lb);
    let plain: Vec<&ClassicListener> = lb
        .classic_listeners
        .iter()
        .filter(|l| l.protocol == "HTTP")
        .collect();
    let weak: Vec<(&ClassicListener, Vec<&str>)> = lb
        .classic_listeners
        .iter()
        .filter(|l| matches!(l.protocol.as_str(), "HTTPS" | "SSL"))
        .filter_map(|l| classic_weak_protocols(l).map(|w| (l, w)))
        .collect();
    if plain.is_empty() && weak.is_empty() {
        return None;
    }
    let mut problems: Vec<String> = plain
        .iter()
        .map(|l| {
            format!(
                "HTTP listener on port {} serves requests in clear (a Classic Load Balancer cannot redirect to HTTPS)",
                l.port
            )
        })
        .collect();
    problems.extend(weak.iter().map(|(l, w)| {
        format!(
            "{} listener on port {} accepts {} ({})",
            l.protocol,
            l.port,
            w.join(", "),
            l.reference_policy
                .as_deref()
                .or(l.ssl_policy.as_deref())
                .unwrap_or("its policy")
        )
    }));
    let https_port = lb
        .classic_listeners
        .iter()
        .filter(|l| l.protocol == "HTTPS")
        .map(|l| l.port)
        .min();
    let mut v = Violation::new(&lb.meta, problems.join("; "))
        .evidence("load_balancer_type", "classic")
        .evidence(
            "plain_http_ports",
            plain.iter().map(|l| l.port).collect::<Vec<_>>(),
        )
        .evidence(
            "weak_tls_listeners",
            weak.iter()
                .map(|(l, w)| {
                    serde_json::json!({
                        "port": l.port,
                        "protocol": l.protocol,
                        "policy": l.ssl_policy,
                        "reference_policy": l.reference_policy,
                        "weak_protocols": w,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .evidence("https_listener_on_same_load_balancer", https_port.is_some());
    let elb = |operation| {
        Command::aws("elb", operation)
            .region(region)
            .arg("--load-balancer-name", name)
    };
    // Without an HTTPS listener, one is added first (once), on 443 unless
    // another listener holds that port.
    let mut added_https = None;
    if let (None, Some(first)) = (https_port, plain.first()) {
        let holder = lb.classic_listeners.iter().find(|l| l.port == 443);
        let port = if holder.is_some() {
            "<free-port>"
        } else {
            "443"
        };
        let mut note = "an HTTPS listener needs a certificate from ACM or IAM: there is none on this load balancer".to_owned();
        if let Some(holder) = holder {
            note.push_str(&format!(
                "; port 443 is taken by its {} listener, so choose a free port",
                holder.protocol
            ));
        }
        v = v.remediation(
            elb("create-load-balancer-listeners")
                .arg(
                    "--listeners",
                    &format!(
                        "Protocol=HTTPS,LoadBalancerPort={port},InstanceProtocol={},InstancePort={},SSLCertificateId=<certificate-arn>",
                        first.instance_protocol.as_deref().unwrap_or("HTTP"),
                        first.instance_port
                    ),
                )
                .note(&note),
        );
        added_https = Some(port);
    }
    for l in &plain {
        v = v.remediation(
            elb("delete-load-balancer-listeners")
                .arg("--load-balancer-ports", &l.port.to_string())
                .note("clients that still use http:// will no longer connect; to redirect them instead, move to an Application Load Balancer"),
        );
    }
    // Rolled back in reverse: each HTTP listener with its policies, then
    // the HTTPS listener that was added.
    for l in &plain {
        v = v.rollback(elb("create-load-balancer-listeners").arg(
            "--listeners",
            &format!(
                "Protocol=HTTP,LoadBalancerPort={},InstanceProtocol={},InstancePort={}",
                l.port,
                l.instance_protocol.as_deref().unwrap_or("HTTP"),
                l.instance_port
            ),
        ));
        if !l.policy_names.is_empty() {
            v = v.rollback(
                elb("set-load-balancer-policies-of-listener")
                    .arg("--load-balancer-port", &l.port.to_string())
                    .args("--policy-names", l.policy_names.iter().map(String::as_str)),
            );
        }
    }
    if let Some(port) = added_https {
        v = v.rollback(elb("delete-load-balancer-listeners").arg("--load-balancer-ports", port));
    }
    if !weak.is_empty() {
        v = v.remediation(
            elb("create-load-balancer-policy")
                .arg("--policy-name", CLASSIC_TLS_POLICY_NAME)
                .arg("--policy-type-name", "SSLNegotiationPolicyType")
                .arg(
                    "--policy-attributes",
                    &format!("AttributeName=Reference-Security-Policy,AttributeValue={CLASSIC_TLS_POLICY}"),
                ),
        );
    }
    for (l, _) in &weak {
        // The call replaces every policy of the listener: keep the others.
        let with: Vec<&str> = l
            .policy_names
            .iter()
            .map(|p| {
                if Some(p) == l.ssl_policy.as_ref() {
                    CLASSIC_TLS_POLICY_NAME
                } else {
                    p.as_str()
                }
            })
            .collect();
        let set = |names: Vec<&str>| {
            elb("set-load-balancer-policies-of-listener")
                .arg("--load-balancer-port", &l.port.to_string())
                .args("--policy-names", names)
        };
        v = v
            .remediation(
                set(with).note("clients that speak only TLS 1.0 or 1.1 will no longer connect"),
            )
            .rollback(set(l.policy_names.iter().map(String::as_str).collect()));
    }
    Some(v)
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
        "elasticloadbalancing:DescribeInstanceHealth",
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
            if lb.is_classic() {
                return classic_without_instances(lb, &ctx.prices);
            }
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
                .savings(hourly_price(lb, &ctx.prices)),
            )
        })
        .collect()
}

/// A Classic Load Balancer with no instance in service: none registered,
/// or every one `OutOfService`. An instance in state `Unknown` (ELB could
/// not tell), or health that could not be read, leaves it unjudged.
fn classic_without_instances(lb: &LoadBalancer, prices: &PriceTable) -> Option<Violation> {
    let instances = lb.classic_instances.as_ref()?;
    if instances
        .iter()
        .any(|i| i.state == "InService" || i.state == "Unknown")
    {
        return None;
    }
    let message = if instances.is_empty() {
        "No instance registered: every request gets a 503".to_owned()
    } else {
        format!(
            "{} registered instance(s), none in service",
            instances.len()
        )
    };
    Some(
        Violation::new(&lb.meta, message)
            .evidence("load_balancer_type", "classic")
            .evidence(
                "registered_instances",
                instances
                    .iter()
                    .map(|i| i.target_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .evidence("in_service_instances", 0)
            .remediation(save_load_balancer(lb))
            .remediation(delete_load_balancer(lb))
            .rollback(recreate_load_balancer(lb))
            .savings(hourly_price(lb, prices)),
    )
}

/// What the load balancer's hour costs: a Classic's differs from v2's.
fn hourly_price(lb: &LoadBalancer, prices: &PriceTable) -> Option<Savings> {
    if lb.is_classic() {
        prices.classic_load_balancer(&lb.meta.region)
    } else {
        prices.load_balancer(&lb.meta.region)
    }
}

/// A Classic Load Balancer's name, which every `aws elb` command takes:
/// its id, never its `Name` tag.
fn classic_name(lb: &LoadBalancer) -> &str {
    &lb.meta.id
}

/// The files a Classic Load Balancer's configuration is saved to before it
/// is deleted, `classic-load-balancer-<region>-<name>-<part>.json`.
fn saved_file(lb: &LoadBalancer, part: &str) -> String {
    format!(
        "classic-load-balancer-{}-{}-{part}.json",
        lb.meta.region,
        classic_name(lb)
    )
}

/// Before a Classic Load Balancer is deleted, everything recreating it
/// needs is kept: its description (listeners, health check, subnets,
/// security groups, instances), its policies with their attributes, its
/// attributes (cross-zone, draining, access logs, idle timeout) and its tags.
fn save_load_balancer(lb: &LoadBalancer) -> Command {
    let save = |operation, names_flag, part: &str| {
        Command::aws("elb", operation)
            .region(&lb.meta.region)
            .arg(names_flag, classic_name(lb))
            .arg("--output", "json")
            .save_to(&saved_file(lb, part))
    };
    save(
        "describe-load-balancers",
        "--load-balancer-names",
        "description",
    )
    .and_then(save(
        "describe-load-balancer-policies",
        "--load-balancer-name",
        "policies",
    ))
    .and_then(save(
        "describe-load-balancer-attributes",
        "--load-balancer-name",
        "attributes",
    ))
    .and_then(save("describe-tags", "--load-balancer-names", "tags"))
}

fn delete_load_balancer(lb: &LoadBalancer) -> Command {
    if lb.is_classic() {
        return Command::aws("elb", "delete-load-balancer")
            .region(&lb.meta.region)
            .arg("--load-balancer-name", classic_name(lb));
    }
    Command::aws("elbv2", "delete-load-balancer")
        .region(&lb.meta.region)
        .arg("--load-balancer-arn", &lb.meta.arn)
}

fn recreate_load_balancer(lb: &LoadBalancer) -> Command {
    if lb.is_classic() {
        let mut create = Command::aws("elb", "create-load-balancer")
            .region(&lb.meta.region)
            .arg("--load-balancer-name", classic_name(lb))
            .placeholder("--listeners", "listeners-from-the-saved-description")
            .placeholder("--subnets", "subnet-ids")
            .placeholder("--security-groups", "security-group-ids");
        if lb.scheme.as_deref() == Some("internal") {
            create = create.arg("--scheme", "internal");
        }
        return create.note(&format!(
            "then, from the files saved before the delete ({}), re-create the policies, re-apply the listeners' policies, attributes, health check and tags, and re-register the instances; the DNS name will change",
            saved_file(lb, "*")
        ));
    }
    Command::aws("elbv2", "create-load-balancer")
        .region(&lb.meta.region)
        .arg("--name", &lb.meta.id)
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
            let mut v = Violation::new(&lb.meta, format!("{total} requests in the last 7 days"))
                .evidence("requests_last_7_days", total)
                .evidence("daily_values", &recent);
            if lb.is_classic() {
                v = v
                    .evidence("load_balancer_type", "classic")
                    .remediation(save_load_balancer(lb));
            }
            let recreate = if lb.is_classic() {
                recreate_load_balancer(lb)
            } else {
                recreate_load_balancer(lb).note("recreate listeners too")
            };
            Some(
                v.remediation(delete_load_balancer(lb))
                    .rollback(recreate)
                    .savings(hourly_price(lb, &ctx.prices)),
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
            let v = Violation::new(
                &lb.meta,
                format!(
                    "Enabled in {} Availability Zone(s)",
                    lb.availability_zones.len()
                ),
            )
            .evidence("availability_zones", &lb.availability_zones);
            if lb.is_classic() {
                let subnets = |operation| {
                    Command::aws("elb", operation)
                        .region(region)
                        .arg("--load-balancer-name", classic_name(lb))
                        .placeholder("--subnets", "subnet-in-another-az")
                };
                return v
                    .evidence("load_balancer_type", "classic")
                    .remediation(
                        subnets("attach-load-balancer-to-subnets")
                            .note("register instances in that Availability Zone too, or enable cross-zone load balancing"),
                    )
                    .rollback(subnets("detach-load-balancer-from-subnets"));
            }
            v.remediation(
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
    use crate::inventory::elb::{
        ClassicListener, ListenerAction, LoadBalancer, TargetGroup, TargetHealth,
    };

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
            classic_listeners: Vec::new(),
            classic_instances: None,
        }
    }

    /// A Classic Load Balancer in two AZs; `instances` are the states of
    /// its registered instances, `None` when their health was not read.
    fn classic(
        name: &str,
        listeners: Vec<ClassicListener>,
        instances: Option<&[&str]>,
    ) -> LoadBalancer {
        let mut m = meta("elb.classic_load_balancer", name, "us-east-1");
        m.arn = format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/{name}");
        // A `Name` tag that is not its name: commands must use the name.
        m.name = Some(format!("tagged-{name}"));
        LoadBalancer {
            meta: m,
            lb_type: "classic".into(),
            scheme: Some("internet-facing".into()),
            state: None,
            availability_zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            created_time: None,
            dns_name: None,
            classic_listeners: listeners,
            classic_instances: instances.map(|states| {
                states
                    .iter()
                    .enumerate()
                    .map(|(i, state)| TargetHealth {
                        target_id: format!("i-{i}"),
                        port: None,
                        state: state.to_string(),
                    })
                    .collect()
            }),
        }
    }

    /// A Classic listener; `tls` is its negotiation policy's name and the
    /// protocols it enables (`None`: not described), then its other policies.
    fn classic_listener(
        protocol: &str,
        port: i32,
        tls: Option<(&str, Option<&[&str]>)>,
        others: &[&str],
    ) -> ClassicListener {
        let mut policy_names: Vec<String> = tls.iter().map(|(name, _)| name.to_string()).collect();
        policy_names.extend(others.iter().map(|p| p.to_string()));
        ClassicListener {
            port,
            protocol: protocol.into(),
            instance_port: 8080,
            instance_protocol: Some("HTTP".into()),
            policy_names,
            ssl_policy: tls.map(|(name, _)| name.into()),
            reference_policy: tls.map(|_| "ELBSecurityPolicy-2016-08".into()),
            ssl_protocols: tls
                .and_then(|(_, protocols)| protocols)
                .map(|p| p.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn classic_listeners_in_clear_or_on_old_tls_are_flagged_with_fixes_through_aws_elb() {
        let old: &[&str] = &["TLSv1", "TLSv1.2"];
        let new: &[&str] = &["TLSv1.2"];
        let mut inv = inventory();
        inv.elb.load_balancers = vec![
            classic(
                "clb-plain",
                vec![classic_listener("HTTP", 80, None, &["sticky"])],
                Some(&["InService"]),
            ),
            // Port 443 held by an SSL listener, two HTTP listeners: one HTTPS
            // listener is added, on a port the human chooses.
            classic(
                "clb-busy-443",
                vec![
                    classic_listener("HTTP", 80, None, &[]),
                    classic_listener("HTTP", 8000, None, &[]),
                    classic_listener("SSL", 443, Some(("tls12", Some(new))), &[]),
                ],
                Some(&["InService"]),
            ),
            classic(
                "clb-old-tls",
                vec![classic_listener(
                    "HTTPS",
                    443,
                    Some(("my-tls", Some(old))),
                    &["sticky"],
                )],
                Some(&["InService"]),
            ),
            classic(
                "clb-mixed",
                vec![
                    classic_listener("HTTP", 80, None, &[]),
                    classic_listener("HTTPS", 443, Some(("tls12", Some(new))), &[]),
                ],
                Some(&["InService"]),
            ),
            classic(
                "clb-sound",
                vec![
                    classic_listener("SSL", 8443, Some(("tls12", Some(new))), &[]),
                    classic_listener("TCP", 22, None, &[]),
                ],
                Some(&["InService"]),
            ),
            // A negotiation policy ELB did not describe is not judged.
            classic(
                "clb-undescribed",
                vec![classic_listener("HTTPS", 443, Some(("gone", None)), &[])],
                Some(&["InService"]),
            ),
        ];
        assert_eq!(
            flagged(&LISTENER_INSECURE, &inv),
            ["clb-busy-443", "clb-mixed", "clb-old-tls", "clb-plain"]
        );
        let found = (LISTENER_INSECURE.evaluate)(&inv, &ctx());
        let by_id = |id: &str| found.iter().find(|v| v.resource.id == id).unwrap();

        // No HTTPS listener: add one (a certificate is a human's choice), then drop HTTP.
        let plain = by_id("clb-plain");
        assert!(
            plain.message.contains("cannot redirect"),
            "{}",
            plain.message
        );
        assert_eq!(
            plain.remediation[0],
            "aws elb create-load-balancer-listeners --region us-east-1 --load-balancer-name clb-plain --listeners 'Protocol=HTTPS,LoadBalancerPort=443,InstanceProtocol=HTTP,InstancePort=8080,SSLCertificateId=<certificate-arn>'  # an HTTPS listener needs a certificate from ACM or IAM: there is none on this load balancer"
        );
        assert!(
            plain.remediation[1].starts_with(
                "aws elb delete-load-balancer-listeners --region us-east-1 --load-balancer-name clb-plain --load-balancer-ports 80"
            ),
            "{:?}",
            plain.remediation
        );
        // Rolled back in reverse: HTTP with its policies, then the added HTTPS.
        assert_eq!(
            plain.rollback,
            [
                "aws elb create-load-balancer-listeners --region us-east-1 --load-balancer-name clb-plain --listeners Protocol=HTTP,LoadBalancerPort=80,InstanceProtocol=HTTP,InstancePort=8080",
                "aws elb set-load-balancer-policies-of-listener --region us-east-1 --load-balancer-name clb-plain --load-balancer-port 80 --policy-names sticky",
                "aws elb delete-load-balancer-listeners --region us-east-1 --load-balancer-name clb-plain --load-balancer-ports 443",
            ]
        );
        let busy = by_id("clb-busy-443");
        let adds: Vec<&String> = busy
            .remediation
            .iter()
            .filter(|r| r.contains("create-load-balancer-listeners"))
            .collect();
        assert_eq!(adds.len(), 1, "{:?}", busy.remediation);
        assert!(
            adds[0].contains("LoadBalancerPort=<free-port>")
                && adds[0].contains("port 443 is taken by its SSL listener"),
            "{}",
            adds[0]
        );
        assert_eq!(
            busy.rollback.last().unwrap(),
            "aws elb delete-load-balancer-listeners --region us-east-1 --load-balancer-name clb-busy-443 --load-balancer-ports '<free-port>'"
        );
        assert!(!busy
            .rollback
            .iter()
            .any(|r| r.ends_with("--load-balancer-ports 443")));
        // With HTTPS beside it, only the HTTP listener goes.
        let mixed = by_id("clb-mixed");
        assert_eq!(mixed.remediation.len(), 1, "{:?}", mixed.remediation);
        assert!(mixed.remediation[0].contains("delete-load-balancer-listeners"));

        // Old TLS: a TLS 1.2 policy is made and replaces only the negotiation policy.
        let tls = by_id("clb-old-tls");
        assert!(
            tls.message
                .contains("HTTPS listener on port 443 accepts TLSv1 (ELBSecurityPolicy-2016-08)"),
            "{}",
            tls.message
        );
        assert_eq!(
            tls.remediation,
            [
                "aws elb create-load-balancer-policy --region us-east-1 --load-balancer-name clb-old-tls --policy-name Sightline-TLS-1-2-2017-01 --policy-type-name SSLNegotiationPolicyType --policy-attributes AttributeName=Reference-Security-Policy,AttributeValue=ELBSecurityPolicy-TLS-1-2-2017-01",
                "aws elb set-load-balancer-policies-of-listener --region us-east-1 --load-balancer-name clb-old-tls --load-balancer-port 443 --policy-names Sightline-TLS-1-2-2017-01 sticky  # clients that speak only TLS 1.0 or 1.1 will no longer connect",
            ]
        );
        assert_eq!(
            tls.rollback,
            ["aws elb set-load-balancer-policies-of-listener --region us-east-1 --load-balancer-name clb-old-tls --load-balancer-port 443 --policy-names my-tls sticky"]
        );
    }

    #[test]
    fn a_classic_load_balancer_without_an_instance_in_service_is_flagged_at_the_classic_price() {
        let mut inv = inventory();
        inv.elb.load_balancers = vec![
            classic("clb-empty", vec![], Some(&[])),
            classic("clb-down", vec![], Some(&["OutOfService", "OutOfService"])),
            classic("clb-up", vec![], Some(&["OutOfService", "InService"])),
            // ELB could not tell, or health was not read: unjudged.
            classic("clb-unknown", vec![], Some(&["Unknown", "OutOfService"])),
            classic("clb-unread", vec![], None),
        ];
        assert_eq!(
            flagged(&NO_HEALTHY_TARGETS, &inv),
            ["clb-down", "clb-empty"]
        );
        let found = (NO_HEALTHY_TARGETS.evaluate)(&inv, &ctx());
        let empty = found.iter().find(|v| v.resource.id == "clb-empty").unwrap();
        assert_eq!(
            empty.message,
            "No instance registered: every request gets a 503"
        );
        assert_eq!(
            empty.remediation,
            [
                "aws elb describe-load-balancers --region us-east-1 --load-balancer-names clb-empty --output json > classic-load-balancer-us-east-1-clb-empty-description.json && aws elb describe-load-balancer-policies --region us-east-1 --load-balancer-name clb-empty --output json > classic-load-balancer-us-east-1-clb-empty-policies.json && aws elb describe-load-balancer-attributes --region us-east-1 --load-balancer-name clb-empty --output json > classic-load-balancer-us-east-1-clb-empty-attributes.json && aws elb describe-tags --region us-east-1 --load-balancer-names clb-empty --output json > classic-load-balancer-us-east-1-clb-empty-tags.json",
                "aws elb delete-load-balancer --region us-east-1 --load-balancer-name clb-empty",
            ]
        );
        let saving = empty.savings.as_ref().unwrap();
        assert!(
            (saving.monthly_usd - 0.025 * 730.0).abs() < 1e-9,
            "{saving:?}"
        );
        assert!(
            saving.formula.contains("Classic Load Balancer"),
            "{}",
            saving.formula
        );
        // Recreated as it was: internal stays internal.
        assert!(
            empty.rollback[0].starts_with("aws elb create-load-balancer --region us-east-1 --load-balancer-name clb-empty --listeners '<listeners-from-the-saved-description>' --subnets '<subnet-ids>' --security-groups '<security-group-ids>'  # "),
            "{:?}",
            empty.rollback
        );
        let mut internal = classic("clb-inside", vec![], Some(&[]));
        internal.scheme = Some("internal".into());
        assert!(recreate_load_balancer(&internal)
            .build()
            .contains("--scheme internal"));
        let down = found.iter().find(|v| v.resource.id == "clb-down").unwrap();
        assert_eq!(down.message, "2 registered instance(s), none in service");

        // A region the table does not price says so rather than borrowing v2's price.
        let mut far = classic("clb-far", vec![], Some(&[]));
        far.meta.region = "ap-south-2".into();
        inv.elb.load_balancers = vec![far];
        let found = (NO_HEALTHY_TARGETS.evaluate)(&inv, &ctx());
        assert_eq!(found.len(), 1);
        assert!(found[0].savings.is_none());
    }

    #[test]
    fn a_classic_load_balancer_in_one_zone_or_idle_is_fixed_by_name() {
        let mut inv = inventory();
        let mut single = classic("clb-single", vec![], Some(&["InService"]));
        single.availability_zones.truncate(1);
        let mut quiet = classic("clb-quiet", vec![], Some(&["InService"]));
        quiet.created_time = Some(ctx().now - Duration::days(30));
        inv.elb.load_balancers = vec![single, quiet];
        assert_eq!(flagged(&SINGLE_AZ, &inv), ["clb-single"]);
        let one = &(SINGLE_AZ.evaluate)(&inv, &ctx())[0];
        assert!(
            one.remediation[0].starts_with(
                "aws elb attach-load-balancer-to-subnets --region us-east-1 --load-balancer-name clb-single --subnets '<subnet-in-another-az>'"
            ),
            "{:?}",
            one.remediation
        );
        assert_eq!(
            one.rollback,
            ["aws elb detach-load-balancer-from-subnets --region us-east-1 --load-balancer-name clb-single --subnets '<subnet-in-another-az>'"]
        );
        // Its RequestCount (AWS/ELB, by name) is read like a v2's.
        assert_eq!(
            inv.elb.load_balancers[1].traffic_metric(),
            Some(("AWS/ELB", "RequestCount", "LoadBalancerName"))
        );
        assert_eq!(
            inv.elb.load_balancers[1].metric_dimension().as_deref(),
            Some("clb-quiet")
        );
        for d in 1..=7 {
            inv.metrics.add(
                &inv.elb.load_balancers[0].meta.arn.clone(),
                MetricKind::LbRequests,
                ctx().day_start_days_ago(d),
                1000.0,
            );
        }
        assert_eq!(flagged(&IDLE, &inv), ["clb-quiet"]);
        let idle = &(IDLE.evaluate)(&inv, &ctx())[0];
        assert!(
            idle.remediation[0].contains("describe-load-balancers"),
            "{:?}",
            idle.remediation
        );
        assert_eq!(
            idle.remediation[1],
            "aws elb delete-load-balancer --region us-east-1 --load-balancer-name clb-quiet"
        );
        assert!((idle.savings.as_ref().unwrap().monthly_usd - 18.25).abs() < 1e-9);
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
        // A Classic with nothing registered.
        let mut empty = inventory();
        empty.elb.load_balancers = vec![classic("clb-empty", vec![], Some(&[]))];
        vec![
            (&NO_HEALTHY_TARGETS, sick),
            (&NO_HEALTHY_TARGETS, empty),
            (&IDLE, idle),
        ]
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
