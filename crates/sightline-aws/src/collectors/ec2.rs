//! EC2: instances (and whether their types are current-generation),
//! volumes, self-owned snapshots (with their public attribute), Elastic
//! IPs, security groups, VPCs, flow logs, self-owned AMIs, NAT gateways and
//! EBS encryption by default. Never user data, console output or password
//! data.

use std::collections::{BTreeMap, BTreeSet};

use sightline_core::inventory::ec2::{
    instance_type_successors, Address, FlowLog, Image, IngressRule, Instance, NaclEntry,
    NatGateway, NetworkAcl, SecurityGroup, Snapshot, Volume, Vpc,
};
use sightline_core::{Inventory, ResourceMeta};

use super::{tag_map, to_chrono, Collect};
use crate::record::{Outcome, ScanRecorder};

pub const ACTIONS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "ec2:DescribeAddresses",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeImages",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:GetEbsEncryptionByDefault",
];

const SERVICE: &str = "ec2";

macro_rules! tags {
    ($item:expr) => {
        tag_map($item.tags().iter().map(|t| (t.key(), t.value())))
    };
}

/// EC2's `CurrentGeneration` for the instance types in use in `region` and
/// for the types they could move to. A filter (unlike `InstanceTypes`) does
/// not fail the whole call on a type the region does not offer. Nothing is
/// asked where no instance runs; on a failed page the region stays unread.
async fn instance_generations(
    client: &aws_sdk_ec2::Client,
    inv: &mut Inventory,
    region: &str,
    rec: &ScanRecorder,
) {
    let in_use: BTreeSet<&str> = inv
        .ec2
        .instances
        .iter()
        .map(|i| i.instance_type.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    let wanted: Vec<String> = in_use
        .iter()
        .flat_map(|t| std::iter::once(t.to_string()).chain(instance_type_successors(t)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut generations = BTreeMap::new();
    for chunk in wanted.chunks(100) {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("instance-type")
            .set_values(Some(chunk.to_vec()))
            .build();
        let mut pages = client
            .describe_instance_types()
            .filters(filter)
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let Outcome::Ok(page) =
                rec.settle(SERVICE, region, "ec2:DescribeInstanceTypes", &[], page)
            else {
                return;
            };
            for t in page.instance_types() {
                if let (Some(kind), Some(current)) = (t.instance_type(), t.current_generation()) {
                    generations.insert(kind.as_str().to_owned(), current);
                }
            }
        }
    }
    if !wanted.is_empty() {
        inv.ec2
            .instance_generations
            .insert(region.to_owned(), generations);
    }
}

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_ec2, &cx.in_region(cx.region));
    let mut inv = cx.fragment();
    let region = cx.region;
    let rec = cx.recorder;

    let mut pages = client
        .describe_instances()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeInstances", &[], page)
        else {
            break;
        };
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = i.instance_id() else { continue };
            let options = i.metadata_options();
            inv.ec2.instances.push(Instance {
                meta: ResourceMeta::new(
                    "ec2.instance",
                    id,
                    &cx.arn("ec2", &format!("instance/{id}")),
                    region,
                )
                .with_tags(tags!(i)),
                instance_type: i
                    .instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                state: i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_default(),
                launch_time: to_chrono(i.launch_time()),
                instance_profile_arn: i
                    .iam_instance_profile()
                    .and_then(|p| p.arn())
                    .map(str::to_owned),
                state_since: i
                    .state_transition_reason()
                    .and_then(sightline_core::inventory::ec2::transition_time),
                imds_http_tokens: options
                    .and_then(|o| o.http_tokens())
                    .map(|t| t.as_str().to_owned()),
                imds_http_endpoint: options
                    .and_then(|o| o.http_endpoint())
                    .map(|t| t.as_str().to_owned()),
                image_id: i.image_id().map(str::to_owned),
                vpc_id: i.vpc_id().map(str::to_owned),
                availability_zone: i
                    .placement()
                    .and_then(|p| p.availability_zone())
                    .map(str::to_owned),
                volume_ids: i
                    .block_device_mappings()
                    .iter()
                    .filter_map(|b| b.ebs().and_then(|e| e.volume_id()).map(str::to_owned))
                    .collect(),
                security_group_ids: i
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_owned))
                    .collect(),
                public_ip: i.public_ip_address().map(str::to_owned),
            });
        }
    }
    instance_generations(&client, &mut inv, region, rec).await;

    let mut pages = client
        .describe_volumes()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeVolumes", &[], page)
        else {
            break;
        };
        for v in page.volumes() {
            let Some(id) = v.volume_id() else { continue };
            inv.ec2.volumes.push(Volume {
                meta: ResourceMeta::new(
                    "ec2.volume",
                    id,
                    &cx.arn("ec2", &format!("volume/{id}")),
                    region,
                )
                .with_tags(tags!(v)),
                volume_type: v
                    .volume_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                size_gib: v.size().unwrap_or_default().into(),
                iops: v.iops().map(i64::from),
                throughput: v.throughput().map(i64::from),
                encrypted: v.encrypted().unwrap_or(false),
                state: v.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                attached_instance_ids: v
                    .attachments()
                    .iter()
                    .filter_map(|a| a.instance_id().map(str::to_owned))
                    .collect(),
                availability_zone: v.availability_zone().map(str::to_owned),
                create_time: to_chrono(v.create_time()),
            });
        }
    }

    let mut snapshots = Vec::new();
    let mut pages = client
        .describe_snapshots()
        .owner_ids("self")
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeSnapshots", &[], page)
        else {
            break;
        };
        for s in page.snapshots() {
            let Some(id) = s.snapshot_id() else { continue };
            snapshots.push(Snapshot {
                meta: ResourceMeta::new(
                    "ec2.snapshot",
                    id,
                    &cx.arn("ec2", &format!("snapshot/{id}")),
                    region,
                )
                .with_tags(tags!(s)),
                volume_id: s.volume_id().map(str::to_owned),
                volume_size_gib: s.volume_size().unwrap_or_default().into(),
                start_time: to_chrono(s.start_time()),
                encrypted: s.encrypted().unwrap_or(false),
                state: s
                    .state()
                    .map(|st| st.as_str().to_owned())
                    .unwrap_or_default(),
                public: None,
            });
        }
    }
    // Public sharing: one more listing per region, of the account's
    // snapshots anyone may restore, instead of one attribute read per
    // snapshot. Unknown for all of them if that listing fails.
    let mut public = Some(std::collections::BTreeSet::new());
    let mut pages = client
        .describe_snapshots()
        .owner_ids("self")
        .restorable_by_user_ids("all")
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeSnapshots", &[], page)
        else {
            public = None;
            break;
        };
        if let Some(ids) = public.as_mut() {
            ids.extend(
                page.snapshots()
                    .iter()
                    .filter_map(|s| s.snapshot_id())
                    .map(str::to_owned),
            );
        }
    }
    for snapshot in snapshots.iter_mut() {
        snapshot.public = public.as_ref().map(|ids| ids.contains(&snapshot.meta.id));
    }
    inv.ec2.snapshots = snapshots;

    if let Outcome::Ok(out) = rec.settle(
        SERVICE,
        region,
        "ec2:DescribeAddresses",
        &[],
        client.describe_addresses().send().await,
    ) {
        for a in out.addresses() {
            let id = a.allocation_id().or(a.public_ip()).unwrap_or_default();
            inv.ec2.addresses.push(Address {
                meta: ResourceMeta::new(
                    "ec2.elastic_ip",
                    id,
                    &cx.arn("ec2", &format!("elastic-ip/{id}")),
                    region,
                )
                .with_tags(tags!(a)),
                public_ip: a.public_ip().map(str::to_owned),
                allocation_id: a.allocation_id().map(str::to_owned),
                // Empty strings mean "none" in some answers.
                association_id: a
                    .association_id()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                instance_id: a.instance_id().filter(|s| !s.is_empty()).map(str::to_owned),
                network_interface_id: a
                    .network_interface_id()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            });
        }
    }

    let mut pages = client
        .describe_security_groups()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) =
            rec.settle(SERVICE, region, "ec2:DescribeSecurityGroups", &[], page)
        else {
            break;
        };
        for g in page.security_groups() {
            let Some(id) = g.group_id() else { continue };
            let mut meta = ResourceMeta::new(
                "ec2.security_group",
                id,
                &cx.arn("ec2", &format!("security-group/{id}")),
                region,
            )
            .with_tags(tags!(g));
            meta.name = meta.name.or(g.group_name().map(str::to_owned));
            inv.ec2.security_groups.push(SecurityGroup {
                meta,
                group_name: g.group_name().unwrap_or_default().to_owned(),
                vpc_id: g.vpc_id().map(str::to_owned),
                ingress: g.ip_permissions().iter().map(permission).collect(),
                egress: g.ip_permissions_egress().iter().map(permission).collect(),
            });
        }
    }

    let mut pages = client
        .describe_vpcs()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeVpcs", &[], page) else {
            break;
        };
        for v in page.vpcs() {
            let Some(id) = v.vpc_id() else { continue };
            inv.ec2.vpcs.push(Vpc {
                meta: ResourceMeta::new(
                    "ec2.vpc",
                    id,
                    &cx.arn("ec2", &format!("vpc/{id}")),
                    region,
                )
                .with_tags(tags!(v)),
                is_default: v.is_default().unwrap_or(false),
                cidr_block: v.cidr_block().map(str::to_owned),
                state: v.state().map(|s| s.as_str().to_owned()),
            });
        }
    }

    let mut pages = client
        .describe_network_acls()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeNetworkAcls", &[], page)
        else {
            break;
        };
        for acl in page.network_acls() {
            let Some(id) = acl.network_acl_id() else {
                continue;
            };
            let ingress = acl
                .entries()
                .iter()
                .filter(|e| e.egress() == Some(false))
                .filter_map(nacl_entry)
                .collect();
            inv.ec2.network_acls.push(NetworkAcl {
                meta: ResourceMeta::new(
                    "ec2.network_acl",
                    id,
                    &cx.arn("ec2", &format!("network-acl/{id}")),
                    region,
                )
                .with_tags(tags!(acl)),
                vpc_id: acl.vpc_id().map(str::to_owned),
                is_default: acl.is_default().unwrap_or(false),
                ingress,
            });
        }
    }

    let mut pages = client
        .describe_flow_logs()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeFlowLogs", &[], page)
        else {
            break;
        };
        for f in page.flow_logs() {
            let Some(id) = f.flow_log_id() else { continue };
            inv.ec2.flow_logs.push(FlowLog {
                meta: ResourceMeta::new(
                    "ec2.flow_log",
                    id,
                    &cx.arn("ec2", &format!("vpc-flow-log/{id}")),
                    region,
                )
                .with_tags(tags!(f)),
                resource_id: f.resource_id().unwrap_or_default().to_owned(),
                status: f.flow_log_status().map(str::to_owned),
            });
        }
    }

    let mut pages = client
        .describe_images()
        .owners("self")
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeImages", &[], page) else {
            break;
        };
        for i in page.images() {
            let Some(id) = i.image_id() else { continue };
            let mut meta = ResourceMeta::new(
                "ec2.image",
                id,
                &format!("arn:{}:ec2:{region}::image/{id}", cx.partition()),
                region,
            )
            .with_tags(tags!(i));
            meta.name = meta.name.or(i.name().map(str::to_owned));
            inv.ec2.images.push(Image {
                meta,
                public: i.public().unwrap_or(false),
                state: i.state().map(|s| s.as_str().to_owned()),
                creation_date: i
                    .creation_date()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .map(|d| d.to_utc()),
                snapshot_ids: i
                    .block_device_mappings()
                    .iter()
                    .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()).map(str::to_owned))
                    .collect(),
            });
        }
    }

    let mut pages = client
        .describe_nat_gateways()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ec2:DescribeNatGateways", &[], page)
        else {
            break;
        };
        for n in page.nat_gateways() {
            let Some(id) = n.nat_gateway_id() else {
                continue;
            };
            inv.ec2.nat_gateways.push(NatGateway {
                meta: ResourceMeta::new(
                    "ec2.nat_gateway",
                    id,
                    &cx.arn("ec2", &format!("natgateway/{id}")),
                    region,
                )
                .with_tags(tags!(n)),
                state: n.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                vpc_id: n.vpc_id().map(str::to_owned),
                subnet_id: n.subnet_id().map(str::to_owned),
                create_time: to_chrono(n.create_time()),
            });
        }
    }

    let result = client.get_ebs_encryption_by_default().send().await;
    if let Outcome::Ok(out) = rec.settle(
        SERVICE,
        region,
        "ec2:GetEbsEncryptionByDefault",
        &[],
        result,
    ) {
        inv.ec2.ebs_encryption_by_default.insert(
            region.to_owned(),
            out.ebs_encryption_by_default().unwrap_or(false),
        );
    }

    rec.found(inv.resource_count());
    inv
}

