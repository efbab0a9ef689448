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
    /// Resource id → kind → daily points, oldest first.
    pub daily: BTreeMap<String, BTreeMap<MetricKind, Vec<DailyPoint>>>,
    /// The look-back window the series cover, in days.
    pub window_days: i64,
}

impl MetricsInventory {
    pub fn series(&self, resource_id: &str, kind: MetricKind) -> Option<&[DailyPoint]> {
        self.daily
            .get(resource_id)
            .and_then(|m| m.get(&kind))
            .map(Vec::as_slice)
    }

    /// Add a day's value to a series (summing two metrics into one kind).
    pub fn add(&mut self, resource_id: &str, kind: MetricKind, day: DateTime<Utc>, value: f64) {
        let series = self
            .daily
            .entry(resource_id.to_owned())
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
