//! EC2 records: instances, volumes, snapshots, Elastic IPs, security groups,
//! VPCs, flow logs, self-owned AMIs, NAT gateways, EBS encryption by default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ec2Inventory {
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
    pub snapshots: Vec<Snapshot>,
    pub addresses: Vec<Address>,
    pub security_groups: Vec<SecurityGroup>,
    pub vpcs: Vec<Vpc>,
    pub flow_logs: Vec<FlowLog>,
    pub images: Vec<Image>,
    pub nat_gateways: Vec<NatGateway>,
    #[serde(default)]
    pub network_acls: Vec<NetworkAcl>,
    /// Region → EBS encryption by default; a region missing here was not read.
    pub ebs_encryption_by_default: BTreeMap<String, bool>,
    /// Region → instance type → EC2's `CurrentGeneration`, for the types in
    /// use and their `instance_type_successors`. A region missing here was
    /// not read; a type missing from its region, EC2 did not describe.
    #[serde(default)]
    pub instance_generations: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Ec2Inventory {
    /// Whether EC2 calls `instance_type` current-generation in `region`;
    /// `None` when that was not read or EC2 did not say.
    pub fn current_generation(&self, region: &str, instance_type: &str) -> Option<bool> {
        self.instance_generations
            .get(region)?
            .get(instance_type)
            .copied()
    }
}

/// Families to move a previous-generation family to, best first: the same
/// role and architecture, each newer than the last. EC2 decides which
/// types are previous-generation (`CurrentGeneration`); this only says
/// where to go, and only types EC2 confirms current are ever suggested.
const SUCCESSORS: &[(&str, &[&str])] = &[
    ("a1", &["m6g", "m7g"]),
    ("c1", &["c5", "c6i", "c7i"]),
    ("c3", &["c5", "c6i", "c7i"]),
    ("c4", &["c5", "c6i", "c7i"]),
    ("c5", &["c6i", "c7i"]),
    ("c6i", &["c7i"]),
    ("cc2", &["c5", "c6i", "c7i"]),
    ("cr1", &["r5", "r6i", "r7i"]),
    ("d2", &["d3"]),
    ("g2", &["g4dn", "g6"]),
    ("g3", &["g4dn", "g6"]),
    ("g5", &["g6"]),
    ("hs1", &["d3"]),
    ("i2", &["i3", "i4i"]),
    ("m1", &["m5", "m6i", "m7i"]),
    ("m2", &["r5", "r6i", "r7i"]),
    ("m3", &["m5", "m6i", "m7i"]),
    ("m4", &["m5", "m6i", "m7i"]),
    ("m5", &["m6i", "m7i"]),
    ("m6i", &["m7i"]),
    ("r3", &["r5", "r6i", "r7i"]),
    ("r4", &["r5", "r6i", "r7i"]),
    ("r5", &["r6i", "r7i"]),
    ("r6i", &["r7i"]),
    ("t1", &["t3", "t3a"]),
    ("t2", &["t3", "t3a"]),
];

