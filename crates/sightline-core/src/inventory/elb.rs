//! Elastic Load Balancing records: load balancers (v2 and Classic),
//! listeners (with the protocols their TLS policies accept), target groups
//! with the health of their targets, and a Classic Load Balancer's own
//! listeners and instances.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ElbInventory {
    pub load_balancers: Vec<LoadBalancer>,
    pub listeners: Vec<Listener>,
    pub target_groups: Vec<TargetGroup>,
    /// Region → TLS policy name → the protocols it accepts (`TLSv1`,
    /// `TLSv1.1`, `TLSv1.2`, `TLSv1.3`), for the policies listeners use. A
    /// region missing here was not read.
    #[serde(default)]
    pub ssl_policies: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl ElbInventory {
    /// The protocols `policy` accepts, as ELB described it in `region`.
    pub fn ssl_protocols(&self, region: &str, policy: &str) -> Option<&[String]> {
        self.ssl_policies
            .get(region)?
            .get(policy)
            .map(Vec::as_slice)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub meta: ResourceMeta,
    /// `application`, `network`, `gateway`, or `classic` (the previous
    /// generation, read through the ELB API of 2012).
    pub lb_type: String,
    pub scheme: Option<String>,
    pub state: Option<String>,
    pub availability_zones: Vec<String>,
    pub created_time: Option<DateTime<Utc>>,
    pub dns_name: Option<String>,
    /// A Classic Load Balancer's listeners (v2 listeners are their own
    /// resources in `ElbInventory::listeners`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classic_listeners: Vec<ClassicListener>,
    /// A Classic Load Balancer's registered instances and their health;
    /// `None` for v2, or when `DescribeInstanceHealth` failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classic_instances: Option<Vec<TargetHealth>>,
}

impl LoadBalancer {
    /// The `LoadBalancer` dimension CloudWatch uses: `app/name/id` from the ARN.
    /// For a Classic Load Balancer, `LoadBalancerName`: its ARN ends in
    /// `loadbalancer/<name>`.
    pub fn metric_dimension(&self) -> Option<String> {
        self.meta
            .arn
            .split_once(":loadbalancer/")
            .map(|(_, rest)| rest.to_owned())
    }

    /// The CloudWatch metric that counts its traffic per day, `(namespace,
    /// metric, dimension name)`: requests for an ALB, new flows for an NLB,
    /// requests (connections, on a TCP listener) for a Classic. A Gateway
    /// Load Balancer (or a kind this code does not know) has none that
    /// Sightline reads, so nothing can be concluded about its traffic.
    pub fn traffic_metric(&self) -> Option<(&'static str, &'static str, &'static str)> {
        match self.lb_type.as_str() {
            "application" => Some(("AWS/ApplicationELB", "RequestCount", "LoadBalancer")),
            "network" => Some(("AWS/NetworkELB", "NewFlowCount", "LoadBalancer")),
            "classic" => Some(("AWS/ELB", "RequestCount", "LoadBalancerName")),
            _ => None,
        }
    }

    pub fn is_classic(&self) -> bool {
        self.lb_type == "classic"
    }
}

/// A listener of a Classic Load Balancer: a port and protocol on the
/// front, a port and protocol on the instances, and the policies applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassicListener {
    pub port: i32,
    /// `HTTP`, `HTTPS`, `TCP` or `SSL`.
    pub protocol: String,
    pub instance_port: i32,
    pub instance_protocol: Option<String>,
    /// Every policy applied to the listener, in order (the TLS negotiation
    /// policy and any stickiness policy): `SetLoadBalancerPoliciesOfListener`
    /// replaces them all at once.
    pub policy_names: Vec<String>,
    /// The listener's TLS negotiation policy, among `policy_names`.
    pub ssl_policy: Option<String>,
    /// The predefined policy it was made from (`Reference-Security-Policy`).
    pub reference_policy: Option<String>,
    /// The protocols the negotiation policy enables (`Protocol-TLSv1.2`:
    /// `true`); `None` when it was not described.
    pub ssl_protocols: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    pub meta: ResourceMeta,
    pub load_balancer_arn: String,
    pub port: Option<i32>,
    pub protocol: Option<String>,
    /// The default actions, in order: their types and where a redirect
    /// goes, never their configuration (an OIDC action holds a client secret).
    #[serde(default)]
    pub default_actions: Vec<ListenerAction>,
    /// The TLS policy of an HTTPS or TLS listener.
    #[serde(default)]
    pub ssl_policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerAction {
    /// `forward`, `redirect`, `fixed-response`, `authenticate-oidc`, `authenticate-cognito`.
    pub kind: String,
    /// A redirect's `Protocol`: `HTTP`, `HTTPS` or `#{protocol}` (unchanged).
    pub redirect_protocol: Option<String>,
}

impl Listener {
    /// Whether the default action sends every request on to HTTPS (a
    /// redirect is always the last action).
    pub fn redirects_to_https(&self) -> bool {
        self.default_actions.last().is_some_and(|a| {
            a.kind == "redirect" && a.redirect_protocol.as_deref() == Some("HTTPS")
        })
    }
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
