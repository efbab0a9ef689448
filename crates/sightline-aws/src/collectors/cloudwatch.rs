//! CloudWatch: daily utilisation series for the resources the idle checks
//! judge (EC2 instances, RDS instances, NAT gateways, load balancers), read
//! with `GetMetricData` in batches of up to 500 queries, never one call per
//! metric.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat};
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
        let Some((namespace, metric, dimension_name)) = lb.traffic_metric() else {
            continue;
        };
        push(
            &lb.meta.arn,
            MetricKind::LbRequests,
            namespace,
            metric,
            (dimension_name, dimension),
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
    let client = crate::sdk_client!(aws_sdk_cloudwatch, &cx.in_region(cx.region));
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
        let mut status: Vec<QueryState> = vec![QueryState::default(); batch.len()];
        let mut finished = true;
        while let Some(page) = pages.next().await {
            let Outcome::Ok(page) =
                cx.recorder
                    .settle(SERVICE, cx.region, "cloudwatch:GetMetricData", &[], page)
            else {
                // The error is the gap; what the earlier pages said is kept.
                finished = false;
                break;
            };
            absorb_page(batch, page.metric_data_results(), &mut status, out);
        }
        if finished {
            for error in unfinished(batch, &status) {
                cx.recorder.gap(
                    SERVICE,
                    cx.region,
                    "cloudwatch:GetMetricData",
                    "Other",
                    &error,
                );
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

/// What the pages so far said about one query.
#[derive(Debug, Clone, Default)]
struct QueryState {
    /// Its latest status code (`Complete`, `PartialData`, ...).
    status: Option<String>,
    /// The timestamps already added: a point repeated on a later page must
    /// not count twice (a doubled average or count would hide an idle day).
    seen: std::collections::HashSet<i64>,
}

/// Add one page's datapoints to `out` and note each query's latest status.
/// A `PartialData` result is kept: the next page (its `NextToken`)
/// continues the same query, and only the last status says whether the
/// series is whole.
fn absorb_page(
    batch: &[SeriesRequest],
    results: &[MetricDataResult],
    status: &mut [QueryState],
    out: &mut Inventory,
) {
    for result in results {
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
        let state = &mut status[index];
        state.status = Some(
            result
                .status_code()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "no status".to_owned()),
        );
        for (t, v) in result.timestamps().iter().zip(result.values()) {
            if !state.seen.insert(t.secs()) {
                continue;
            }
            let Some(day) = DateTime::from_timestamp(t.secs(), 0) else {
                continue;
            };
            let day = day.duration_trunc(Duration::days(1)).unwrap_or(day);
            out.metrics
                .add(&request.resource_arn, request.kind, day, *v);
        }
    }
}

/// The queries CloudWatch did not answer in full once every page was read:
/// each is a gap, not a quiet resource.
fn unfinished(batch: &[SeriesRequest], status: &[QueryState]) -> Vec<String> {
    batch
        .iter()
        .zip(status.iter().map(|q| &q.status))
        .filter(|(_, s)| s.as_deref() != Some("Complete"))
        .map(|(r, s)| {
            format!(
                "{} {} for {}: {}",
                r.namespace,
                r.metric,
                r.resource_arn,
                s.as_deref()
                    .map(|s| format!("status {s} after the last page"))
                    .unwrap_or_else(|| "no result".to_owned())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::types::StatusCode;
    use chrono::TimeZone;

    use super::*;

    fn request(id: &str) -> SeriesRequest {
        SeriesRequest {
            resource_arn: format!("arn:aws:ec2:us-east-1:123456789012:natgateway/{id}"),
            kind: MetricKind::NatBytes,
            namespace: "AWS/NATGateway",
            metric: "BytesOutToDestination",
            dimension: ("NatGatewayId", id.to_owned()),
            stat: "Sum",
        }
    }

    fn result(id: &str, status: StatusCode, days: &[(u32, f64)]) -> MetricDataResult {
        let mut b = MetricDataResult::builder().id(id).status_code(status);
        for (day, value) in days {
            let t = Utc.with_ymd_and_hms(2026, 11, *day, 0, 0, 0).unwrap();
            b = b
                .timestamps(aws_smithy_types::DateTime::from_secs(t.timestamp()))
                .values(*value);
        }
        b.build()
    }

    /// A `PartialData` page is followed, not discarded: its points count,
    /// and the series is a gap only if its last page is still partial.
    #[test]
    fn partial_pages_are_kept_and_only_an_unfinished_series_is_a_gap() {
        let batch = [request("nat-a"), request("nat-b"), request("nat-c")];
        let mut status = vec![QueryState::default(); batch.len()];
        let mut out = Inventory::new("123456789012");
        absorb_page(
            &batch,
            &[
                result("q0", StatusCode::PartialData, &[(20, 5.0)]),
                result("q1", StatusCode::PartialData, &[(20, 7.0)]),
            ],
            &mut status,
            &mut out,
        );
        absorb_page(
            &batch,
            &[
                // The 20th again (a repeat must not double it), then the 21st.
                result("q0", StatusCode::Complete, &[(20, 5.0), (21, 6.0)]),
                result("q1", StatusCode::PartialData, &[(21, 8.0)]),
            ],
            &mut status,
            &mut out,
        );
        let days = |id: &str| -> Vec<f64> {
            out.metrics
                .series(
                    &batch
                        .iter()
                        .find(|r| r.dimension.1 == id)
                        .unwrap()
                        .resource_arn,
                    MetricKind::NatBytes,
                )
                .unwrap_or_default()
                .iter()
                .map(|p| p.value)
                .collect()
        };
        assert_eq!(days("nat-a"), [5.0, 6.0]);
        assert_eq!(days("nat-b"), [7.0, 8.0]);
        assert_eq!(
            unfinished(&batch, &status),
            [
                "AWS/NATGateway BytesOutToDestination for arn:aws:ec2:us-east-1:123456789012:natgateway/nat-b: status PartialData after the last page",
                "AWS/NATGateway BytesOutToDestination for arn:aws:ec2:us-east-1:123456789012:natgateway/nat-c: no result",
            ]
        );
    }

    #[test]
    fn window_is_fourteen_whole_days() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 16, 5, 0).unwrap();
        let (start, end) = window(now);
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 9, 0, 0, 0).unwrap());
    }
}