/// The types of the same size in the families `instance_type`'s family may
/// move to, best first (`m4.large` → `m5.large`, `m6i.large`, `m7i.large`).
/// A size the newer family lacks is still listed: EC2 will not confirm it.
pub fn instance_type_successors(instance_type: &str) -> Vec<String> {
    let Some((family, size)) = instance_type.split_once('.') else {
        return Vec::new();
    };
    SUCCESSORS
        .iter()
        .find(|(old, _)| *old == family)
        .map(|(_, new)| new.iter().map(|f| format!("{f}.{size}")).collect())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    pub meta: ResourceMeta,
    pub instance_type: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`.
    pub state: String,
    pub launch_time: Option<DateTime<Utc>>,
    /// `required` or `optional`; `None` when the API did not say.
    pub imds_http_tokens: Option<String>,
    pub imds_http_endpoint: Option<String>,
    pub image_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    pub volume_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub public_ip: Option<String>,
    /// When it entered its current state, from EC2's `StateTransitionReason`
    /// (`User initiated (2026-10-01 12:00:00 GMT)`); `None` when EC2 did not say.
    #[serde(default)]
    pub state_since: Option<DateTime<Utc>>,
    /// The instance profile's ARN; `None`: the instance has none.
    #[serde(default)]
    pub instance_profile_arn: Option<String>,
}

/// The time in an EC2 `StateTransitionReason`: the text in parentheses,
/// `YYYY-MM-DD HH:MM:SS` followed by `GMT` (or `UTC`).
pub fn transition_time(reason: &str) -> Option<DateTime<Utc>> {
    let inside = reason.rsplit_once('(')?.1.split_once(')')?.0.trim();
    let stamp = inside
        .strip_suffix("GMT")
        .or_else(|| inside.strip_suffix("UTC"))?
        .trim();
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub meta: ResourceMeta,
    pub volume_type: String,
    pub size_gib: i64,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub encrypted: bool,
    /// `available` (unattached), `in-use`, ...
    pub state: String,
    pub attached_instance_ids: Vec<String>,
    pub availability_zone: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: ResourceMeta,
    pub volume_id: Option<String>,
    pub volume_size_gib: i64,
    pub start_time: Option<DateTime<Utc>>,
    pub encrypted: bool,
    pub state: String,
    /// Whether anyone may create volumes from it: listed by
    /// `DescribeSnapshots(RestorableByUserIds=all)`; `None` when that
    /// listing failed.
    pub public: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Address {
    pub meta: ResourceMeta,
    pub public_ip: Option<String>,
    pub allocation_id: Option<String>,
    pub association_id: Option<String>,
    pub instance_id: Option<String>,
    pub network_interface_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub meta: ResourceMeta,
    pub group_name: String,
    pub vpc_id: Option<String>,
    pub ingress: Vec<IngressRule>,
    /// Outbound rules, in the same shape.
    #[serde(default)]
    pub egress: Vec<IngressRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkAcl {
    pub meta: ResourceMeta,
    pub vpc_id: Option<String>,
    pub is_default: bool,
    /// Inbound entries only (outbound ones decide nothing CIS asks).
    pub ingress: Vec<NaclEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaclEntry {
    pub rule_number: i32,
    /// `-1` every protocol, `6` TCP, `17` UDP (numbers, as EC2 gives them).
    pub protocol: String,
    pub allow: bool,
    /// The IPv4 or IPv6 source.
    pub cidr: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
}

/// An inbound allow that lets the whole internet (one address family) reach
/// a port, over TCP, UDP or both.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldOpening<'a> {
    /// The lowest-numbered entry for the whole internet that covers the
    /// port for these protocols: it decides, and it allows.
    pub allow: &'a NaclEntry,
    /// `"6"` (TCP), `"17"` (UDP), or both, as EC2 numbers them.
    pub protocols: Vec<&'static str>,
    /// The highest-numbered allow for a narrower source of the same family
    /// that covers the port and is numbered below [`Self::allow`]. A deny
    /// for the whole internet numbered below it would cut that source off
    /// too (a bastion's or a VPN's range, say).
    pub narrower_below: Option<i32>,
}

impl NaclEntry {
    pub fn is_ipv6(&self) -> bool {
        self.cidr.contains(':')
    }

    /// Whether the entry applies to `protocol` (`"6"` or `"17"`) on `port`.
    /// An entry without a port range is read the way that can't hide an
    /// opening: an allow covers every port, a deny none.
    fn covers(&self, protocol: &str, port: i32) -> bool {
        let same = match self.protocol.as_str() {
            "-1" => return true,
            "tcp" => protocol == "6",
            "udp" => protocol == "17",
            p => p == protocol,
        };
        same && match (self.from_port, self.to_port) {
            (Some(from), Some(to)) => (from..=to).contains(&port),
            _ => self.allow,
        }
    }
}

impl NetworkAcl {
    /// Where traffic from anywhere on the internet to `port` over TCP or UDP
    /// is allowed. For each address family and each protocol, of the
    /// entries whose source is `0.0.0.0/0` (or `::/0`) and that cover it,
    /// the lowest-numbered decides, as in EC2: an IPv4 deny does not close
    /// IPv6, a TCP deny does not close UDP. Entries for narrower sources
    /// decide nothing for the whole internet. One opening per allow entry.
    pub fn admits_world(&self, port: i32) -> Vec<WorldOpening<'_>> {
        let mut openings: Vec<WorldOpening<'_>> = Vec::new();
        for world in ["0.0.0.0/0", "::/0"] {
            for protocol in ["6", "17"] {
                let Some(allow) = self
                    .ingress
                    .iter()
                    .filter(|e| e.cidr == world && e.covers(protocol, port))
                    .min_by_key(|e| e.rule_number)
                    .filter(|e| e.allow)
                else {
                    continue;
                };
                let narrower_below = self
                    .ingress
                    .iter()
                    .filter(|e| e.allow && e.cidr != world && e.is_ipv6() == allow.is_ipv6())
                    .filter(|e| e.rule_number < allow.rule_number && e.covers(protocol, port))
                    .map(|e| e.rule_number)
                    .max();
                match openings.iter_mut().find(|o| std::ptr::eq(o.allow, allow)) {
                    Some(o) => {
                        o.protocols.push(protocol);
                        o.narrower_below = o.narrower_below.max(narrower_below);
                    }
                    None => openings.push(WorldOpening {
                        allow,
                        protocols: vec![protocol],
                        narrower_below,
                    }),
                }
            }
        }
        openings
    }
}

/// One permission of a security group (inbound, or outbound in `egress`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp`, or `-1` for every protocol.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub ipv4_ranges: Vec<String>,
    pub ipv6_ranges: Vec<String>,
    /// Security groups it names as sources or destinations: (owner account
    /// when another's, group id).
    #[serde(default)]
    pub groups: Vec<(Option<String>, String)>,
    #[serde(default)]
    pub prefix_lists: Vec<String>,
}

