//! Network checks: Elastic IPs, NAT gateways, security groups, network ACLs,
//! VPC flow logs.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::ec2::{IngressRule, NaclEntry, NetworkAcl, SecurityGroup, WorldOpening};
use crate::inventory::metrics::{last_days, MetricKind};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[
    &EIP_UNASSOCIATED,
    &NAT_GATEWAY_IDLE,
    &SG_OPEN_ADMIN_PORTS,
    &SG_OPEN_DATABASE_PORTS,
    &SG_OPEN_CIFS,
    &NACL_OPEN_ADMIN_PORTS,
    &DEFAULT_SG_ALLOWS_TRAFFIC,
    &VPC_NO_FLOW_LOGS,
];

pub static EIP_UNASSOCIATED: Check = Check {
    id: "ec2.eip_unassociated",
    title: "Elastic IP not associated with anything",
    category: Category::Cost,
    severity: Severity::Low,
    service: "ec2",
    required_actions: &["ec2:DescribeAddresses"],
    basis: Basis::Observed,
    risk: "Every public IPv4 address is billed hourly, and an unassociated one serves nothing.",
    evaluate: eip_unassociated,
};

fn eip_unassociated(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .addresses
        .iter()
        .filter(|a| {
            a.association_id.is_none()
                && a.instance_id.is_none()
                && a.network_interface_id.is_none()
        })
        .map(|a| {
            let region = &a.meta.region;
            let allocation = a.allocation_id.as_deref().unwrap_or(&a.meta.id);
            Violation::new(
                &a.meta,
                format!(
                    "{} is allocated but not associated",
                    a.public_ip.as_deref().unwrap_or("address")
                ),
            )
            .evidence("public_ip", &a.public_ip)
            .evidence("association_id", &a.association_id)
            .remediation(
                Command::aws("ec2", "release-address")
                    .region(region)
                    .arg("--allocation-id", allocation),
            )
            .rollback(
                Command::aws("ec2", "allocate-address")
                    .region(region)
                    .arg("--domain", "vpc")
                    .arg_or("--address", a.public_ip.as_deref(), "ip")
                    .note("succeeds only while the address is still unclaimed"),
            )
            .savings(ctx.prices.elastic_ip(&a.meta.region))
        })
        .collect()
}

pub static NAT_GATEWAY_IDLE: Check = Check {
    id: "ec2.nat_gateway_idle",
    title: "NAT gateway with no traffic for 7 days",
    category: Category::Cost,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeNatGateways", "cloudwatch:GetMetricData"],
    basis: Basis::Absence,
    risk: "A NAT gateway is billed by the hour whether or not anything routes through it.",
    evaluate: nat_gateway_idle,
};

fn nat_gateway_idle(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .nat_gateways
        .iter()
        .filter(|n| n.state == "available")
        .filter_map(|n| {
            let series = inv.metrics.series(&n.meta.arn, MetricKind::NatBytes);
            let recent = last_days(series, ctx.day_start_days_ago(0), 7, n.create_time)?;
            if recent.iter().any(|v| *v > 0.0) {
                return None;
            }
            let region = &n.meta.region;
            Some(
                Violation::new(
                    &n.meta,
                    "No bytes went through the NAT gateway in the last 7 days",
                )
                .evidence("bytes_last_7_days", 0)
                .evidence("daily_values", &recent)
                .remediation(
                    Command::aws("ec2", "delete-nat-gateway")
                        .region(region)
                        .arg("--nat-gateway-id", &n.meta.id),
                )
                .rollback(
                    Command::aws("ec2", "create-nat-gateway")
                        .region(region)
                        .arg_or("--subnet-id", n.subnet_id.as_deref(), "subnet-id")
                        .placeholder("--allocation-id", "elastic-ip-allocation-id")
                        .note("then point the route tables back at it"),
                )
                .savings(ctx.prices.nat_gateway(&n.meta.region)),
            )
        })
        .collect()
}

const ADMIN_PORTS: &[i32] = &[22, 3389];
const DATABASE_PORTS: &[i32] = &[1433, 1521, 3306, 5432, 5439, 6379, 9200, 11211, 27017];

fn open_ports(group: &SecurityGroup, ports: &[i32]) -> Vec<(i32, String, usize)> {
    let mut open = Vec::new();
    for &port in ports {
        for (index, rule) in group.ingress.iter().enumerate() {
            if let Some(cidr) = rule.opens_to_world(port) {
                open.push((port, cidr.to_owned(), index));
                break;
            }
        }
    }
    open
}

