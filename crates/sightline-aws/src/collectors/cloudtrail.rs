//! CloudTrail: trails, whether each logs and what it records, and the
//! monitoring on the log group a trail delivers to: the metric filters that
//! watch security-relevant activity, the alarms on their metrics and the
//! subscriber counts of the topics those alarms notify. Only configuration
//! is read: never a log event, never a subscriber's address.

use std::collections::BTreeSet;

use sightline_core::checks::watches_anything;
use sightline_core::inventory::cloudtrail::{
    AdvancedSelector, BasicSelector, EventSelectors, FieldSelector, MetricAlarm, MetricFilter,
    TopicSubscribers, Trail, TrailLogGroup,
};
use sightline_core::{Inventory, ResourceMeta};

use super::Collect;
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &[
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "logs:DescribeMetricFilters",
    "cloudwatch:DescribeAlarmsForMetric",
    "sns:GetTopicAttributes",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
];

const SERVICE: &str = "cloudtrail";

pub async fn collect(cx: Collect<'_>, scanned_regions: &[String]) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_cloudtrail, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let result = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await;
    let Outcome::Ok(out) = rec.settle(SERVICE, region, "cloudtrail:DescribeTrails", &[], result)
    else {
        return inv;
    };
    for t in out.trail_list() {
        let Some(arn) = t.trail_arn() else { continue };
        let home = t.home_region().unwrap_or(region);
        // Report each trail from its home region; shadows elsewhere are the same
        // trail, unless the home region is not scanned at all.
        if home != region && scanned_regions.iter().any(|r| r == home) {
            continue;
        }
        let name = t.name().unwrap_or_default();
        let status = client.get_trail_status().name(arn).send().await;
        let status = rec
            .settle(SERVICE, region, "cloudtrail:GetTrailStatus", &[], status)
            .ok();
        let is_logging = status.as_ref().map(|s| s.is_logging().unwrap_or(false));
        let logs_delivery_error = status
            .as_ref()
            .and_then(|s| s.latest_cloud_watch_logs_delivery_error())
            .filter(|e| !e.is_empty())
            .map(str::to_owned);
        // An organization trail seen from a member account belongs to the
        // management account, which alone can read its selectors: say so,
        // rather than ask and be refused.
        let owner = arn.split(':').nth(4).unwrap_or_default();
        let selectors = if owner == cx.account_id() {
            let selectors = client.get_event_selectors().trail_name(arn).send().await;
            rec.settle(
                SERVICE,
                region,
                "cloudtrail:GetEventSelectors",
                &[],
                selectors,
            )
            .ok()
            .map(|s| event_selectors(&s))
        } else {
            rec.gap(
                SERVICE,
                region,
                "cloudtrail:GetEventSelectors",
                "other-account",
                &format!(
                    "trail {arn} belongs to account {owner}: judge what it records in that account"
                ),
            );
            None
        };
        let mut meta = ResourceMeta::new("cloudtrail.trail", name, arn, home);
        meta.name = Some(name.to_owned());
        inv.cloudtrail.trails.push(Trail {
            meta,
            home_region: home.to_owned(),
            is_multi_region: t.is_multi_region_trail().unwrap_or(false),
            log_file_validation: t.log_file_validation_enabled().unwrap_or(false),
            is_organization_trail: t.is_organization_trail().unwrap_or(false),
            s3_bucket: t.s3_bucket_name().map(str::to_owned),
            is_logging,
            kms_key_id: t.kms_key_id().map(str::to_owned),
            log_group_arn: t.cloud_watch_logs_log_group_arn().map(str::to_owned),
            selectors,
            logs_delivery_error,
            bucket_logging: None,
        });
    }
    // Access logging on each trail bucket, read once per bucket.
    let mut read: Vec<(String, Option<bool>)> = Vec::new();
    for i in 0..inv.cloudtrail.trails.len() {
        let Some(bucket) = inv.cloudtrail.trails[i].s3_bucket.clone() else {
            continue;
        };
        let logging = match read.iter().find(|(b, _)| *b == bucket) {
            Some((_, l)) => *l,
            None => {
                let l = bucket_logging(&cx, &bucket).await;
                read.push((bucket, l));
                l
            }
        };
        inv.cloudtrail.trails[i].bucket_logging = logging;
    }
    rec.found(inv.cloudtrail.trails.len());

    // Only a trail that could carry the watch (multi-region, logging, every
    // management event, delivering to CloudWatch Logs) has its group read.
    let groups: BTreeSet<String> = inv
        .cloudtrail
        .trails
        .iter()
        .filter(|t| {
            t.is_multi_region
                && t.is_logging == Some(true)
                && t.logs_delivery_error.is_none()
                && t.selectors
                    .as_ref()
                    .is_some_and(|s| s.management_events().all())
        })
        .filter_map(|t| t.log_group_arn.clone())
        .collect();
    for arn in groups {
        monitoring(&cx, &arn, &mut inv).await;
    }
    inv
}