impl IngressRule {
    /// Whether the rule opens `port` (TCP) to the whole internet; returns the open range.
    pub fn opens_to_world(&self, port: i32) -> Option<&str> {
        let covers = match self.protocol.as_str() {
            "-1" => true,
            "tcp" | "6" => match (self.from_port, self.to_port) {
                (Some(from), Some(to)) => (from..=to).contains(&port) || (from == -1 && to == -1),
                _ => true,
            },
            _ => false,
        };
        if !covers {
            return None;
        }
        self.ipv4_ranges
            .iter()
            .chain(self.ipv6_ranges.iter())
            .find(|cidr| cidr.as_str() == "0.0.0.0/0" || cidr.as_str() == "::/0")
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vpc {
    pub meta: ResourceMeta,
    pub is_default: bool,
    pub cidr_block: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowLog {
    pub meta: ResourceMeta,
    /// The VPC, subnet or interface it logs.
    pub resource_id: String,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    pub meta: ResourceMeta,
    pub public: bool,
    pub state: Option<String>,
    pub creation_date: Option<DateTime<Utc>>,
    pub snapshot_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NatGateway {
    pub meta: ResourceMeta,
    pub state: String,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn transition_times_are_read_from_the_reason_and_nothing_else_is_guessed() {
        let when = Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 5).unwrap();
        assert_eq!(
            transition_time("User initiated (2026-10-01 12:00:05 GMT)"),
            Some(when)
        );
        assert_eq!(
            transition_time("User initiated (2026-10-01 12:00:05 UTC)"),
            Some(when)
        );
        assert_eq!(transition_time(""), None);
        assert_eq!(transition_time("Server.ScheduledStop"), None);
        assert_eq!(transition_time("User initiated (yesterday)"), None);
    }
}