fn open_port_violations(inv: &Inventory, ports: &[i32], what: &str) -> Vec<Violation> {
    inv.ec2
        .security_groups
        .iter()
        .filter_map(|group| {
            let open = open_ports(group, ports);
            if open.is_empty() {
                return None;
            }
            let region = &group.meta.region;
            let listed: Vec<String> = open
                .iter()
                .map(|(p, cidr, _)| format!("{p} from {cidr}"))
                .collect();
            let mut v = Violation::new(
                &group.meta,
                format!("{what} open to the internet: {}", listed.join(", ")),
            )
            .evidence(
                "open_ports",
                open.iter().map(|(p, _, _)| *p).collect::<Vec<_>>(),
            )
            .evidence(
                "sources",
                open.iter().map(|(_, c, _)| c.clone()).collect::<Vec<_>>(),
            )
            // The address families open, as CIS decides them apart.
            .evidence(
                "aspects",
                ["ipv4", "ipv6"]
                    .into_iter()
                    .filter(|family| {
                        open.iter()
                            .any(|(_, c, _)| c.contains(':') == (*family == "ipv6"))
                    })
                    .collect::<Vec<_>>(),
            )
            .evidence(
                "rules",
                open.iter()
                    .map(|(_, _, i)| group.ingress[*i].clone())
                    .collect::<Vec<_>>(),
            );
            for (_, _, index) in dedup_rules(&open) {
                let rule = &group.ingress[index];
                let cidr_flag = |c: &str| {
                    if c.contains(':') {
                        format!("Ipv6Ranges=[{{CidrIpv6={c}}}]")
                    } else {
                        format!("IpRanges=[{{CidrIp={c}}}]")
                    }
                };
                let ports = match (rule.from_port, rule.to_port) {
                    (Some(f), Some(t)) => format!("FromPort={f},ToPort={t},"),
                    _ => String::new(),
                };
                let world: Vec<&String> = rule
                    .ipv4_ranges
                    .iter()
                    .chain(rule.ipv6_ranges.iter())
                    .filter(|c| *c == "0.0.0.0/0" || *c == "::/0")
                    .collect();
                for cidr in world {
                    let spec = format!("IpProtocol={},{ports}{}", rule.protocol, cidr_flag(cidr));
                    v = v
                        .remediation(
                            Command::aws("ec2", "revoke-security-group-ingress")
                                .region(region)
                                .arg("--group-id", &group.meta.id)
                                .arg("--ip-permissions", &spec),
                        )
                        .rollback(
                            Command::aws("ec2", "authorize-security-group-ingress")
                                .region(region)
                                .arg("--group-id", &group.meta.id)
                                .arg("--ip-permissions", &spec),
                        );
                }
            }
            Some(v)
        })
        .collect()
}

fn dedup_rules(open: &[(i32, String, usize)]) -> Vec<(i32, String, usize)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for entry in open {
        if !seen.contains(&entry.2) {
            seen.push(entry.2);
            out.push(entry.clone());
        }
    }
    out
}

pub static SG_OPEN_ADMIN_PORTS: Check = Check {
    id: "ec2.sg_open_admin_ports",
    title: "Security group open to 0.0.0.0/0 or ::/0 on an administration port (22, 3389)",
    category: Category::Security,
    severity: Severity::High,
    service: "ec2",
    required_actions: &["ec2:DescribeSecurityGroups"],
    basis: Basis::Observed,
    risk:
        "SSH and RDP open to the internet are scanned constantly and brute-forced within minutes.",
    evaluate: |inv, _| open_port_violations(inv, ADMIN_PORTS, "Administration port"),
};

pub static SG_OPEN_DATABASE_PORTS: Check = Check {
    id: "ec2.sg_open_database_ports",
    title: "Security group open to 0.0.0.0/0 or ::/0 on a database port",
    category: Category::Security,
    severity: Severity::High,
    service: "ec2",
    required_actions: &["ec2:DescribeSecurityGroups"],
    basis: Basis::Observed,
    risk: "Databases reachable from the internet are one weak password away from a breach.",
    evaluate: |inv, _| open_port_violations(inv, DATABASE_PORTS, "Database port"),
};

const CIFS_PORTS: &[i32] = &[445];

pub static SG_OPEN_CIFS: Check = Check {
    id: "ec2.sg_open_cifs",
    title: "Security group open to 0.0.0.0/0 or ::/0 on CIFS/SMB (445)",
    category: Category::Security,
    severity: Severity::High,
    service: "ec2",
    required_actions: &["ec2:DescribeSecurityGroups"],
    basis: Basis::Observed,
    risk: "SMB exposed to the internet is how worms like WannaCry spread: file shares belong on private networks.",
    evaluate: |inv, _| open_port_violations(inv, CIFS_PORTS, "CIFS/SMB port"),
};

pub static DEFAULT_SG_ALLOWS_TRAFFIC: Check = Check {
    id: "ec2.default_sg_allows_traffic",
    title: "VPC default security group allows traffic",
    category: Category::Security,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeSecurityGroups"],
    basis: Basis::Observed,
    risk: "Whatever is launched without a group lands in the default one; if that group lets traffic in or out, a forgotten instance is reachable, or can reach out, without anyone having chosen so.",
    evaluate: default_sg_allows_traffic,
};