/// One security group permission as the checks read it.
fn permission(p: &aws_sdk_ec2::types::IpPermission) -> IngressRule {
    IngressRule {
        protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        ipv4_ranges: p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(str::to_owned))
            .collect(),
        ipv6_ranges: p
            .ipv6_ranges()
            .iter()
            .filter_map(|r| r.cidr_ipv6().map(str::to_owned))
            .collect(),
        groups: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| Some((g.user_id().map(str::to_owned), g.group_id()?.to_owned())))
            .collect(),
        prefix_lists: p
            .prefix_list_ids()
            .iter()
            .filter_map(|l| l.prefix_list_id().map(str::to_owned))
            .collect(),
    }
}

/// One inbound entry as the checks read it. A field EC2 always sends but that
/// is missing is read the way that can't hide an opening: an entry without
/// an action allows, and one without a protocol covers every protocol if it
/// allows and none if it denies.
fn nacl_entry(e: &aws_sdk_ec2::types::NetworkAclEntry) -> Option<NaclEntry> {
    let cidr = e.cidr_block().or(e.ipv6_cidr_block())?;
    let allow = e.rule_action().map(|a| a.as_str()) != Some("deny");
    let protocol = match e.protocol() {
        Some(p) => p,
        None if allow => "-1",
        None => "unknown",
    };
    Some(NaclEntry {
        rule_number: e.rule_number()?,
        protocol: protocol.to_owned(),
        allow,
        cidr: cidr.to_owned(),
        from_port: e.port_range().and_then(|r| r.from()),
        to_port: e.port_range().and_then(|r| r.to()),
    })
}

#[cfg(test)]
mod tests {
    use super::nacl_entry;
    use aws_sdk_ec2::types::{NetworkAclEntry, RuleAction};

    #[test]
    fn a_nacl_entry_missing_its_action_or_protocol_cannot_hide_an_opening() {
        let no_action = NetworkAclEntry::builder()
            .rule_number(10)
            .protocol("6")
            .cidr_block("0.0.0.0/0")
            .build();
        assert!(nacl_entry(&no_action).unwrap().allow);

        let allow_any = NetworkAclEntry::builder()
            .rule_number(20)
            .rule_action(RuleAction::Allow)
            .ipv6_cidr_block("::/0")
            .build();
        let e = nacl_entry(&allow_any).unwrap();
        assert_eq!((e.protocol.as_str(), e.cidr.as_str()), ("-1", "::/0"));

        let deny_unknown = NetworkAclEntry::builder()
            .rule_number(5)
            .rule_action(RuleAction::Deny)
            .cidr_block("0.0.0.0/0")
            .build();
        let e = nacl_entry(&deny_unknown).unwrap();
        assert_eq!((e.protocol.as_str(), e.allow), ("unknown", false));
    }
}
