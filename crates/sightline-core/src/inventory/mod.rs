//! The inventory snapshot: everything one scan of one account collected, as
//! plain typed records, plus the coverage gaps of what it could not collect.
//! `None` in an attribute means "could not be read" and never "off".

pub mod bedrock;
pub mod cloudtrail;
pub mod dynamodb;
pub mod ec2;
pub mod ecr;
pub mod efs;
pub mod elb;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod metrics;
pub mod rds;
pub mod s3;
pub mod secretsmanager;
pub mod security;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A resource's tags, by key.
pub type Tags = crate::small_map::SmallMap<String>;

/// Identity of one resource: what every record carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResourceMeta {
    /// `ec2.instance`, `s3.bucket`, ...: service, dot, kind.
    pub resource_type: String,
    pub id: String,
    pub arn: String,
    /// AWS region, or `global` for IAM and other global services.
    pub region: String,
    pub name: Option<String>,
    /// Tag values already redacted when they look like credentials.
    pub tags: Tags,
}

impl ResourceMeta {
    pub fn new(resource_type: &str, id: &str, arn: &str, region: &str) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            arn: arn.to_owned(),
            region: region.to_owned(),
            name: None,
            tags: Tags::new(),
        }
    }

    pub fn with_tags(mut self, tags: impl Into<Tags>) -> Self {
        let tags = tags.into();
        self.name = tags.get("Name").cloned();
        self.tags = tags;
        self
    }
}

/// A record that carries its identity.
pub trait Record: Serialize {
    fn meta(&self) -> &ResourceMeta;
}

macro_rules! records {
    ($($t:ty),* $(,)?) => {$(
        impl Record for $t {
            fn meta(&self) -> &ResourceMeta {
                &self.meta
            }
        }
    )*};
}

records!(
    ec2::Instance,
    ec2::Volume,
    ec2::Snapshot,
    ec2::Address,
    ec2::SecurityGroup,
    ec2::Vpc,
    ec2::FlowLog,
    ec2::Image,
    ec2::NatGateway,
    ec2::NetworkAcl,
    s3::Bucket,
    iam::User,
    iam::Role,
    iam::Group,
    iam::ManagedPolicy,
    rds::DbInstance,
    rds::DbCluster,
    rds::DbSnapshot,
    elb::LoadBalancer,
    elb::Listener,
    elb::TargetGroup,
    lambda::Function,
    cloudtrail::Trail,
    kms::KmsKey,
    efs::FileSystem,
    secretsmanager::Secret,
    dynamodb::Table,
    ecr::Repository,
    logs::LogGroup,
);

/// A list of records of one type, seen without its type. `Sync`, so that a
/// writer may hold an iterator over records across an await.
trait RecordList: Sync {
    fn count(&self) -> usize;
    fn metas(&self) -> Vec<&ResourceMeta>;
    fn record(&self, index: usize) -> Option<(&ResourceMeta, serde_json::Value)>;
}

impl<T: Record + Sync> RecordList for Vec<T> {
    fn count(&self) -> usize {
        self.len()
    }

    fn metas(&self) -> Vec<&ResourceMeta> {
        self.iter().map(Record::meta).collect()
    }

    fn record(&self, index: usize) -> Option<(&ResourceMeta, serde_json::Value)> {
        let r = self.get(index)?;
        let mut value = serde_json::to_value(r).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("meta");
        }
        Some((r.meta(), value))
    }
}

/// One API call the scan needed and could not make: the scan goes on, and
/// every check that needed `action` in `region` is reported not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageGap {
    /// Service name as in the action manifest: `ec2`, `s3`, `iam`, ...
    pub service: String,
    pub region: String,
    /// IAM action, `service:Operation`.
    pub action: String,
    /// Short error class: `AccessDenied`, `Unsupported`, `Timeout`, `RegionError`, `Throttled`, `Credentials`, `Connection`, `BadResponse`, `Other`.
    pub kind: String,
    pub error: String,
}

