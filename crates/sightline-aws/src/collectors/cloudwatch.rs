//! CloudWatch: daily utilisation series for the resources the idle checks
//! judge (EC2 instances, RDS instances, NAT gateways, load balancers), read
//! with `GetMetricData` in batches of up to 500 queries, never one call per
//! metric.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, DurationRound, Utc};
use sightline_core::inventory::metrics::MetricKind;
use sightline_core::Inventory;

use super::Collect;
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["cloudwatch:GetMetricData"];

const SERVICE: &str = "cloudwatch";
/// GetMetricData's limit on queries per request.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Trusted Advisor looks back 14 days.
pub const WINDOW_DAYS: i64 = 14;
const DAY_SECONDS: i32 = 86_400;

/// One series to fetch: which resource, which metric, and what it adds to.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    /// The ARN of the resource: ids repeat across regions, ARNs do not.
    pub resource_arn: String,
    pub kind: MetricKind,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimension: (&'static str, String),
    pub stat: &'static str,
}

/// The series the idle checks need for what `region_inventory` holds.
pub fn requests_for(inv: &Inventory) -> Vec<SeriesRequest> {
    let mut out = Vec::new();
    let mut push = |id: &str, kind, namespace, metric, dim: (&'static str, String), stat| {
        out.push(SeriesRequest {
            resource_arn: id.to_owned(),
            kind,
            namespace,
            metric,
            dimension: dim,
            stat,
        });
    };
    for i in inv.ec2.instances.iter().filter(|i| i.state == "running") {
        let dim = ("InstanceId", i.meta.id.clone());
        push(
            &i.meta.arn,
            MetricKind::Ec2CpuAverage,
            "AWS/EC2",
            "CPUUtilization",
            dim.clone(),
            "Average",
        );
        push(
            &i.meta.arn,
            MetricKind::Ec2NetworkBytes,
            "AWS/EC2",
            "NetworkIn",
            dim.clone(),
            "Sum",
        );
        push(
            &i.meta.arn,
            MetricKind::Ec2NetworkBytes,
            "AWS/EC2",
            "NetworkOut",
            dim,
            "Sum",
        );
    }
    for db in &inv.rds.instances {
        let dim = ("DBInstanceIdentifier", db.meta.id.clone());
        push(
            &db.meta.arn,
            MetricKind::RdsConnectionsMax,
            "AWS/RDS",
            "DatabaseConnections",
            dim,
            "Maximum",
        );
    }
    for n in inv
        .ec2
        .nat_gateways
        .iter()
        .filter(|n| n.state == "available")
    {
        let dim = ("NatGatewayId", n.meta.id.clone());
        push(
            &n.meta.arn,
            MetricKind::NatBytes,
            "AWS/NATGateway",
            "BytesOutToDestination",
            dim.clone(),
            "Sum",
        );
        push(
            &n.meta.arn,
            MetricKind::NatBytes,
            "AWS/NATGateway",
            "BytesInFromSource",
            dim,
            "Sum",
        );
    }
    for lb in &inv.elb.load_balancers {
        let Some(dimension) = lb.metric_dimension() else {
            continue;
        };
        let (namespace, metric) = match lb.lb_type.as_str() {
            "network" => ("AWS/NetworkELB", "NewFlowCount"),
            "application" => ("AWS/ApplicationELB", "RequestCount"),
            _ => continue,
        };
        push(
            &lb.meta.arn,
            MetricKind::LbRequests,
            namespace,
            metric,
            ("LoadBalancer", dimension),
            "Sum",
        );
    }
    out
}

/// Start and end of the look-back window: whole UTC days ending today at 00:00.
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    (end - Duration::days(WINDOW_DAYS), end)
}

/// Fetch the series for `region_inventory` and add them to `out`.
pub async fn collect(
    cx: Collect<'_>,
    region_inventory: &Inventory,
    now: DateTime<Utc>,
    out: &mut Inventory,
) {
    let requests = requests_for(region_inventory);
    out.metrics.window_days = WINDOW_DAYS;
    if requests.is_empty() {
        return;
    }
    let client = aws_sdk_cloudwatch::Client::new(&cx.session.in_region(cx.region));
    let (start, end) = window(now);
    let to_smithy = |t: DateTime<Utc>| aws_smithy_types::DateTime::from_secs(t.timestamp());

    for (batch_index, batch) in requests.chunks(MAX_QUERIES_PER_CALL).enumerate() {
        let queries: Vec<MetricDataQuery> = batch
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let metric = Metric::builder()
                    .namespace(r.namespace)
                    .metric_name(r.metric)
                    .dimensions(
                        Dimension::builder()
                            .name(r.dimension.0)
                            .value(&r.dimension.1)
                            .build(),
                    )
                    .build();
                MetricDataQuery::builder()
                    .id(format!("q{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(DAY_SECONDS)
                            .stat(r.stat)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut pages = client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(to_smithy(start))
            .end_time(to_smithy(end))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let Outcome::Ok(page) =
                cx.recorder
                    .settle(SERVICE, cx.region, "cloudwatch:GetMetricData", &[], page)
            else {
                break;
            };
            for result in page.metric_data_results() {
                let Some(index) = result
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|i| i.parse::<usize>().ok())
                else {
                    continue;
                };
                let Some(request) = batch.get(index) else {
                    continue;
                };
                // A series CloudWatch could not answer in full is a gap, not a quiet resource.
                if let Some(status) = result.status_code().filter(|s| s.as_str() != "Complete") {
                    let detail: Vec<&str> =
                        result.messages().iter().filter_map(|m| m.value()).collect();
                    let error = format!(
                        "{} {} for {}: status {} {}",
                        request.namespace,
                        request.metric,
                        request.resource_arn,
                        status.as_str(),
                        detail.join("; ")
                    );
                    cx.recorder.gap(
                        SERVICE,
                        cx.region,
                        "cloudwatch:GetMetricData",
                        "Other",
                        &error,
                    );
                    continue;
                }
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    let Some(day) = DateTime::from_timestamp(t.secs(), 0) else {
                        continue;
                    };
                    let day = day.duration_trunc(Duration::days(1)).unwrap_or(day);
                    out.metrics
                        .add(&request.resource_arn, request.kind, day, *v);
                }
            }
        }
        tracing::debug!(
            region = cx.region,
            batch = batch_index,
            queries = batch.len(),
            "metrics batch read"
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn window_is_fourteen_whole_days() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 16, 5, 0).unwrap();
        let (start, end) = window(now);
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 9, 0, 0, 0).unwrap());
    }
}