/// Permissions in the CLI's `--ip-permissions` JSON, exactly as the group
/// holds them (so the rollback restores them).
fn ip_permissions_json(rules: &[IngressRule]) -> String {
    let list: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("IpProtocol".into(), r.protocol.clone().into());
            if let (Some(from), Some(to)) = (r.from_port, r.to_port) {
                o.insert("FromPort".into(), from.into());
                o.insert("ToPort".into(), to.into());
            }
            let mut list = |key: &str, items: Vec<serde_json::Value>| {
                if !items.is_empty() {
                    o.insert(key.into(), items.into());
                }
            };
            list(
                "IpRanges",
                r.ipv4_ranges
                    .iter()
                    .map(|c| serde_json::json!({"CidrIp": c}))
                    .collect(),
            );
            list(
                "Ipv6Ranges",
                r.ipv6_ranges
                    .iter()
                    .map(|c| serde_json::json!({"CidrIpv6": c}))
                    .collect(),
            );
            list(
                "UserIdGroupPairs",
                r.groups
                    .iter()
                    .map(|(user, id)| match user {
                        Some(user) => serde_json::json!({"GroupId": id, "UserId": user}),
                        None => serde_json::json!({"GroupId": id}),
                    })
                    .collect(),
            );
            list(
                "PrefixListIds",
                r.prefix_lists
                    .iter()
                    .map(|p| serde_json::json!({"PrefixListId": p}))
                    .collect(),
            );
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

fn default_sg_allows_traffic(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .security_groups
        .iter()
        .filter(|g| g.group_name == "default" && g.vpc_id.is_some())
        .filter(|g| !g.ingress.is_empty() || !g.egress.is_empty())
        .map(|g| {
            let region = &g.meta.region;
            let vpc = g.vpc_id.as_deref().unwrap_or_default();
            let mut v = Violation::new(
                &g.meta,
                format!(
                    "The default security group of {vpc} has {} inbound and {} outbound rule(s)",
                    g.ingress.len(),
                    g.egress.len()
                ),
            )
            .evidence("vpc_id", vpc)
            .evidence("ingress", &g.ingress)
            .evidence("egress", &g.egress);
            let command = |op: &'static str, rules: &[IngressRule]| {
                Command::aws("ec2", op)
                    .region(region)
                    .arg("--group-id", &g.meta.id)
                    .arg("--ip-permissions", &ip_permissions_json(rules))
            };
            let mut first = true;
            for (rules, revoke, authorize) in [
                (&g.ingress, "revoke-security-group-ingress", "authorize-security-group-ingress"),
                (&g.egress, "revoke-security-group-egress", "authorize-security-group-egress"),
            ] {
                if rules.is_empty() {
                    continue;
                }
                let mut fix = command(revoke, rules);
                if first {
                    fix = fix.note("anything still in the default group loses this traffic: move it to a group of its own first");
                    first = false;
                }
                v = v.remediation(fix).rollback(command(authorize, rules));
            }
            v
        })
        .collect()
}

pub static NACL_OPEN_ADMIN_PORTS: Check = Check {
    id: "ec2.nacl_open_admin_ports",
    title: "Network ACL admits the internet to an administration port (22, 3389)",
    category: Category::Security,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeNetworkAcls"],
    basis: Basis::Observed,
    risk: "The subnet's ACL is the layer that still holds when a security group is opened by mistake; letting SSH and RDP in from anywhere gives that layer up.",
    evaluate: nacl_open_admin_ports,
};