/// The service (as `--services` and gaps name it) whose collector an IAM
/// action belongs to.
fn action_service(action: &str) -> &str {
    match action.split(':').next().unwrap_or_default() {
        "elasticfilesystem" => "efs",
        "elasticloadbalancing" => "elb",
        "access-analyzer" | "config" | "securityhub" | "guardduty" => "security",
        prefix => prefix,
    }
}

/// What one scan of one account collected.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Inventory {
    pub account_id: String,
    pub partition: String,
    pub regions: Vec<String>,
    /// Services the scan was asked to collect (`ec2`, `s3`, ...).
    pub services: Vec<String>,
    pub collected_at: Option<DateTime<Utc>>,
    /// Whether `regions` is every region enabled for the account (not a
    /// `--regions` subset): only then can an "in all regions" control pass.
    #[serde(default = "crate::inventory::yes")]
    pub all_regions_scanned: bool,
    pub ec2: ec2::Ec2Inventory,
    pub s3: s3::S3Inventory,
    pub iam: iam::IamInventory,
    pub rds: rds::RdsInventory,
    pub elb: elb::ElbInventory,
    pub lambda: lambda::LambdaInventory,
    pub cloudtrail: cloudtrail::CloudTrailInventory,
    #[serde(default)]
    pub security: security::SecurityInventory,
    #[serde(default)]
    pub kms: kms::KmsInventory,
    #[serde(default)]
    pub efs: efs::EfsInventory,
    #[serde(default)]
    pub secretsmanager: secretsmanager::SecretsManagerInventory,
    #[serde(default)]
    pub dynamodb: dynamodb::DynamoDbInventory,
    #[serde(default)]
    pub ecr: ecr::EcrInventory,
    #[serde(default)]
    pub logs: logs::LogsInventory,
    #[serde(default)]
    pub bedrock: bedrock::BedrockInventory,
    pub metrics: metrics::MetricsInventory,
    pub gaps: Vec<CoverageGap>,
}

