//! Elastic Load Balancing v2 records: load balancers, listeners, target
//! groups with the health of their targets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ElbInventory {
    pub load_balancers: Vec<LoadBalancer>,
    pub listeners: Vec<Listener>,
    pub target_groups: Vec<TargetGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub meta: ResourceMeta,
    /// `application`, `network`, `gateway`.
    pub lb_type: String,
    pub scheme: Option<String>,
    pub state: Option<String>,
    pub availability_zones: Vec<String>,
    pub created_time: Option<DateTime<Utc>>,
    pub dns_name: Option<String>,
}

impl LoadBalancer {
    /// The `LoadBalancer` dimension CloudWatch uses: `app/name/id` from the ARN.
    pub fn metric_dimension(&self) -> Option<String> {
        self.meta
            .arn
            .split_once(":loadbalancer/")
            .map(|(_, rest)| rest.to_owned())
    }

    /// The CloudWatch metric that counts its traffic per day, `(namespace,
    /// metric)`: requests for an ALB, new flows for an NLB. A Gateway Load
    /// Balancer (or a kind this code does not know) has none that Sightline
    /// reads, so nothing can be concluded about its traffic.
    pub fn traffic_metric(&self) -> Option<(&'static str, &'static str)> {
        match self.lb_type.as_str() {
            "application" => Some(("AWS/ApplicationELB", "RequestCount")),
            "network" => Some(("AWS/NetworkELB", "NewFlowCount")),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    pub meta: ResourceMeta,
    pub load_balancer_arn: String,
    pub port: Option<i32>,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetGroup {
    pub meta: ResourceMeta,
    pub load_balancer_arns: Vec<String>,
    pub target_type: Option<String>,
    /// `None` when `DescribeTargetHealth` failed for this group.
    pub targets: Option<Vec<TargetHealth>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetHealth {
    pub target_id: String,
    pub port: Option<i32>,
    /// `healthy`, `unhealthy`, `initial`, `unused`, `draining`, `unavailable`.
    pub state: String,
}
