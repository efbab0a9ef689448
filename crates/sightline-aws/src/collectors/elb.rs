//! Elastic Load Balancing v2: load balancers (with tags), listeners (with
//! what their TLS policies accept), target groups and the health of their
//! targets.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use sightline_core::inventory::elb::{
    Listener, ListenerAction, LoadBalancer, TargetGroup, TargetHealth,
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
    let client = aws_sdk_elasticloadbalancingv2::Client::new(&cx.in_region(cx.region));
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

    rec.found(inv.resource_count());
    inv
}