impl Inventory {
    pub fn new(account_id: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            partition: "aws".to_owned(),
            all_regions_scanned: true,
            ..Self::default()
        }
    }

    /// Every resource collection, type-erased, in a stable order.
    fn collections(&self) -> [&dyn RecordList; 29] {
        let e = &self.ec2;
        [
            &e.instances,
            &e.volumes,
            &e.snapshots,
            &e.addresses,
            &e.security_groups,
            &e.vpcs,
            &e.flow_logs,
            &e.images,
            &e.nat_gateways,
            &e.network_acls,
            &self.s3.buckets,
            &self.iam.users,
            &self.iam.roles,
            &self.iam.groups,
            &self.iam.policies,
            &self.rds.instances,
            &self.rds.clusters,
            &self.rds.snapshots,
            &self.elb.load_balancers,
            &self.elb.listeners,
            &self.elb.target_groups,
            &self.lambda.functions,
            &self.cloudtrail.trails,
            &self.kms.keys,
            &self.efs.file_systems,
            &self.secretsmanager.secrets,
            &self.dynamodb.tables,
            &self.ecr.repositories,
            &self.logs.log_groups,
        ]
    }

    /// Every resource's identity, for counting and for listing the inventory.
    pub fn resources(&self) -> Vec<&ResourceMeta> {
        self.collections()
            .into_iter()
            .flat_map(|c| c.metas())
            .collect()
    }

    pub fn resource_count(&self) -> usize {
        self.collections().into_iter().map(|c| c.count()).sum()
    }

    /// Every resource with its record as JSON (already redacted), for
    /// storage, in the order of [`Inventory::resources`]. Lazy: each record
    /// is turned into JSON as it is reached, so a writer that streams them
    /// in chunks never holds the whole estate as JSON at once.
    pub fn records(&self) -> impl Iterator<Item = (&ResourceMeta, serde_json::Value)> + Send + '_ {
        self.collections()
            .into_iter()
            .flat_map(|c| (0..c.count()).filter_map(move |i| c.record(i)))
    }

    /// The gaps that stop a check of `service` needing `actions` from being
    /// evaluated: a gap on one of them recorded by the check's own
    /// collector, or by the collector whose service the action belongs to.
    /// A collector that reads another service's action on the side (the
    /// CloudTrail collector reading a trail bucket's logging, which a log
    /// archive in another account refuses) speaks only for its own checks.
    pub fn gaps_for<'a>(&'a self, service: &str, actions: &[&str]) -> Vec<&'a CoverageGap> {
        self.gaps
            .iter()
            .filter(|g| {
                g.action == "*"
                    || (actions.iter().any(|a| a.eq_ignore_ascii_case(&g.action))
                        && (g.service == service || g.service == action_service(&g.action)))
            })
            .collect()
    }

    /// Add what another part of the same scan collected (one region, one service).
    pub fn absorb(&mut self, other: Inventory) {
        let Inventory {
            ec2,
            s3,
            iam,
            rds,
            elb,
            lambda,
            cloudtrail,
            security,
            kms,
            efs,
            secretsmanager,
            dynamodb,
            ecr,
            logs,
            bedrock,
            metrics,
            gaps,
            ..
        } = other;
        self.bedrock.regions.extend(bedrock.regions);
        self.bedrock.not_offered.extend(bedrock.not_offered);
        self.security.regions.extend(security.regions);
        self.kms.keys.extend(kms.keys);
        self.efs.file_systems.extend(efs.file_systems);
        self.secretsmanager.secrets.extend(secretsmanager.secrets);
        self.dynamodb.tables.extend(dynamodb.tables);
        self.ecr.repositories.extend(ecr.repositories);
        self.ecr.registries.extend(ecr.registries);
        self.logs.log_groups.extend(logs.log_groups);
        self.ec2.instances.extend(ec2.instances);
        self.ec2.volumes.extend(ec2.volumes);
        self.ec2.snapshots.extend(ec2.snapshots);
        self.ec2.addresses.extend(ec2.addresses);
        self.ec2.security_groups.extend(ec2.security_groups);
        self.ec2.vpcs.extend(ec2.vpcs);
        self.ec2.flow_logs.extend(ec2.flow_logs);
        self.ec2.images.extend(ec2.images);
        self.ec2.nat_gateways.extend(ec2.nat_gateways);
        self.ec2.network_acls.extend(ec2.network_acls);
        self.ec2
            .ebs_encryption_by_default
            .extend(ec2.ebs_encryption_by_default);
        self.ec2
            .instance_generations
            .extend(ec2.instance_generations);
        self.s3.buckets.extend(s3.buckets);
        if s3.account_public_access_block.is_some() {
            self.s3.account_public_access_block = s3.account_public_access_block;
        }
        if iam.credential_report.is_some() {
            self.iam.credential_report = iam.credential_report;
        }
        self.iam.users.extend(iam.users);
        self.iam.roles.extend(iam.roles);
        self.iam.groups.extend(iam.groups);
        self.iam.policies.extend(iam.policies);
        if iam.password_policy.is_some() {
            self.iam.password_policy = iam.password_policy;
        }
        if iam.account_summary.is_some() {
            self.iam.account_summary = iam.account_summary;
        }
        if iam.root_virtual_mfa.is_some() {
            self.iam.root_virtual_mfa = iam.root_virtual_mfa;
        }
        if iam.server_certificates.is_some() {
            self.iam.server_certificates = iam.server_certificates;
        }
        self.iam.authorization_details_read |= iam.authorization_details_read;
        self.rds.instances.extend(rds.instances);
        self.rds.clusters.extend(rds.clusters);
        self.rds.snapshots.extend(rds.snapshots);
        self.elb.load_balancers.extend(elb.load_balancers);
        self.elb.listeners.extend(elb.listeners);
        self.elb.target_groups.extend(elb.target_groups);
        self.elb.ssl_policies.extend(elb.ssl_policies);
        self.lambda.functions.extend(lambda.functions);
        // Multi-region trails appear in every region: keep each ARN once
        // (and each log group, alarm and topic read through them).
        for trail in cloudtrail.trails {
            if !self
                .cloudtrail
                .trails
                .iter()
                .any(|t| t.meta.arn == trail.meta.arn)
            {
                self.cloudtrail.trails.push(trail);
            }
        }
        for group in cloudtrail.log_groups {
            if !self
                .cloudtrail
                .log_groups
                .iter()
                .any(|g| g.arn == group.arn)
            {
                self.cloudtrail.log_groups.push(group);
            }
        }
        for alarm in cloudtrail.alarms {
            if !self.cloudtrail.alarms.contains(&alarm) {
                self.cloudtrail.alarms.push(alarm);
            }
        }
        for topic in cloudtrail.topics {
            if !self.cloudtrail.topics.iter().any(|t| t.arn == topic.arn) {
                self.cloudtrail.topics.push(topic);
            }
        }
        for (id, series) in metrics.daily {
            self.metrics.daily.entry(id).or_default().extend(series);
        }
        self.metrics.window_days = self.metrics.window_days.max(metrics.window_days);
        self.gaps.extend(gaps);
    }

    /// Whether `action` has a coverage gap in `region` (or globally), so data it
    /// would have returned is missing rather than absent.
    pub fn missing(&self, action: &str, region: &str) -> bool {
        self.gaps.iter().any(|g| {
            g.action.eq_ignore_ascii_case(action) && (g.region == region || g.region == "global")
        })
    }

    /// ARN of the account itself, the resource of account-wide findings.
    pub fn account_arn(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition, self.account_id)
    }

    pub fn account_meta(&self) -> ResourceMeta {
        ResourceMeta::new(
            "aws.account",
            &self.account_id,
            &self.account_arn(),
            "global",
        )
    }

    /// The resource of a per-region account setting (e.g. EBS encryption by default).
    pub fn region_setting_meta(&self, setting: &str, region: &str) -> ResourceMeta {
        ResourceMeta::new(
            setting,
            &format!("{}/{}", self.account_id, region),
            &format!(
                "arn:{}:ec2:{}:{}:account-setting/{}",
                self.partition, region, self.account_id, setting
            ),
            region,
        )
    }
}