fn nacl_open_admin_ports(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .network_acls
        .iter()
        .filter_map(|acl| {
            let open: Vec<(i32, WorldOpening<'_>)> = ADMIN_PORTS
                .iter()
                .flat_map(|p| acl.admits_world(*p).into_iter().map(|o| (*p, o)))
                .collect();
            if open.is_empty() {
                return None;
            }
            let mut v = Violation::new(
                &acl.meta,
                format!(
                    "The network ACL admits the internet to {}",
                    open.iter()
                        .map(|(p, o)| format!(
                            "port {p}/{} (rule {} from {})",
                            o.protocols
                                .iter()
                                .map(|p| protocol_name(p))
                                .collect::<Vec<_>>()
                                .join("+"),
                            o.allow.rule_number,
                            o.allow.cidr
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .evidence("is_default", acl.is_default)
            .evidence(
                "entries",
                open.iter()
                    .map(|(_, o)| o.allow.clone())
                    .collect::<Vec<_>>(),
            );
            let (remediation, rollback) = close_openings(acl, &open);
            for c in remediation {
                v = v.remediation(c);
            }
            for c in rollback {
                v = v.rollback(c);
            }
            Some(v)
        })
        .collect()
}

fn protocol_name(number: &str) -> &str {
    match number {
        "6" => "tcp",
        "17" => "udp",
        other => other,
    }
}

/// A deny for the whole internet on each opened port and protocol,
/// numbered where it takes effect: below the allow it overrides and above
/// any narrower allow that must keep working. An allow at rule 1 leaves no
/// number below it: it is re-created just below the next entry first (so
/// no entry it used to override starts to count), then rule 1 itself
/// becomes the first deny.
fn close_openings(
    acl: &NetworkAcl,
    open: &[(i32, WorldOpening<'_>)],
) -> (Vec<Command>, Vec<Command>) {
    let region = &acl.meta.region;
    let entry = |operation: &'static str| {
        Command::aws("ec2", operation)
            .region(region)
            .arg("--network-acl-id", &acl.meta.id)
            .flag("--ingress")
    };
    let source = |c: Command, e: &NaclEntry| {
        let family = if e.is_ipv6() {
            "--ipv6-cidr-block"
        } else {
            "--cidr-block"
        };
        c.arg(family, &e.cidr)
    };
    let deny = |c: Command, protocol: &str, port: i32, e: &NaclEntry| {
        source(
            c.arg("--protocol", protocol)
                .arg("--port-range", &format!("From={port},To={port}")),
            e,
        )
        .arg("--rule-action", "deny")
    };
    let as_it_was = |c: Command, e: &NaclEntry| {
        let c = c.arg("--protocol", &e.protocol);
        let c = match (e.from_port, e.to_port) {
            (Some(from), Some(to)) => c.arg("--port-range", &format!("From={from},To={to}")),
            _ => c,
        };
        source(c, e).arg("--rule-action", "allow")
    };
    // The entry after rule 1, whatever its family: the re-created allow
    // must come before it.
    let next_after_one = acl
        .ingress
        .iter()
        .map(|e| e.rule_number)
        .filter(|n| *n > 1)
        .min();
    let mut remediation = Vec::new();
    let mut rollback = Vec::new();
    let mut moved: Vec<&NaclEntry> = Vec::new();
    for (port, opening) in open {
        let allow = opening.allow;
        for protocol in &opening.protocols {
            if allow.rule_number == 1 && !moved.contains(&allow) {
                moved.push(allow);
                let note = match next_after_one {
                    Some(2) => "no rule number is free between rule 1 and rule 2: renumber rule 2 first".to_owned(),
                    Some(next) => format!(
                        "re-creates rule 1 below rule {next} and above the denies, so the entries after it keep their meaning"
                    ),
                    None => "re-creates rule 1 higher up, so that the denies fit below it".to_owned(),
                };
                remediation.push(
                    as_it_was(
                        entry("create-network-acl-entry")
                            .placeholder("--rule-number", "free-number-above-the-denies"),
                        allow,
                    )
                    .note(&note),
                );
                remediation.push(deny(
                    entry("replace-network-acl-entry").arg("--rule-number", "1"),
                    protocol,
                    *port,
                    allow,
                ));
                rollback.push(as_it_was(
                    entry("replace-network-acl-entry").arg("--rule-number", "1"),
                    allow,
                ));
                rollback.push(
                    entry("delete-network-acl-entry")
                        .placeholder("--rule-number", "the-number-chosen-above")
                        .note("the re-created allow"),
                );
                continue;
            }
            let bound = match (allow.rule_number, opening.narrower_below) {
                (1, _) => "below the re-created allow".to_owned(),
                (n, Some(floor)) if floor + 1 >= n => format!(
                    "above rule {floor} (a narrower allow that must keep working) and below rule {n}; none is free: renumber one of them first"
                ),
                (n, Some(floor)) => format!(
                    "above rule {floor} (a narrower allow that must keep working) and below rule {n}"
                ),
                (n, None) => format!("below rule {n}"),
            };
            remediation.push(
                deny(
                    entry("create-network-acl-entry")
                        .placeholder("--rule-number", "free-number-between-the-bounds"),
                    protocol,
                    *port,
                    allow,
                )
                .note(&format!(
                    "must be numbered {bound}; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it"
                )),
            );
            rollback.push(
                entry("delete-network-acl-entry")
                    .placeholder("--rule-number", "the-number-chosen-above")
                    .note(&format!(
                        "the {} deny for port {port} from {}",
                        protocol_name(protocol),
                        allow.cidr
                    )),
            );
        }
    }
    (remediation, rollback)
}

pub static VPC_NO_FLOW_LOGS: Check = Check {
    id: "ec2.vpc_no_flow_logs",
    title: "VPC without flow logs",
    category: Category::Security,
    severity: Severity::Medium,
    service: "ec2",
    required_actions: &["ec2:DescribeVpcs", "ec2:DescribeFlowLogs"],
    basis: Basis::Absence,
    risk:
        "Without flow logs there is no record of who talked to what when investigating an incident.",
    evaluate: vpc_no_flow_logs,
};

fn vpc_no_flow_logs(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ec2
        .vpcs
        .iter()
        .filter(|vpc| !inv.missing("ec2:DescribeFlowLogs", &vpc.meta.region))
        .filter(|vpc| {
            !inv.ec2
                .flow_logs
                .iter()
                .any(|f| f.resource_id == vpc.meta.id)
        })
        .map(|vpc| {
            let region = &vpc.meta.region;
            Violation::new(&vpc.meta, "No flow log captures this VPC's traffic")
                .evidence("flow_logs", Vec::<String>::new())
                .evidence("is_default", vpc.is_default)
                .remediation(
                    Command::aws("ec2", "create-flow-logs")
                        .region(region)
                        .arg("--resource-type", "VPC")
                        .arg("--resource-ids", &vpc.meta.id)
                        .arg("--traffic-type", "REJECT")
                        .arg("--log-destination-type", "s3")
                        .placeholder("--log-destination", "arn:aws:s3:::flow-log-bucket"),
                )
                .rollback(
                    Command::aws("ec2", "delete-flow-logs")
                        .region(region)
                        .placeholder("--flow-log-ids", "flow-log-id from create-flow-logs"),
                )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::Duration;

    use super::*;
    use crate::checks::test_support::{arn, ctx, flagged, inventory, meta};
    use crate::inventory::ec2::{Address, FlowLog, IngressRule, NatGateway, Vpc};

    fn rule(protocol: &str, from: i32, to: i32, v4: &[&str], v6: &[&str]) -> IngressRule {
        IngressRule {
            protocol: protocol.into(),
            from_port: Some(from),
            to_port: Some(to),
            ipv4_ranges: v4.iter().map(|s| s.to_string()).collect(),
            ipv6_ranges: v6.iter().map(|s| s.to_string()).collect(),
            groups: Vec::new(),
            prefix_lists: Vec::new(),
        }
    }

    fn group(id: &str, rules: Vec<IngressRule>) -> SecurityGroup {
        SecurityGroup {
            meta: meta("ec2.security_group", id, "us-east-1"),
            group_name: id.into(),
            vpc_id: None,
            ingress: rules,
            egress: Vec::new(),
        }
    }

    #[test]
    fn a_default_security_group_with_any_rule_is_flagged_and_its_rules_revoked_exactly() {
        let mut inv = inventory();
        let default =
            |id: &str, ingress: Vec<IngressRule>, egress: Vec<IngressRule>| SecurityGroup {
                group_name: "default".into(),
                vpc_id: Some(format!("vpc-{id}")),
                ingress,
                egress,
                ..group(id, Vec::new())
            };
        // AWS's default: inbound from itself, outbound to anywhere.
        let mut from_itself = rule("-1", 0, 0, &[], &[]);
        from_itself.from_port = None;
        from_itself.to_port = None;
        from_itself.groups = vec![(None, "sg-as-made".into())];
        let mut anywhere = rule("-1", 0, 0, &["0.0.0.0/0"], &[]);
        anywhere.from_port = None;
        anywhere.to_port = None;
        inv.ec2.security_groups = vec![
            default("sg-as-made", vec![from_itself], vec![anywhere.clone()]),
            default("sg-emptied", Vec::new(), Vec::new()),
            // A group someone named "default" outside any VPC's default slot
            // is still judged by name only when it is in a VPC.
            group("sg-web", vec![rule("tcp", 443, 443, &["0.0.0.0/0"], &[])]),
        ];
        assert_eq!(flagged(&DEFAULT_SG_ALLOWS_TRAFFIC, &inv), ["sg-as-made"]);
        let v = default_sg_allows_traffic(&inv, &ctx());
        assert_eq!(
            v[0].message,
            "The default security group of vpc-sg-as-made has 1 inbound and 1 outbound rule(s)"
        );
        assert_eq!(
            v[0].remediation,
            [
                r#"aws ec2 revoke-security-group-ingress --region us-east-1 --group-id sg-as-made --ip-permissions '[{"IpProtocol":"-1","UserIdGroupPairs":[{"GroupId":"sg-as-made"}]}]'  # anything still in the default group loses this traffic: move it to a group of its own first"#,
                r#"aws ec2 revoke-security-group-egress --region us-east-1 --group-id sg-as-made --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]'"#,
            ]
        );
        assert_eq!(
            v[0].rollback,
            [
                r#"aws ec2 authorize-security-group-ingress --region us-east-1 --group-id sg-as-made --ip-permissions '[{"IpProtocol":"-1","UserIdGroupPairs":[{"GroupId":"sg-as-made"}]}]'"#,
                r#"aws ec2 authorize-security-group-egress --region us-east-1 --group-id sg-as-made --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]'"#,
            ]
        );
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        // A month-old gateway with no datapoint all week: idle, as far as CloudWatch knows.
        let mut idle = inventory();
        idle.ec2.nat_gateways = vec![NatGateway {
            meta: meta("ec2.nat_gateway", "nat-quiet", "us-east-1"),
            state: "available".into(),
            vpc_id: None,
            subnet_id: None,
            create_time: Some(ctx().now - Duration::days(30)),
        }];
        let mut dark = inventory();
        dark.ec2.vpcs = vec![Vpc {
            meta: meta("ec2.vpc", "vpc-dark", "us-east-1"),
            is_default: false,
            cidr_block: None,
            state: None,
        }];
        vec![(&NAT_GATEWAY_IDLE, idle), (&VPC_NO_FLOW_LOGS, dark)]
    }

    #[test]
    fn open_ports_are_found_by_range_protocol_and_family() {
        let mut inv = inventory();
        inv.ec2.security_groups = vec![
            group("sg-ssh", vec![rule("tcp", 22, 22, &["0.0.0.0/0"], &[])]),
            group("sg-rdp6", vec![rule("tcp", 3000, 4000, &[], &["::/0"])]),
            group("sg-all", vec![rule("-1", -1, -1, &["0.0.0.0/0"], &[])]),
            group("sg-pg", vec![rule("tcp", 5432, 5432, &["0.0.0.0/0"], &[])]),
            group(
                "sg-office",
                vec![rule("tcp", 22, 22, &["203.0.113.0/24"], &[])],
            ),
            group("sg-web", vec![rule("tcp", 443, 443, &["0.0.0.0/0"], &[])]),
            group("sg-udp", vec![rule("udp", 22, 22, &["0.0.0.0/0"], &[])]),
        ];
        assert_eq!(
            flagged(&SG_OPEN_ADMIN_PORTS, &inv),
            ["sg-all", "sg-rdp6", "sg-ssh"]
        );
        // 3000-4000 covers MySQL's 3306 too.
        assert_eq!(
            flagged(&SG_OPEN_DATABASE_PORTS, &inv),
            ["sg-all", "sg-pg", "sg-rdp6"]
        );
        inv.ec2.security_groups.push(group(
            "sg-smb",
            vec![rule("tcp", 445, 445, &["0.0.0.0/0"], &[])],
        ));
        inv.ec2.security_groups.push(group(
            "sg-smb-office",
            vec![rule("tcp", 445, 445, &["10.0.0.0/8"], &[])],
        ));
        assert_eq!(flagged(&SG_OPEN_CIFS, &inv), ["sg-all", "sg-smb"]);
        // CIS decides 0.0.0.0/0 and ::/0 in two controls: each finding says
        // which address families it opens.
        let admin = (SG_OPEN_ADMIN_PORTS.evaluate)(&inv, &ctx());
        let families: Vec<(&str, &serde_json::Value)> = admin
            .iter()
            .map(|v| (v.resource.id.as_str(), &v.evidence["aspects"]))
            .collect();
        assert_eq!(
            families,
            [
                ("sg-ssh", &serde_json::json!(["ipv4"])),
                ("sg-rdp6", &serde_json::json!(["ipv6"])),
                ("sg-all", &serde_json::json!(["ipv4"])),
            ]
        );
        let v = &(SG_OPEN_ADMIN_PORTS.evaluate)(&inv, &ctx())[2];
        assert!(
            v.remediation[0].contains("revoke-security-group-ingress"),
            "{:?}",
            v.remediation
        );
        assert!(
            v.rollback[0].contains("authorize-security-group-ingress"),
            "{:?}",
            v.rollback
        );
    }

    #[test]
    fn eip_nat_and_flow_log_checks() {
        let mut inv = inventory();
        let address = |id: &str, assoc: Option<&str>| Address {
            meta: meta("ec2.elastic_ip", id, "us-east-1"),
            public_ip: Some("198.51.100.1".into()),
            allocation_id: Some(id.into()),
            association_id: assoc.map(Into::into),
            instance_id: None,
            network_interface_id: None,
        };
        inv.ec2.addresses = vec![
            address("eipalloc-free", None),
            address("eipalloc-used", Some("eipassoc-1")),
        ];
        assert_eq!(flagged(&EIP_UNASSOCIATED, &inv), ["eipalloc-free"]);

        let nat = |id: &str| NatGateway {
            meta: meta("ec2.nat_gateway", id, "us-east-1"),
            state: "available".into(),
            vpc_id: None,
            subnet_id: None,
            create_time: None,
        };
        inv.ec2.nat_gateways = vec![nat("nat-idle"), nat("nat-busy"), nat("nat-nodata")];
        for d in 0..7 {
            let day = ctx().day_start_days_ago(d + 1);
            inv.metrics
                .add(&arn("nat-idle"), MetricKind::NatBytes, day, 0.0);
            inv.metrics.add(
                &arn("nat-busy"),
                MetricKind::NatBytes,
                day,
                if d == 3 { 5.0 } else { 0.0 },
            );
        }
        assert_eq!(flagged(&NAT_GATEWAY_IDLE, &inv), ["nat-idle"]);
        // No datapoints for a week-old gateway: CloudWatch omits empty days, so it is idle.
        inv.ec2.nat_gateways[2].create_time = Some(ctx().now - Duration::days(30));
        assert_eq!(flagged(&NAT_GATEWAY_IDLE, &inv), ["nat-idle", "nat-nodata"]);

        let vpc = |id: &str| Vpc {
            meta: meta("ec2.vpc", id, "us-east-1"),
            is_default: false,
            cidr_block: None,
            state: None,
        };
        inv.ec2.vpcs = vec![vpc("vpc-logged"), vpc("vpc-dark")];
        inv.ec2.flow_logs = vec![FlowLog {
            meta: meta("ec2.flow_log", "fl-1", "us-east-1"),
            resource_id: "vpc-logged".into(),
            status: None,
        }];
        assert_eq!(flagged(&VPC_NO_FLOW_LOGS, &inv), ["vpc-dark"]);
    }

    /// (rule number, protocol, allow, source, port range)
    type Entry<'a> = (i32, &'a str, bool, &'a str, Option<(i32, i32)>);

    fn nacl(id: &str, entries: &[Entry<'_>]) -> crate::inventory::ec2::NetworkAcl {
        crate::inventory::ec2::NetworkAcl {
            meta: meta("ec2.network_acl", id, "us-east-1"),
            vpc_id: None,
            is_default: false,
            ingress: entries
                .iter()
                .map(
                    |(n, proto, allow, cidr, ports)| crate::inventory::ec2::NaclEntry {
                        rule_number: *n,
                        protocol: (*proto).into(),
                        allow: *allow,
                        cidr: (*cidr).into(),
                        from_port: ports.map(|p| p.0),
                        to_port: ports.map(|p| p.1),
                    },
                )
                .collect(),
        }
    }

    #[test]
    fn the_lowest_numbered_rule_for_the_whole_internet_decides() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![
            // EC2's default ACL: everything in from anywhere.
            nacl(
                "acl-default",
                &[
                    (100, "-1", true, "0.0.0.0/0", None),
                    (32767, "-1", false, "0.0.0.0/0", None),
                ],
            ),
            // SSH denied (TCP and UDP) ahead of the allow; RDP is still open.
            nacl(
                "acl-rdp",
                &[
                    (50, "6", false, "0.0.0.0/0", Some((22, 22))),
                    (51, "17", false, "0.0.0.0/0", Some((22, 22))),
                    (100, "-1", true, "0.0.0.0/0", None),
                ],
            ),
            // Both denied ahead of the allow, for TCP and UDP, both families.
            nacl(
                "acl-closed",
                &[
                    (10, "6", false, "0.0.0.0/0", Some((22, 22))),
                    (11, "17", false, "0.0.0.0/0", Some((22, 22))),
                    (12, "6", false, "0.0.0.0/0", Some((3389, 3389))),
                    (13, "17", false, "0.0.0.0/0", Some((3389, 3389))),
                    (14, "6", false, "::/0", Some((0, 65535))),
                    (15, "17", false, "::/0", Some((0, 65535))),
                    (100, "-1", true, "0.0.0.0/0", None),
                    (101, "-1", true, "::/0", None),
                ],
            ),
            // SSH only from the office; HTTPS from anywhere.
            nacl(
                "acl-office",
                &[
                    (100, "6", true, "203.0.113.0/24", Some((22, 22))),
                    (110, "6", true, "0.0.0.0/0", Some((443, 443))),
                ],
            ),
            // IPv6 SSH open; the IPv4 deny does not close it.
            nacl(
                "acl-v6",
                &[
                    (10, "-1", false, "0.0.0.0/0", None),
                    (100, "6", true, "::/0", Some((20, 25))),
                ],
            ),
        ];
        assert_eq!(
            flagged(&NACL_OPEN_ADMIN_PORTS, &inv),
            ["acl-default", "acl-rdp", "acl-v6"]
        );
        let v = nacl_open_admin_ports(&inv, &ctx());
        assert_eq!(
            v[1].message,
            "The network ACL admits the internet to port 3389/tcp+udp (rule 100 from 0.0.0.0/0)"
        );
        assert_eq!(
            v[1].remediation,
            [
                "aws ec2 create-network-acl-entry --region us-east-1 --network-acl-id acl-rdp --ingress --rule-number '<free-number-between-the-bounds>' --protocol 6 --port-range From=3389,To=3389 --cidr-block 0.0.0.0/0 --rule-action deny  # must be numbered below rule 100; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
                "aws ec2 create-network-acl-entry --region us-east-1 --network-acl-id acl-rdp --ingress --rule-number '<free-number-between-the-bounds>' --protocol 17 --port-range From=3389,To=3389 --cidr-block 0.0.0.0/0 --rule-action deny  # must be numbered below rule 100; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
            ]
        );
        assert_eq!(
            v[1].rollback,
            [
                "aws ec2 delete-network-acl-entry --region us-east-1 --network-acl-id acl-rdp --ingress --rule-number '<the-number-chosen-above>'  # the tcp deny for port 3389 from 0.0.0.0/0",
                "aws ec2 delete-network-acl-entry --region us-east-1 --network-acl-id acl-rdp --ingress --rule-number '<the-number-chosen-above>'  # the udp deny for port 3389 from 0.0.0.0/0",
            ]
        );
        assert_eq!(
            v[2].message,
            "The network ACL admits the internet to port 22/tcp (rule 100 from ::/0)"
        );
    }

    /// CIS counts TCP, UDP and all protocols; a TCP deny leaves UDP open.
    #[test]
    fn udp_is_decided_apart_from_tcp() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![
            nacl(
                "acl-tcp-closed",
                &[
                    (10, "6", false, "0.0.0.0/0", Some((3389, 3389))),
                    (100, "-1", true, "0.0.0.0/0", None),
                ],
            ),
            nacl(
                "acl-udp-rdp",
                &[(100, "17", true, "0.0.0.0/0", Some((3389, 3389)))],
            ),
            nacl("acl-icmp", &[(100, "1", true, "0.0.0.0/0", None)]),
        ];
        assert_eq!(
            flagged(&NACL_OPEN_ADMIN_PORTS, &inv),
            ["acl-tcp-closed", "acl-udp-rdp"]
        );
        let v = nacl_open_admin_ports(&inv, &ctx());
        assert_eq!(
            v[0].message,
            "The network ACL admits the internet to port 22/tcp+udp (rule 100 from 0.0.0.0/0), port 3389/udp (rule 100 from 0.0.0.0/0)"
        );
        assert!(v[1].remediation[0].contains("--protocol 17 --port-range From=3389,To=3389"));
    }

    #[test]
    fn both_address_families_open_are_both_reported_and_both_closed() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![nacl(
            "acl-dual",
            &[
                (100, "6", true, "0.0.0.0/0", None),
                (101, "6", true, "::/0", None),
            ],
        )];
        let v = nacl_open_admin_ports(&inv, &ctx());
        assert_eq!(
            v[0].message,
            "The network ACL admits the internet to port 22/tcp (rule 100 from 0.0.0.0/0), \
             port 22/tcp (rule 101 from ::/0), port 3389/tcp (rule 100 from 0.0.0.0/0), \
             port 3389/tcp (rule 101 from ::/0)"
        );
        let denies: Vec<&str> = v[0]
            .remediation
            .iter()
            .map(|c| c.split(" --port-range ").nth(1).unwrap())
            .collect();
        assert_eq!(
            denies,
            [
                "From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny  # must be numbered below rule 100; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
                "From=22,To=22 --ipv6-cidr-block ::/0 --rule-action deny  # must be numbered below rule 101; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
                "From=3389,To=3389 --cidr-block 0.0.0.0/0 --rule-action deny  # must be numbered below rule 100; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
                "From=3389,To=3389 --ipv6-cidr-block ::/0 --rule-action deny  # must be numbered below rule 101; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
            ]
        );
        assert_eq!(v[0].rollback.len(), 4);
    }

    #[test]
    fn the_deny_goes_above_narrower_allows_that_must_keep_working() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![nacl(
            "acl-vpn",
            &[
                // SSH from the VPN at 40, then everything from anywhere at 100:
                // a world deny numbered below 40 would cut the VPN off too.
                (40, "6", true, "10.0.0.0/8", Some((22, 22))),
                (100, "-1", true, "0.0.0.0/0", None),
                // A narrower allow above the world allow changes nothing.
                (200, "6", true, "192.0.2.0/24", Some((22, 22))),
            ],
        )];
        let v = nacl_open_admin_ports(&inv, &ctx());
        assert_eq!(
            v[0].remediation[0],
            "aws ec2 create-network-acl-entry --region us-east-1 --network-acl-id acl-vpn --ingress --rule-number '<free-number-between-the-bounds>' --protocol 6 --port-range From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny  # must be numbered above rule 40 (a narrower allow that must keep working) and below rule 100; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it"
        );
    }

    /// The re-created allow must come before every other entry, or an entry
    /// rule 1 used to override (a deny at 50, say) would start to count.
    #[test]
    fn an_allow_at_rule_1_is_re_created_below_the_next_entry() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![
            nacl(
                "acl-one",
                &[
                    (1, "6", true, "0.0.0.0/0", Some((0, 65535))),
                    (50, "6", false, "0.0.0.0/0", Some((8080, 8080))),
                ],
            ),
            nacl(
                "acl-tight",
                &[
                    (1, "6", true, "0.0.0.0/0", Some((0, 65535))),
                    (2, "6", false, "0.0.0.0/0", Some((8080, 8080))),
                ],
            ),
            nacl(
                "acl-packed",
                &[
                    (99, "6", true, "10.0.0.0/8", Some((22, 22))),
                    (100, "6", true, "0.0.0.0/0", Some((22, 22))),
                ],
            ),
        ];
        let v = nacl_open_admin_ports(&inv, &ctx());
        assert!(v[0].remediation[0].ends_with(
            "# re-creates rule 1 below rule 50 and above the denies, so the entries after it keep their meaning"
        ));
        assert!(v[1].remediation[0].ends_with(
            "# no rule number is free between rule 1 and rule 2: renumber rule 2 first"
        ));
        assert!(v[2].remediation[0].ends_with(
            "# must be numbered above rule 99 (a narrower allow that must keep working) and below rule 100; none is free: renumber one of them first; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it"
        ));
    }

    #[test]
    fn an_allow_at_rule_1_is_moved_up_before_it_becomes_the_deny() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![nacl(
            "acl-one",
            &[(1, "6", true, "0.0.0.0/0", Some((0, 65535)))],
        )];
        let v = nacl_open_admin_ports(&inv, &ctx());
        assert_eq!(
            v[0].remediation,
            [
                "aws ec2 create-network-acl-entry --region us-east-1 --network-acl-id acl-one --ingress --rule-number '<free-number-above-the-denies>' --protocol 6 --port-range From=0,To=65535 --cidr-block 0.0.0.0/0 --rule-action allow  # re-creates rule 1 higher up, so that the denies fit below it",
                "aws ec2 replace-network-acl-entry --region us-east-1 --network-acl-id acl-one --ingress --rule-number 1 --protocol 6 --port-range From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny",
                "aws ec2 create-network-acl-entry --region us-east-1 --network-acl-id acl-one --ingress --rule-number '<free-number-between-the-bounds>' --protocol 6 --port-range From=3389,To=3389 --cidr-block 0.0.0.0/0 --rule-action deny  # must be numbered below the re-created allow; it also stops this port from the VPC itself, VPN and peered networks unless an allow for them is numbered below it",
            ]
        );
        assert_eq!(
            v[0].rollback,
            [
                "aws ec2 replace-network-acl-entry --region us-east-1 --network-acl-id acl-one --ingress --rule-number 1 --protocol 6 --port-range From=0,To=65535 --cidr-block 0.0.0.0/0 --rule-action allow",
                "aws ec2 delete-network-acl-entry --region us-east-1 --network-acl-id acl-one --ingress --rule-number '<the-number-chosen-above>'  # the re-created allow",
                "aws ec2 delete-network-acl-entry --region us-east-1 --network-acl-id acl-one --ingress --rule-number '<the-number-chosen-above>'  # the tcp deny for port 3389 from 0.0.0.0/0",
            ]
        );
    }

    #[test]
    fn a_tcp_deny_without_a_port_range_closes_nothing_but_such_an_allow_opens_all() {
        let mut inv = inventory();
        inv.ec2.network_acls = vec![
            nacl(
                "acl-vague-deny",
                &[
                    (10, "6", false, "0.0.0.0/0", None),
                    (100, "-1", true, "0.0.0.0/0", None),
                ],
            ),
            nacl("acl-vague-allow", &[(10, "6", true, "0.0.0.0/0", None)]),
        ];
        assert_eq!(
            flagged(&NACL_OPEN_ADMIN_PORTS, &inv),
            ["acl-vague-allow", "acl-vague-deny"]
        );
    }
}
