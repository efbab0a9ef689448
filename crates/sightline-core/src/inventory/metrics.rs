//! CloudWatch utilisation series, one value per day, keyed by the resource
//! they describe. A resource with no series has no data (and is never
//! called idle on no data).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which daily series a check can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MetricKind {
    /// EC2 `CPUUtilization`, daily average, percent.
    Ec2CpuAverage,
    /// EC2 `NetworkIn` + `NetworkOut`, daily sum, bytes.
    Ec2NetworkBytes,
    /// RDS `DatabaseConnections`, daily maximum.
    RdsConnectionsMax,
    /// NAT gateway `BytesOutToDestination` + `BytesInFromSource`, daily sum.
    NatBytes,
    /// ALB `RequestCount` / NLB `NewFlowCount`, daily sum.
    LbRequests,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPoint {
    pub day: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricsInventory {
    /// Resource ARN → kind → daily points, oldest first.
    pub daily: BTreeMap<String, BTreeMap<MetricKind, Vec<DailyPoint>>>,
    /// The look-back window the series cover, in days.
    pub window_days: i64,
}

impl MetricsInventory {
    pub fn series(&self, resource_arn: &str, kind: MetricKind) -> Option<&[DailyPoint]> {
        self.daily
            .get(resource_arn)
            .and_then(|m| m.get(&kind))
            .map(Vec::as_slice)
    }

    /// Add a day's value to a series (summing two metrics into one kind).
    pub fn add(&mut self, resource_arn: &str, kind: MetricKind, day: DateTime<Utc>, value: f64) {
        let series = self
            .daily
            .entry(resource_arn.to_owned())
            .or_default()
            .entry(kind)
            .or_default();
        match series.iter_mut().find(|p| p.day == day) {
            Some(point) => point.value += value,
            None => {
                series.push(DailyPoint { day, value });
                series.sort_by_key(|p| p.day);
            }
        }
    }
}

/// The values of the last `days` whole days before `today` (midnight UTC),
/// oldest first. A day without a datapoint counts as 0 when the metric is a
/// count CloudWatch omits when nothing happens (requests, bytes) and the
/// resource existed all that day; otherwise the day is unknown and `None`
/// is returned: no verdict on partial data.
pub fn last_days(
    series: Option<&[DailyPoint]>,
    today: DateTime<Utc>,
    days: i64,
    zero_when_missing_since: Option<DateTime<Utc>>,
) -> Option<Vec<f64>> {
    (1..=days)
        .rev()
        .map(|back| {
            let day = today - chrono::Duration::days(back);
            let found = series
                .and_then(|s| s.iter().find(|p| p.day == day))
                .map(|p| p.value);
            found.or_else(|| {
                zero_when_missing_since
                    .filter(|created| *created <= day)
                    .map(|_| 0.0)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn missing_days_are_zero_only_for_resources_that_existed() {
        let today = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let day = |back: i64| today - chrono::Duration::days(back);
        let series = vec![DailyPoint {
            day: day(2),
            value: 5.0,
        }];
        assert_eq!(
            last_days(Some(&series), today, 3, Some(day(30))),
            Some(vec![0.0, 5.0, 0.0])
        );
        assert_eq!(last_days(Some(&series), today, 3, None), None);
        assert_eq!(
            last_days(None, today, 3, Some(day(1))),
            None,
            "created yesterday: two days unknown"
        );
        assert_eq!(
            last_days(None, today, 2, Some(day(30))),
            Some(vec![0.0, 0.0])
        );
    }
}
