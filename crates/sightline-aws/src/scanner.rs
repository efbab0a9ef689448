//! The scan of one account: resolve regions, fan out over (region × service)
//! with bounded concurrency, then read CloudWatch utilisation for what was
//! found, and merge everything into one inventory with its coverage gaps.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sightline_core::Inventory;

use crate::collectors::{self, Collect};
use crate::error::AwsError;
use crate::manifest::Service;
use crate::record::ScanRecorder;
use crate::regions;
use crate::session::{AwsSession, SessionRefused};

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Regions to scan; `None` for every enabled region.
    pub regions: Option<Vec<String>>,
    pub services: Vec<Service>,
    /// Collectors running at once (account × region × service).
    pub concurrency: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            regions: None,
            services: Service::ALL.to_vec(),
            concurrency: 8,
        }
    }
}

/// The collector name of the utilisation metrics unit (its manifest section).
const METRICS: &str = "cloudwatch";

#[derive(Debug, Clone)]
enum Unit {
    Global(Service),
    Regional(Service, String),
    Metrics(String),
}

/// Scan the account behind `session`. Only a failure to start (no regions)
/// is an error; everything later is a coverage gap in the inventory.
pub async fn scan(
    session: &AwsSession,
    options: &ScanOptions,
    recorder: &ScanRecorder,
    now: DateTime<Utc>,
) -> Result<Inventory, AwsError> {
    let regions::Resolved {
        scan: regions,
        disabled,
        all_enabled,
    } = regions::resolve(session, recorder, options.regions.as_deref()).await?;
    for region in &disabled {
        recorder.gap(
            "*",
            region,
            "*",
            "RegionError",
            "region is not enabled for this account (opt-in required)",
        );
    }

    let mut inventory = Inventory::new(&session.account_id);
    inventory.partition = session.partition.clone();
    inventory.regions = regions.clone();
    inventory.all_regions_scanned = all_enabled;
    inventory.services = options
        .services
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    inventory.collected_at = Some(now);

    let mut units = Vec::new();
    for service in &options.services {
        if service.is_global() {
            units.push(Unit::Global(*service));
        } else {
            units.extend(regions.iter().map(|r| Unit::Regional(*service, r.clone())));
        }
    }
    let wants_metrics = options.services.iter().any(|s| s.uses_metrics());
    let metric_units = if wants_metrics { regions.len() } else { 0 };
    recorder
        .progress
        .units_total
        .store(units.len() + metric_units, Ordering::Relaxed);

    // One STS session per collector, shared by its regions (with a role;
    // otherwise the caller's credentials as they are). A refused session
    // becomes gaps on each of that collector's actions, below.
    let mut configs: BTreeMap<&'static str, Result<SdkConfig, SessionRefused>> = BTreeMap::new();
    let mut wanted: Vec<(&'static str, &'static [&'static str])> = options
        .services
        .iter()
        .map(|s| (s.name(), s.actions()))
        .collect();
    if wants_metrics {
        wanted.push((METRICS, collectors::cloudwatch::ACTIONS));
    }
    for (collector, actions) in wanted {
        let config = session.for_collector(collector, actions).await;
        if let Err(refused) = &config {
            tracing::warn!(collector, kind = refused.kind, error = %refused.message, "collector session refused");
        }
        configs.insert(collector, config);
    }
    let configs = &configs;

    let concurrency = options.concurrency.max(1);
    let fragments: Vec<(Unit, Inventory)> = futures::stream::iter(units)
        .map(|unit| run(session, configs, recorder, &regions, unit, None, now))
        .buffer_unordered(concurrency)
        .collect()
        .await;

    // Metrics need the resources of their region: gather them per region first.
    let mut by_region: BTreeMap<String, Inventory> = BTreeMap::new();
    for (unit, fragment) in &fragments {
        if let Unit::Regional(service, region) = unit {
            if service.uses_metrics() {
                by_region
                    .entry(region.clone())
                    .or_insert_with(|| Inventory::new(&session.account_id))
                    .absorb(fragment.clone());
            }
        }
    }
    let metrics: Vec<(Unit, Inventory)> = if wants_metrics {
        futures::stream::iter(regions.iter().map(|r| {
            let regional = by_region.get(r);
            run(
                session,
                configs,
                recorder,
                &regions,
                Unit::Metrics(r.clone()),
                regional,
                now,
            )
        }))
        .buffer_unordered(concurrency)
        .collect()
        .await
    } else {
        Vec::new()
    };

    for (_, fragment) in fragments.into_iter().chain(metrics) {
        inventory.absorb(fragment);
    }
    inventory.gaps = recorder.take_gaps();
    Ok(inventory)
}

async fn run(
    session: &AwsSession,
    configs: &BTreeMap<&'static str, Result<SdkConfig, SessionRefused>>,
    recorder: &ScanRecorder,
    regions: &[String],
    unit: Unit,
    regional: Option<&Inventory>,
    now: DateTime<Utc>,
) -> (Unit, Inventory) {
    let home = session.home_region();
    let region = match &unit {
        Unit::Global(_) => home.as_str(),
        Unit::Regional(_, r) | Unit::Metrics(r) => r.as_str(),
    };
    let (collector, service, actions) = match &unit {
        Unit::Global(service) | Unit::Regional(service, _) => {
            (service.name(), service.name(), service.actions())
        }
        Unit::Metrics(_) => (METRICS, METRICS, collectors::cloudwatch::ACTIONS),
    };
    let config = match configs.get(collector) {
        Some(Ok(config)) => config,
        Some(Err(refused)) => {
            // Nothing of this collector can be read here: every check that
            // needs one of its actions says "not evaluated".
            for action in actions {
                recorder.gap(service, region, action, refused.kind, &refused.message);
            }
            recorder.progress.units_done.fetch_add(1, Ordering::Relaxed);
            return (unit, Inventory::new(&session.account_id));
        }
        None => {
            tracing::error!(collector, "no session was made for this collector");
            return (unit, Inventory::new(&session.account_id));
        }
    };
    let cx = Collect {
        session,
        config,
        recorder,
        region,
    };
    let fragment = match &unit {
        Unit::Global(Service::Iam) => collectors::iam::collect(cx).await,
        Unit::Global(Service::S3) => collectors::s3::collect(cx, regions).await,
        Unit::Regional(Service::Ec2, _) => collectors::ec2::collect(cx).await,
        Unit::Regional(Service::Rds, _) => collectors::rds::collect(cx).await,
        Unit::Regional(Service::Elb, _) => collectors::elb::collect(cx).await,
        Unit::Regional(Service::Lambda, _) => collectors::lambda::collect(cx).await,
        Unit::Regional(Service::Security, _) => collectors::security::collect(cx).await,
        Unit::Regional(Service::Kms, _) => collectors::kms::collect(cx).await,
        Unit::Regional(Service::Efs, _) => collectors::efs::collect(cx).await,
        Unit::Regional(Service::SecretsManager, _) => collectors::secretsmanager::collect(cx).await,
        Unit::Regional(Service::DynamoDb, _) => collectors::dynamodb::collect(cx).await,
        Unit::Regional(Service::Ecr, _) => collectors::ecr::collect(cx).await,
        Unit::Regional(Service::Logs, _) => collectors::logs::collect(cx).await,
        Unit::Regional(Service::Bedrock, _) => collectors::bedrock::collect(cx).await,
        Unit::Regional(Service::CloudTrail, _) => {
            collectors::cloudtrail::collect(cx, regions).await
        }
        Unit::Metrics(_) => {
            let mut out = cx.fragment();
            if let Some(regional) = regional {
                collectors::cloudwatch::collect(cx, regional, now, &mut out).await;
            }
            out
        }
        Unit::Global(other) | Unit::Regional(other, _) => {
            tracing::error!(service = %other, "no collector for this service in this scope");
            cx.fragment()
        }
    };
    recorder.progress.units_done.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(?unit, "collected");
    (unit, fragment)
}

/// Scan and evaluate `checks`: the inventory and the report, with the
/// recorder's counters in the report's stats.
pub async fn scan_and_evaluate(
    session: &AwsSession,
    options: &ScanOptions,
    recorder: &ScanRecorder,
    checks: &[&sightline_core::Check],
) -> Result<(Inventory, sightline_core::ScanReport), AwsError> {
    let started = std::time::Instant::now();
    let now = Utc::now();
    let inventory = scan(session, options, recorder, now).await?;
    let stats = sightline_core::evaluate::ScanStats {
        api_calls: recorder.api_calls(),
        resources: inventory.resource_count(),
        duration_ms: started.elapsed().as_millis() as u64,
        calls_by_action: recorder.calls_by_action(),
    };
    let report = sightline_core::evaluate(
        &inventory,
        checks,
        &sightline_core::CheckContext::new(now),
        stats,
    );
    Ok((inventory, report))
}