/// Serde's default for flags that were true before they were recorded.
pub(crate) fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store writes `records()` by position in `resources()`: both walk
    /// every collection in the same order, one entry per record.
    #[test]
    fn records_follow_resources_one_for_one_across_collections() {
        let mut inv = Inventory::new("111111111111");
        let meta = |kind: &str, id: &str| {
            ResourceMeta::new(
                kind,
                id,
                &format!("arn:aws:ec2:us-east-1:111111111111:{id}"),
                "us-east-1",
            )
        };
        for id in ["sg-2", "sg-1"] {
            inv.ec2.security_groups.push(ec2::SecurityGroup {
                meta: meta("ec2.security_group", id),
                group_name: id.into(),
                vpc_id: None,
                ingress: vec![],
                egress: vec![],
            });
        }
        // An ARN in two collections, and a collection between them.
        for id in ["vpc-1", "sg-1"] {
            inv.ec2.vpcs.push(ec2::Vpc {
                meta: meta("ec2.vpc", id),
                is_default: false,
                cidr_block: None,
                state: None,
            });
        }
        let listed: Vec<&str> = inv.resources().iter().map(|m| m.arn.as_str()).collect();
        let recorded: Vec<&str> = inv.records().map(|(m, _)| m.arn.as_str()).collect();
        assert_eq!(listed.len(), 4);
        assert_eq!(recorded, listed);
        // Each record is its own resource's, without the metadata.
        let (_, first) = inv.records().next().unwrap();
        assert_eq!(first["group_name"], "sg-2");
        assert!(first.get("meta").is_none());
    }
}