fn event_selectors(
    out: &aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
) -> EventSelectors {
    let strings = |v: &[String]| v.to_vec();
    EventSelectors {
        basic: out
            .event_selectors()
            .iter()
            .map(|b| BasicSelector {
                read_write_type: b
                    .read_write_type()
                    .map(|r| r.as_str().to_owned())
                    // AWS's default when a selector names none.
                    .unwrap_or_else(|| "All".to_owned()),
                include_management_events: b.include_management_events().unwrap_or(true),
                exclude_management_event_sources: strings(b.exclude_management_event_sources()),
                data_resources: b
                    .data_resources()
                    .iter()
                    .map(|d| {
                        (
                            d.r#type().unwrap_or_default().to_owned(),
                            strings(d.values()),
                        )
                    })
                    .collect(),
            })
            .collect(),
        advanced: out
            .advanced_event_selectors()
            .iter()
            .map(|a| AdvancedSelector {
                name: a.name().map(str::to_owned),
                fields: a
                    .field_selectors()
                    .iter()
                    .map(|f| FieldSelector {
                        field: f.field().to_owned(),
                        equals: strings(f.equals()),
                        not_equals: strings(f.not_equals()),
                        starts_with: strings(f.starts_with()),
                        not_starts_with: strings(f.not_starts_with()),
                        ends_with: strings(f.ends_with()),
                        not_ends_with: strings(f.not_ends_with()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Whether `bucket` logs access to itself; `None` when it could not be read
/// (a bucket of another account, typically a central log archive, refuses).
async fn bucket_logging(cx: &Collect<'_>, bucket: &str) -> Option<bool> {
    let rec = cx.recorder;
    let home = cx.session.home_region();
    let location = super::s3::s3_client(cx, &home)
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await;
    let location = rec
        .settle(SERVICE, &home, "s3:GetBucketLocation", &[], location)
        .ok()?;
    let region = super::s3::location_region(location.location_constraint().map(|c| c.as_str()));
    let logging = super::s3::s3_client(cx, &region)
        .get_bucket_logging()
        .bucket(bucket)
        .send()
        .await;
    rec.settle(SERVICE, &region, "s3:GetBucketLogging", &[], logging)
        .ok()
        .map(|l| l.logging_enabled().is_some())
}

/// `arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME:*` → (region,
/// account, name).
fn log_group_of(arn: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, _, "logs", region, account, "log-group", name, ..] if !name.is_empty() => {
            Some((region, account, name))
        }
        _ => None,
    }
}

/// The metric filters on one log group that watch security-relevant
/// activity, the alarms on their metrics, and those alarms' topics.
async fn monitoring(cx: &Collect<'_>, group_arn: &str, inv: &mut Inventory) {
    let rec = cx.recorder;
    // A group that cannot be read here is a gap, never a pass: of an
    // unknown shape, or another account's (a group of the same name here
    // would be the wrong one).
    let Some((region, account, name)) = log_group_of(group_arn) else {
        rec.gap(
            SERVICE,
            cx.region,
            "logs:DescribeMetricFilters",
            "unrecognised",
            &format!("a trail delivers to {group_arn}, which is not a log group ARN"),
        );
        return;
    };
    if account != cx.account_id() {
        rec.gap(
            SERVICE,
            region,
            "logs:DescribeMetricFilters",
            "other-account",
            &format!("log group {group_arn} belongs to account {account}: judge its alarms in that account"),
        );
        return;
    }
    let config = cx.in_region(region);

    let logs = crate::sdk_client!(aws_sdk_cloudwatchlogs, &config);
    let mut filters = Vec::new();
    let mut exists = true;
    let mut pages = logs
        .describe_metric_filters()
        .log_group_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match rec.settle(
            SERVICE,
            region,
            "logs:DescribeMetricFilters",
            &["ResourceNotFoundException"],
            page,
        ) {
            Outcome::Ok(page) => page,
            // The trail delivers to a group that is gone: nothing watches.
            Outcome::Absent => {
                exists = false;
                break;
            }
            // Part of the filters is no answer: the group stays unread.
            Outcome::Gap => return,
        };
        for f in page.metric_filters() {
            filters.push(MetricFilter {
                name: f.filter_name().unwrap_or_default().to_owned(),
                pattern: f.filter_pattern().unwrap_or_default().to_owned(),
                metrics: f
                    .metric_transformations()
                    .iter()
                    .map(|m| (m.metric_namespace().to_owned(), m.metric_name().to_owned()))
                    .collect(),
            });
        }
    }
    let metrics: BTreeSet<(String, String)> = filters
        .iter()
        .filter(|f| watches_anything(&f.pattern))
        .flat_map(|f| f.metrics.iter().cloned())
        .collect();
    inv.cloudtrail.log_groups.push(TrailLogGroup {
        arn: group_arn.to_owned(),
        region: region.to_owned(),
        name: name.to_owned(),
        exists,
        filters,
    });

    let cloudwatch = crate::sdk_client!(aws_sdk_cloudwatch, &config);
    let mut topics = BTreeSet::new();
    for (namespace, metric) in metrics {
        let out = cloudwatch
            .describe_alarms_for_metric()
            .namespace(&namespace)
            .metric_name(&metric)
            .send()
            .await;
        let Outcome::Ok(out) = rec.settle(
            SERVICE,
            region,
            "cloudwatch:DescribeAlarmsForMetric",
            &[],
            out,
        ) else {
            inv.cloudtrail
                .unread_metrics
                .push((region.to_owned(), namespace, metric));
            continue;
        };
        for a in out.metric_alarms() {
            let actions_enabled = a.actions_enabled().unwrap_or(false);
            let alarm_actions: Vec<String> = a.alarm_actions().to_vec();
            if actions_enabled {
                topics.extend(
                    alarm_actions
                        .iter()
                        .filter(|arn| arn.split(':').nth(2) == Some("sns"))
                        .cloned(),
                );
            }
            inv.cloudtrail.alarms.push(MetricAlarm {
                region: region.to_owned(),
                name: a.alarm_name().unwrap_or_default().to_owned(),
                namespace: a.namespace().unwrap_or(&namespace).to_owned(),
                metric_name: a.metric_name().unwrap_or(&metric).to_owned(),
                actions_enabled,
                alarm_actions,
                comparison: a.comparison_operator().map(|c| c.as_str().to_owned()),
            });
        }
    }

    // The topic's attributes give its confirmed subscriber count and its
    // key in one call, without listing anyone's address.
    for topic in topics {
        let topic_region = topic.split(':').nth(3).unwrap_or(region);
        let sns = crate::sdk_client!(aws_sdk_sns, &cx.in_region(topic_region));
        let out = sns.get_topic_attributes().topic_arn(&topic).send().await;
        let Outcome::Ok(out) =
            rec.settle(SERVICE, topic_region, "sns:GetTopicAttributes", &[], out)
        else {
            inv.cloudtrail.unread_topics.push(topic);
            continue;
        };
        let attributes = out.attributes();
        let confirmed = attributes
            .and_then(|a| a.get("SubscriptionsConfirmed"))
            .and_then(|n| n.parse().ok());
        let Some(confirmed) = confirmed else {
            rec.gap(
                SERVICE,
                topic_region,
                "sns:GetTopicAttributes",
                "incomplete",
                &format!("topic {topic} gave no SubscriptionsConfirmed"),
            );
            inv.cloudtrail.unread_topics.push(topic);
            continue;
        };
        inv.cloudtrail.topics.push(TopicSubscribers {
            kms_key: attributes
                .and_then(|a| a.get("KmsMasterKeyId"))
                .filter(|k| !k.is_empty())
                .cloned(),
            arn: topic,
            confirmed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::log_group_of;

    #[test]
    fn a_log_group_arn_gives_its_region_and_name() {
        assert_eq!(
            log_group_of(
                "arn:aws:logs:eu-west-1:123456789012:log-group:aws-cloudtrail-logs/main:*"
            ),
            Some(("eu-west-1", "123456789012", "aws-cloudtrail-logs/main"))
        );
        assert_eq!(log_group_of("arn:aws:s3:::bucket"), None);
    }
}
