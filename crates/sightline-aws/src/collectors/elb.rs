//! Elastic Load Balancing: v2 load balancers (with tags), listeners (with
//! what their TLS policies accept), target groups and the health of their
//! targets; then Classic Load Balancers through the 2012 API, with their
//! tags, the health of their instances and their listeners' TLS
//! negotiation policies. IAM names both APIs' actions alike
//! (`elasticloadbalancing:DescribeLoadBalancers` lists either), so a denied
//! action leaves both unread.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use sightline_core::inventory::elb::{
    ClassicListener, Listener, ListenerAction, LoadBalancer, TargetGroup, TargetHealth,
};
use sightline_core::{Inventory, ResourceMeta};

use super::{tag_map, to_chrono, Collect, DETAIL_CONCURRENCY};
use crate::record::{Outcome, ScanRecorder};

pub const ACTIONS: &[&str] = &[
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeInstanceHealth",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
];

const SERVICE: &str = "elb";
/// DescribeTags takes at most 20 ARNs.
const TAGS_BATCH: usize = 20;

/// The protocols each TLS policy in use accepts: one call per region for
/// all of them, none where no listener has one. On a failure the region
/// stays unread and the listener check says so.
async fn ssl_policies(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    inv: &mut Inventory,
    region: &str,
    rec: &ScanRecorder,
) {
    let names: BTreeSet<String> = inv
        .elb
        .listeners
        .iter()
        .filter_map(|l| l.ssl_policy.clone())
        .collect();
    if names.is_empty() {
        return;
    }
    let mut policies = BTreeMap::new();
    let mut marker = None;
    loop {
        let answer = client
            .describe_ssl_policies()
            .set_names(Some(names.iter().cloned().collect()))
            .set_marker(marker)
            .send()
            .await;
        let Outcome::Ok(answer) = rec.settle(
            SERVICE,
            region,
            "elasticloadbalancing:DescribeSSLPolicies",
            &[],
            answer,
        ) else {
            return;
        };
        for policy in answer.ssl_policies() {
            if let Some(name) = policy.name() {
                let protocols = policy
                    .ssl_protocols()
                    .iter()
                    .map(|p| p.to_owned())
                    .collect();
                policies.insert(name.to_owned(), protocols);
            }
        }
        marker = answer.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    inv.elb.ssl_policies.insert(region.to_owned(), policies);
}

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_elasticloadbalancingv2, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut pages = client
        .describe_load_balancers()
        .page_size(400)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(
            SERVICE,
            region,
            "elasticloadbalancing:DescribeLoadBalancers",
            &[],
            page,
        ) else {
            break;
        };
        for lb in page.load_balancers() {
            let Some(arn) = lb.load_balancer_arn() else {
                continue;
            };
            let name = lb.load_balancer_name().unwrap_or_default();
            let mut meta = ResourceMeta::new("elb.load_balancer", name, arn, region);
            meta.name = Some(name.to_owned());
            inv.elb.load_balancers.push(LoadBalancer {
                meta,
                lb_type: lb
                    .r#type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_else(|| "application".to_owned()),
                scheme: lb.scheme().map(|s| s.as_str().to_owned()),
                state: lb
                    .state()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().to_owned()),
                availability_zones: lb
                    .availability_zones()
                    .iter()
                    .filter_map(|z| z.zone_name().map(str::to_owned))
                    .collect(),
                created_time: to_chrono(lb.created_time()),
                dns_name: lb.dns_name().map(str::to_owned),
                classic_listeners: Vec::new(),
                classic_instances: None,
            });
        }
    }

    for batch in inv.elb.load_balancers.chunks_mut(TAGS_BATCH) {
        let arns: Vec<String> = batch.iter().map(|lb| lb.meta.arn.clone()).collect();
        let result = client
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await;
        let Outcome::Ok(out) = rec.settle(
            SERVICE,
            region,
            "elasticloadbalancing:DescribeTags",
            &[],
            result,
        ) else {
            continue;
        };
        for description in out.tag_descriptions() {
            if let Some(lb) = batch
                .iter_mut()
                .find(|lb| Some(lb.meta.arn.as_str()) == description.resource_arn())
            {
                let name = lb.meta.name.clone();
                lb.meta = lb.meta.clone().with_tags(tag_map(
                    description.tags().iter().map(|t| (t.key(), t.value())),
                ));
                lb.meta.name = lb.meta.name.clone().or(name);
            }
        }
    }

    let listeners: Vec<Vec<Listener>> =
        futures::stream::iter(inv.elb.load_balancers.iter().map(|lb| {
            let client = client.clone();
            let lb_arn = lb.meta.arn.clone();
            let lb_name = lb.meta.name.clone();
            async move {
                let mut out = Vec::new();
                let mut pages = client
                    .describe_listeners()
                    .load_balancer_arn(&lb_arn)
                    .page_size(400)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let Outcome::Ok(page) = rec.settle(
                        SERVICE,
                        region,
                        "elasticloadbalancing:DescribeListeners",
                        &[],
                        page,
                    ) else {
                        break;
                    };
                    for l in page.listeners() {
                        let Some(arn) = l.listener_arn() else {
                            continue;
                        };
                        let id = arn.rsplit('/').next().unwrap_or(arn);
                        let mut meta = ResourceMeta::new("elb.listener", id, arn, region);
                        // Listeners have no name: "<load balancer>:<port>" reads as one.
                        meta.name = lb_name.as_ref().map(|lb| match l.port() {
                            Some(port) => format!("{lb}:{port}"),
                            None => lb.clone(),
                        });
                        out.push(Listener {
                            meta,
                            load_balancer_arn: lb_arn.clone(),
                            port: l.port(),
                            protocol: l.protocol().map(|p| p.as_str().to_owned()),
                            default_actions: l
                                .default_actions()
                                .iter()
                                .map(|a| ListenerAction {
                                    kind: a
                                        .r#type()
                                        .map(|t| t.as_str().to_owned())
                                        .unwrap_or_default(),
                                    redirect_protocol: a
                                        .redirect_config()
                                        .and_then(|r| r.protocol())
                                        .map(str::to_owned),
                                })
                                .collect(),
                            ssl_policy: l.ssl_policy().map(str::to_owned),
                        });
                    }
                }
                out
            }
        }))
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    inv.elb.listeners = listeners.into_iter().flatten().collect();
    ssl_policies(&client, &mut inv, region, rec).await;

    let mut groups = Vec::new();
    let mut pages = client
        .describe_target_groups()
        .page_size(400)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(
            SERVICE,
            region,
            "elasticloadbalancing:DescribeTargetGroups",
            &[],
            page,
        ) else {
            break;
        };
        for tg in page.target_groups() {
            let Some(arn) = tg.target_group_arn() else {
                continue;
            };
            let name = tg.target_group_name().unwrap_or_default();
            let mut meta = ResourceMeta::new("elb.target_group", name, arn, region);
            meta.name = Some(name.to_owned());
            groups.push(TargetGroup {
                meta,
                load_balancer_arns: tg.load_balancer_arns().to_vec(),
                target_type: tg.target_type().map(|t| t.as_str().to_owned()),
                targets: None,
            });
        }
    }
    let healths: Vec<Option<Vec<TargetHealth>>> = futures::stream::iter(groups.iter().map(|tg| {
        let client = client.clone();
        let arn = tg.meta.arn.clone();
        async move {
            let result = client
                .describe_target_health()
                .target_group_arn(&arn)
                .send()
                .await;
            rec.settle(
                SERVICE,
                region,
                "elasticloadbalancing:DescribeTargetHealth",
                &[],
                result,
            )
            .ok()
            .map(|out| {
                out.target_health_descriptions()
                    .iter()
                    .map(|d| TargetHealth {
                        target_id: d
                            .target()
                            .and_then(|t| t.id())
                            .unwrap_or_default()
                            .to_owned(),
                        port: d.target().and_then(|t| t.port()),
                        state: d
                            .target_health()
                            .and_then(|h| h.state())
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
        }
    }))
    .buffered(DETAIL_CONCURRENCY)
    .collect()
    .await;
    for (group, targets) in groups.iter_mut().zip(healths) {
        group.targets = targets;
    }
    inv.elb.target_groups = groups;

    classic(&cx, &mut inv).await;

    rec.found(inv.resource_count());
    inv
}

/// Classic Load Balancers: one listing (400 a page), tags 20 names a call,
/// then per load balancer its instances' health (only where it has
/// instances) and its policies (only where a listener speaks HTTPS or SSL).
async fn classic(cx: &Collect<'_>, inv: &mut Inventory) {
    use aws_sdk_elasticloadbalancing as elb;

    let client = crate::sdk_client!(elb, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut found = Vec::new();
    let mut pages = client
        .describe_load_balancers()
        .page_size(400)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(
            SERVICE,
            region,
            "elasticloadbalancing:DescribeLoadBalancers",
            &[],
            page,
        ) else {
            break;
        };
        for d in page.load_balancer_descriptions() {
            let Some(name) = d.load_balancer_name() else {
                continue;
            };
            let arn = cx.arn("elasticloadbalancing", &format!("loadbalancer/{name}"));
            let mut meta = ResourceMeta::new("elb.classic_load_balancer", name, &arn, region);
            meta.name = Some(name.to_owned());
            let instances: Vec<String> = d
                .instances()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            found.push((
                LoadBalancer {
                    meta,
                    lb_type: "classic".to_owned(),
                    scheme: d.scheme().map(str::to_owned),
                    state: None,
                    availability_zones: d.availability_zones().to_vec(),
                    created_time: to_chrono(d.created_time()),
                    dns_name: d.dns_name().map(str::to_owned),
                    classic_listeners: d
                        .listener_descriptions()
                        .iter()
                        .filter_map(|ld| {
                            let l = ld.listener()?;
                            Some(ClassicListener {
                                port: l.load_balancer_port(),
                                protocol: l.protocol().to_ascii_uppercase(),
                                instance_port: l.instance_port(),
                                instance_protocol: l.instance_protocol().map(str::to_owned),
                                policy_names: ld.policy_names().to_vec(),
                                ssl_policy: None,
                                reference_policy: None,
                                ssl_protocols: None,
                            })
                        })
                        .collect(),
                    // Nothing registered needs no health call.
                    classic_instances: instances.is_empty().then(Vec::new),
                },
                instances,
            ));
        }
    }

    for batch in found.chunks_mut(TAGS_BATCH) {
        let names: Vec<String> = batch.iter().map(|(lb, _)| lb.meta.id.clone()).collect();
        let result = client
            .describe_tags()
            .set_load_balancer_names(Some(names))
            .send()
            .await;
        let Outcome::Ok(out) = rec.settle(
            SERVICE,
            region,
            "elasticloadbalancing:DescribeTags",
            &[],
            result,
        ) else {
            continue;
        };
        for description in out.tag_descriptions() {
            if let Some((lb, _)) = batch
                .iter_mut()
                .find(|(lb, _)| Some(lb.meta.id.as_str()) == description.load_balancer_name())
            {
                let name = lb.meta.name.clone();
                lb.meta = lb.meta.clone().with_tags(tag_map(
                    description
                        .tags()
                        .iter()
                        .map(|t| (Some(t.key()), t.value())),
                ));
                lb.meta.name = lb.meta.name.clone().or(name);
            }
        }
    }

    let details: Vec<ClassicDetails> =
        futures::stream::iter(found.iter().map(|(lb, instances)| {
            let client = client.clone();
            let name = lb.meta.id.clone();
            let needs_health = !instances.is_empty();
            let needs_policies = lb
                .classic_listeners
                .iter()
                .any(|l| matches!(l.protocol.as_str(), "HTTPS" | "SSL"));
            async move {
                let health = if needs_health {
                    let result = client
                        .describe_instance_health()
                        .load_balancer_name(&name)
                        .send()
                        .await;
                    rec.settle(
                        SERVICE,
                        region,
                        "elasticloadbalancing:DescribeInstanceHealth",
                        &[],
                        result,
                    )
                    .ok()
                    .map(|out| {
                        out.instance_states()
                            .iter()
                            .map(|s| TargetHealth {
                                target_id: s.instance_id().unwrap_or_default().to_owned(),
                                port: None,
                                state: s.state().unwrap_or("Unknown").to_owned(),
                            })
                            .collect()
                    })
                } else {
                    None
                };
                let policies = if needs_policies {
                    let result = client
                        .describe_load_balancer_policies()
                        .load_balancer_name(&name)
                        .send()
                        .await;
                    rec.settle(
                        SERVICE,
                        region,
                        "elasticloadbalancing:DescribeLoadBalancerPolicies",
                        &[],
                        result,
                    )
                    .ok()
                    .map(|out| out.policy_descriptions().to_vec())
                } else {
                    None
                };
                (health, policies)
            }
        }))
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;

    // Listeners whose negotiation policy is not among their load
    // balancer's own (an `ELBSample-*` policy is AWS's, described only when
    // no load balancer is named): AWS's are read once, and a policy still
    // unknown is a gap, never a pass.
    let mut unresolved = Vec::new();
    let mut lbs = Vec::new();
    for ((mut lb, _), (health, policies)) in found.into_iter().zip(details) {
        if health.is_some() {
            lb.classic_instances = health;
        }
        if let Some(policies) = policies {
            for (i, l) in lb.classic_listeners.iter_mut().enumerate() {
                if matches!(l.protocol.as_str(), "HTTPS" | "SSL")
                    && !apply_negotiation_policy(l, &policies)
                {
                    unresolved.push((lbs.len(), i));
                }
            }
        }
        lbs.push(lb);
    }
    if !unresolved.is_empty() {
        let result = client.describe_load_balancer_policies().send().await;
        let samples = rec
            .settle(
                SERVICE,
                region,
                "elasticloadbalancing:DescribeLoadBalancerPolicies",
                &[],
                result,
            )
            .ok()
            .map(|out| out.policy_descriptions().to_vec())
            .unwrap_or_default();
        for (lb, i) in unresolved {
            let name = lbs[lb].meta.id.clone();
            let l = &mut lbs[lb].classic_listeners[i];
            if !apply_negotiation_policy(l, &samples) {
                rec.gap(
                    SERVICE,
                    region,
                    "elasticloadbalancing:DescribeLoadBalancerPolicies",
                    "Other",
                    &format!(
                        "the TLS negotiation policy of {} listener {name}:{} (policies {:?}) was not described",
                        l.protocol, l.port, l.policy_names
                    ),
                );
            }
        }
    }
    inv.elb.load_balancers.extend(lbs);
}

/// What is read per Classic Load Balancer: its instances' health and its
/// policies, each `None` when not needed or not read.
type ClassicDetails = (
    Option<Vec<TargetHealth>>,
    Option<Vec<aws_sdk_elasticloadbalancing::types::PolicyDescription>>,
);

/// The listener's TLS negotiation policy among its load balancer's
/// policies: its name, the predefined policy it refers to, and the
/// protocols it enables (`Protocol-TLSv1.2: true`). A policy that names no
/// protocol at all is left undescribed rather than read as "none".
/// Whether the protocols it enables are now known.
fn apply_negotiation_policy(
    l: &mut ClassicListener,
    policies: &[aws_sdk_elasticloadbalancing::types::PolicyDescription],
) -> bool {
    let Some(policy) = policies.iter().find(|p| {
        p.policy_type_name() == Some("SSLNegotiationPolicyType")
            && p.policy_name()
                .is_some_and(|name| l.policy_names.iter().any(|n| n == name))
    }) else {
        return false;
    };
    l.ssl_policy = policy.policy_name().map(str::to_owned);
    let attributes = policy.policy_attribute_descriptions();
    let attribute = |name: &str| {
        attributes
            .iter()
            .find(|a| a.attribute_name() == Some(name))
            .and_then(|a| a.attribute_value())
    };
    l.reference_policy = attribute("Reference-Security-Policy").map(str::to_owned);
    let protocols: Vec<(&str, bool)> = attributes
        .iter()
        .filter_map(|a| {
            let protocol = a.attribute_name()?.strip_prefix("Protocol-")?;
            Some((protocol, a.attribute_value()?.eq_ignore_ascii_case("true")))
        })
        .collect();
    if !protocols.is_empty() {
        l.ssl_protocols = Some(
            protocols
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(p, _)| p.to_owned())
                .collect(),
        );
    }
    l.ssl_protocols.is_some()
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancing::types::{PolicyAttributeDescription, PolicyDescription};

    use super::*;

    fn policy(name: &str, kind: &str, attributes: &[(&str, &str)]) -> PolicyDescription {
        PolicyDescription::builder()
            .policy_name(name)
            .policy_type_name(kind)
            .set_policy_attribute_descriptions(Some(
                attributes
                    .iter()
                    .map(|(k, v)| {
                        PolicyAttributeDescription::builder()
                            .attribute_name(*k)
                            .attribute_value(*v)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    fn listener(policies: &[&str]) -> ClassicListener {
        ClassicListener {
            port: 443,
            protocol: "HTTPS".into(),
            instance_port: 80,
            instance_protocol: Some("HTTP".into()),
            policy_names: policies.iter().map(|p| p.to_string()).collect(),
            ssl_policy: None,
            reference_policy: None,
            ssl_protocols: None,
        }
    }

    #[test]
    fn a_listeners_negotiation_policy_gives_the_protocols_it_enables_or_stays_unknown() {
        let policies = [
            policy("sticky", "LBCookieStickinessPolicyType", &[]),
            policy(
                "old-tls",
                "SSLNegotiationPolicyType",
                &[
                    ("Reference-Security-Policy", "ELBSecurityPolicy-2016-08"),
                    ("Protocol-SSLv3", "false"),
                    ("Protocol-TLSv1", "true"),
                    ("Protocol-TLSv1.1", "true"),
                    ("Protocol-TLSv1.2", "true"),
                    ("ECDHE-RSA-AES128-GCM-SHA256", "true"),
                ],
            ),
            // A negotiation policy that names no protocol says nothing.
            policy(
                "silent",
                "SSLNegotiationPolicyType",
                &[("Reference-Security-Policy", "ELBSecurityPolicy-2016-08")],
            ),
        ];
        let mut l = listener(&["sticky", "old-tls"]);
        assert!(apply_negotiation_policy(&mut l, &policies));
        assert_eq!(l.ssl_policy.as_deref(), Some("old-tls"));
        assert_eq!(
            l.reference_policy.as_deref(),
            Some("ELBSecurityPolicy-2016-08")
        );
        assert_eq!(
            l.ssl_protocols.as_deref(),
            Some(&["TLSv1".to_owned(), "TLSv1.1".into(), "TLSv1.2".into()][..])
        );

        let mut silent = listener(&["silent"]);
        assert!(!apply_negotiation_policy(&mut silent, &policies));
        assert_eq!(silent.ssl_protocols, None);
        // Not among the load balancer's own (an AWS sample policy): unknown here.
        let mut sample = listener(&["sticky", "ELBSample-ELBDefaultNegotiationPolicy"]);
        assert!(!apply_negotiation_policy(&mut sample, &policies));
        assert_eq!(sample.ssl_policy, None);
    }
}
