//! Scans and their results. A scan's resources, findings, gaps and diff are
//! written in one transaction, in bulk (UNNEST), together with the job's
//! completion: a reader sees all of a scan or none of it, and a job whose
//! lease was lost cannot complete twice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sightline_core::evaluate::{CheckStatus, ScanReport};
use sightline_core::{Finding, Inventory, ResourceMeta};
use sqlx::{FromRow, Postgres, Transaction};
use uuid::Uuid;

use crate::accounts::Account;
use crate::jobs::LeasedJob;
use crate::{Store, StoreError};

/// How a scan changed the findings of its account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, FromRow)]
pub struct ScanDiff {
    pub new: i32,
    pub still_open: i32,
    pub resolved: i32,
    pub regressed: i32,
}

#[derive(Debug, Clone, FromRow)]
pub struct ScanRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub job_id: Option<Uuid>,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub api_calls: i64,
    pub resources: i32,
    pub gaps: i32,
}

/// One finding's change in one scan, for the diff view.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FindingChange {
    pub check_id: String,
    pub resource_arn: String,
    pub change: String,
}

/// What the database holds for one account.
#[derive(Debug, Clone, FromRow)]
pub struct AccountSummary {
    pub resources: i64,
    pub open_findings: i64,
    pub scans: i64,
}

impl Store {
    /// Fill `resources.content_md5` where it is missing. 20261124000001
    /// backfilled it as the tables' owner inside FORCE ROW LEVEL SECURITY,
    /// which on Aurora (a non-superuser owner) filled nothing. Run by setup
    /// as `sightline_worker`, whose policy admits every row; not a
    /// migration, so that the release that brings it adds none and the
    /// previous image (exact-match schema check) can still roll back.
    pub async fn repair_content_digests(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE resources SET content_md5 = md5(tags::text || attributes::text) WHERE content_md5 IS NULL",
        )
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn account_summary(&self, account_id: Uuid) -> Result<AccountSummary, StoreError> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM resources WHERE account_id = $1 AND gone_at IS NULL) AS resources,
                    (SELECT count(*) FROM findings WHERE account_id = $1 AND status = 'open') AS open_findings,
                    (SELECT count(*) FROM scans WHERE account_id = $1) AS scans",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Record that a scan started (visible as `running` while it works).
    pub async fn begin_scan(
        &self,
        account: &Account,
        job: Option<&LeasedJob>,
    ) -> Result<Uuid, StoreError> {
        Ok(sqlx::query_scalar("INSERT INTO scans (workspace_id, account_id, job_id, status) VALUES ($1, $2, $3, 'running') RETURNING id")
            .bind(account.workspace_id)
            .bind(account.id)
            .bind(job.map(|j| j.id))
            .fetch_one(&self.pool)
            .await?)
    }

    /// Write everything a scan found, its diff, and (if it ran as a job) the
    /// job's completion, atomically.
    pub async fn save_scan(
        &self,
        scan_id: Uuid,
        account: &Account,
        job: Option<&LeasedJob>,
        inventory: &Inventory,
        report: &ScanReport,
    ) -> Result<ScanDiff, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One save per account at a time: the summaries below are rewritten
        // from the account's rows, and two interleaved rewrites would each
        // miss the other's rows and count twice.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 16))")
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        // The account stays until this commits: its deletion waits for the
        // write instead of deadlocking with it. (The rows below name the
        // account through their scan, and would lock its row only at the
        // summaries, after the deletion had taken it and waited on the job
        // or the scan this holds.)
        sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR KEY SHARE")
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        if let Some(job) = job {
            crate::jobs::complete_in(&mut tx, job).await?;
        }
        let now = report.generated_at;
        write_resources(&mut tx, scan_id, account, inventory, now, &report.gaps).await?;
        let diff = write_findings(&mut tx, scan_id, account, report).await?;
        write_gaps(&mut tx, scan_id, account, report).await?;
        write_controls(&mut tx, scan_id, account, report).await?;
        sqlx::query(
            "UPDATE scans SET status = $2, finished_at = $3, regions = $4, services = $5, api_calls = $6, resources = $7, gaps = $8,
                 findings_open = $9, findings_new = $10, findings_resolved = $11, findings_regressed = $12,
                 monthly_savings = $13
             WHERE id = $1",
        )
        .bind(scan_id)
        .bind(if report.gaps.is_empty() { "succeeded" } else { "partial" })
        .bind(now)
        .bind(&report.regions)
        .bind(&report.services)
        .bind(report.stats.api_calls as i64)
        .bind(report.stats.resources as i32)
        .bind(report.gaps.len() as i32)
        .bind(report.findings.len() as i32)
        .bind(diff.new)
        .bind(diff.resolved)
        .bind(diff.regressed)
        .bind(
            report
                .findings
                .iter()
                .filter_map(|f| f.savings.as_ref().map(|s| s.monthly_usd))
                .sum::<f64>(),
        )
        .execute(&mut *tx)
        .await?;
        // The summaries the explorer's facets and the overview read, so that
        // no page counts a million rows.
        sqlx::query("SELECT refresh_resource_facets($1)")
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT record_scan_open_counts($1)")
            .bind(scan_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(diff)
    }

    pub async fn scan(&self, id: Uuid) -> Result<ScanRow, StoreError> {
        sqlx::query_as("SELECT id, account_id, job_id, status, started_at, finished_at, api_calls, resources, gaps FROM scans WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "scan", id: id.to_string() })
    }

    /// The findings a scan changed, with how.
    pub async fn scan_changes(&self, scan_id: Uuid) -> Result<Vec<FindingChange>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT f.check_id, f.resource_arn, c.change FROM scan_finding_changes c JOIN findings f ON f.id = c.finding_id
             WHERE c.scan_id = $1 ORDER BY f.check_id, f.resource_arn",
        )
        .bind(scan_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// How many resources or findings one statement writes. Large enough that
/// round trips do not dominate, small enough that a chunk's parameters
/// (its records as JSON) stay a few megabytes.
pub const WRITE_CHUNK: usize = 2_000;

/// How many records a chunk being built takes between yields to the
/// statement being written beside it.
const YIELD_EVERY: usize = 250;

/// The columns of one chunk of resources, unique by ARN.
#[derive(Default)]
struct ResourceChunk {
    /// The id each row gets if it is new (time-ordered, as the column's
    /// default `uuid_v7()` makes them): made here, where the worker has a
    /// core to spare, not by the database for every row (3% of the
    /// statement, most of it `gen_random_uuid`).
    new_ids: Vec<Uuid>,
    arns: Vec<String>,
    types: Vec<String>,
    ids: Vec<String>,
    regions: Vec<String>,
    names: Vec<Option<String>>,
    // JSON text, parsed by the database: a chunk of JSON trees took several
    // times the memory of their text.
    tags: Vec<String>,
    attributes: Vec<String>,
}

impl ResourceChunk {
    fn push(&mut self, meta: &ResourceMeta, attributes: serde_json::Value) {
        self.new_ids.push(Uuid::now_v7());
        self.arns.push(meta.arn.clone());
        self.types.push(meta.resource_type.clone());
        self.ids.push(meta.id.clone());
        self.regions.push(meta.region.clone());
        self.names.push(meta.name.clone());
        self.tags
            .push(serde_json::to_string(&meta.tags).unwrap_or_else(|_| "{}".into()));
        self.attributes.push(attributes.to_string());
    }

    /// Take records until the chunk is full or they run out, yielding now
    /// and then so that the statement being written beside it (see
    /// `write_resources`) goes on sending.
    async fn fill<'a>(
        &mut self,
        records: &mut impl Iterator<Item = (&'a ResourceMeta, serde_json::Value)>,
    ) {
        while self.arns.len() < WRITE_CHUNK {
            let Some((meta, attributes)) = records.next() else {
                break;
            };
            self.push(meta, attributes);
            if self.arns.len().is_multiple_of(YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Upsert the chunk and record the history of what is new, changed or
    /// back.
    async fn write(
        self,
        tx: &mut Transaction<'_, Postgres>,
        scan_id: Uuid,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The history CTE reads the rows as they were before this statement's
        // upsert (one snapshot): a row is written only for what is new, changed
        // or back, so unchanged rescans cost no history.
        sqlx::query(
            "WITH parsed AS (
                 SELECT id, arn, resource_type, resource_id, region, name, tags::jsonb AS tags, attributes::jsonb AS attributes
                 FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[])
                      AS r(arn, resource_type, resource_id, region, name, tags, attributes, id)
             ),
             input AS (
                 -- The digest of the stored form (jsonb's own text), as repair_content_digests computes it.
                 SELECT p.*, md5(p.tags::text || p.attributes::text) AS content_md5 FROM parsed p
             ),
             history AS (
                 INSERT INTO resource_history (workspace_id, account_id, arn, scan_id, observed_at, change, attributes, tags)
                 SELECT $1, $2, i.arn, $4, $3,
                        CASE WHEN p.arn IS NULL THEN 'appeared' WHEN p.gone_at IS NOT NULL THEN 'returned' ELSE 'changed' END,
                        i.attributes, i.tags
                 FROM input i
                 -- One index probe per row: LIMIT keeps the planner from
                 -- reading all of the account's resources for each chunk.
                 LEFT JOIN LATERAL (
                     SELECT r.arn, r.gone_at, r.content_md5 FROM resources r
                     WHERE r.account_id = $2 AND r.arn = i.arn LIMIT 1
                 ) p ON true
                 WHERE p.arn IS NULL OR p.gone_at IS NOT NULL OR p.content_md5 IS DISTINCT FROM i.content_md5
             )
             INSERT INTO resources (id, workspace_id, account_id, arn, resource_type, resource_id, region, name, tags, attributes,
                                    content_md5, first_seen, last_seen, last_scan_id)
             SELECT r.id, $1, $2, r.arn, r.resource_type, r.resource_id, r.region, r.name, r.tags, r.attributes, r.content_md5, $3, $3, $4
             FROM input r
             ON CONFLICT (account_id, arn) DO UPDATE SET
                 resource_type = EXCLUDED.resource_type, resource_id = EXCLUDED.resource_id, region = EXCLUDED.region,
                 name = EXCLUDED.name, tags = EXCLUDED.tags, attributes = EXCLUDED.attributes, content_md5 = EXCLUDED.content_md5,
                 last_seen = EXCLUDED.last_seen, last_scan_id = EXCLUDED.last_scan_id, gone_at = NULL",
        )
        .bind(account.workspace_id)
        .bind(account.id)
        .bind(now)
        .bind(scan_id)
        .bind(self.arns)
        .bind(self.types)
        .bind(self.ids)
        .bind(self.regions)
        .bind(self.names)
        .bind(self.tags)
        .bind(self.attributes)
        .bind(self.new_ids)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

async fn write_resources(
    tx: &mut Transaction<'_, Postgres>,
    scan_id: Uuid,
    account: &Account,
    inventory: &Inventory,
    now: DateTime<Utc>,
    gaps: &[sightline_core::CoverageGap],
) -> Result<(), StoreError> {
    // One row per ARN (the last record wins), as ON CONFLICT requires:
    // which positions hold their ARN's last record, from the metadata
    // alone, by sorting positions (a map from every ARN was megabytes at
    // the scan's peak; this keeps one flag per resource).
    let last = {
        let metas = inventory.resources();
        let mut order: Vec<usize> = (0..metas.len()).collect();
        // Each ARN's positions together, the last first: `dedup` keeps it.
        order.sort_unstable_by(|&a, &b| metas[a].arn.cmp(&metas[b].arn).then(b.cmp(&a)));
        order.dedup_by(|a, b| metas[*a].arn == metas[*b].arn);
        let mut last = vec![false; metas.len()];
        for position in order {
            last[position] = true;
        }
        last
    };
    // The records stream into the transaction a chunk at a time, each
    // turned into JSON only when its chunk is built: memory stays bounded
    // by two chunks (the one being built, and the encoded statement of the
    // one being written, whose columns are dropped as they are bound),
    // whatever the estate. ARNs are unique across chunks, so
    // each chunk's statement reads the rows before any of this scan's writes.
    // `records()` walks what `resources()` lists, one for one (a test in
    // sightline-core holds it to that).
    let mut walked = 0;
    let mut records = inventory
        .records()
        .enumerate()
        .filter_map(|(position, record)| {
            walked += 1;
            last.get(position)
                .copied()
                .unwrap_or(false)
                .then_some(record)
        });
    let mut chunk = ResourceChunk::default();
    chunk.fill(&mut records).await;
    while !chunk.arns.is_empty() {
        // The next chunk is built while the database writes this one: the
        // worker's CPU and the database's work side by side instead of
        // taking turns (about 5 ms a chunk of the worker's time).
        let mut next = ResourceChunk::default();
        futures::try_join!(chunk.write(tx, scan_id, account, now), async {
            next.fill(&mut records).await;
            Ok(())
        })?;
        chunk = next;
    }
    drop(records);
    debug_assert_eq!(walked, last.len(), "records() and resources() disagree");

    // Only a service read without any gap can say a resource is gone; with a
    // gap, the resource may just not have been seen.
    let complete_services: Vec<&String> = inventory
        .services
        .iter()
        .filter(|s| !gaps.iter().any(|g| &g.service == *s || g.service == "*"))
        .collect();
    if !complete_services.is_empty() {
        sqlx::query(
            "WITH gone AS (
                 UPDATE resources SET gone_at = $3
                 WHERE account_id = $1 AND gone_at IS NULL AND last_scan_id <> $2
                   AND (region = ANY($4) OR region = 'global')
                   AND split_part(resource_type, '.', 1) = ANY($5)
                 RETURNING workspace_id, arn
             )
             INSERT INTO resource_history (workspace_id, account_id, arn, scan_id, observed_at, change)
             SELECT workspace_id, $1, arn, $2, $3, 'gone' FROM gone",
        )
        .bind(account.id)
        .bind(scan_id)
        .bind(now)
        .bind(&inventory.regions)
        .bind(&complete_services)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn write_findings(
    tx: &mut Transaction<'_, Postgres>,
    scan_id: Uuid,
    account: &Account,
    report: &ScanReport,
) -> Result<ScanDiff, StoreError> {
    // One row per check and resource (the last finding wins), as ON
    // CONFLICT requires, in that order: positions sorted, not a map of
    // every finding (megabytes at the scan's peak).
    let findings = &report.findings;
    let key = |i: usize| (&*findings[i].check_id, findings[i].resource_arn.as_str());
    let mut order: Vec<usize> = (0..findings.len()).collect();
    // Each key's positions together, the last first: `dedup` keeps it.
    order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)).then(b.cmp(&a)));
    order.dedup_by(|a, b| key(*a) == key(*b));
    let mut diff = ScanDiff::default();
    let mut chunks = order.chunks(WRITE_CHUNK);
    let mut chunk = FindingChunk::default();
    chunk
        .fill(findings, chunks.next().unwrap_or_default())
        .await;
    while !chunk.check_ids.is_empty() {
        // The next chunk is built while the database writes this one, as
        // with resources.
        let mut next = FindingChunk::default();
        let (part, ()) = futures::try_join!(
            chunk.write(tx, scan_id, account, report.generated_at),
            async {
                next.fill(findings, chunks.next().unwrap_or_default()).await;
                Ok(())
            }
        )?;
        diff.new += part.new;
        diff.still_open += part.still_open;
        diff.regressed += part.regressed;
        chunk = next;
    }

    // Resolve only what this scan could judge: checks fully evaluated, in regions it covered.
    let evaluated: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.status != CheckStatus::NotEvaluated && !o.incomplete)
        .map(|o| o.check_id.clone())
        .collect();
    diff.resolved = sqlx::query_scalar(
        "WITH resolved AS (
             UPDATE findings SET status = 'resolved', resolved_at = $3, resolved_scan_id = $4
             WHERE account_id = $2 AND status = 'open' AND last_scan_id <> $4
               AND check_id = ANY($5) AND (region = ANY($6) OR region = 'global')
             RETURNING id, decision, decision_id
         ),
         -- An approved finding the scan sees fixed is linked to its approval.
         approvals AS (
             UPDATE decisions SET resolved_scan_id = $4
             WHERE id IN (SELECT decision_id FROM resolved WHERE decision = 'approved')
             RETURNING 1
         ),
         changes AS (
             INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change)
             SELECT $1, $4, id, 'resolved' FROM resolved
             RETURNING 1
         )
         SELECT count(*)::int FROM changes",
    )
    .bind(account.workspace_id)
    .bind(account.id)
    .bind(report.generated_at)
    .bind(scan_id)
    .bind(&evaluated)
    .bind(&report.regions)
    .fetch_one(&mut **tx)
    .await?;
    Ok(diff)
}

/// The columns of one chunk of a scan's findings, unique by check and
/// resource; JSON as text, parsed by the database (as a chunk of resources
/// is).
#[derive(Default)]
struct FindingChunk {
    /// The id each row gets if it is new, as `ResourceChunk::new_ids`.
    new_ids: Vec<Uuid>,
    check_ids: Vec<String>,
    resource_arns: Vec<String>,
    resource_types: Vec<String>,
    resource_ids: Vec<String>,
    regions: Vec<String>,
    severities: Vec<&'static str>,
    categories: Vec<&'static str>,
    titles: Vec<String>,
    messages: Vec<String>,
    evidence: Vec<String>,
    evidence_sha256: Vec<String>,
    remediation: Vec<String>,
    rollback: Vec<String>,
    savings: Vec<Option<f64>>,
    formulas: Vec<Option<String>>,
}

impl FindingChunk {
    /// Take the findings at `positions`, yielding now and then (as
    /// `ResourceChunk::fill` does).
    async fn fill(&mut self, findings: &[Finding], positions: &[usize]) {
        for (n, f) in positions.iter().map(|&i| &findings[i]).enumerate() {
            self.new_ids.push(Uuid::now_v7());
            self.check_ids.push(f.check_id.to_string());
            self.resource_arns.push(f.resource_arn.clone());
            self.resource_types.push(f.resource_type.clone());
            self.resource_ids.push(f.resource_id.clone());
            self.regions.push(f.region.clone());
            self.severities.push(f.severity.as_str());
            self.categories.push(f.category.as_str());
            self.titles.push(f.title.to_string());
            self.messages.push(f.message.clone());
            self.evidence.push(f.evidence.as_str().to_owned());
            self.evidence_sha256.push(f.evidence_sha256.to_string());
            self.remediation.push(f.remediation.as_json().to_owned());
            self.rollback.push(f.rollback.as_json().to_owned());
            self.savings.push(f.savings.as_ref().map(|s| s.monthly_usd));
            self.formulas
                .push(f.savings.as_ref().map(|s| s.formula.clone()));
            if (n + 1).is_multiple_of(YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Upsert the chunk with its changes. `previous` reads the state
    /// before this statement's upsert (one snapshot), which is what tells a
    /// new finding from a regressed one; no other chunk of the scan touches
    /// these rows.
    async fn write(
        self,
        tx: &mut Transaction<'_, Postgres>,
        scan_id: Uuid,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<ScanDiff, StoreError> {
        let diff: ScanDiff = sqlx::query_as(
        "WITH input AS (
             SELECT id, check_id, resource_arn, resource_type, resource_id, region, severity, category, title, message,
                    evidence::jsonb AS evidence, evidence_sha256, remediation::jsonb AS remediation,
                    rollback::jsonb AS rollback, savings, formula
             FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                         $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::float8[], $19::text[], $20::uuid[])
                 AS i(check_id, resource_arn, resource_type, resource_id, region, severity, category, title,
                      message, evidence, evidence_sha256, remediation, rollback, savings, formula, id)
         ),
         previous AS (
             -- One index probe per row, not the account's every finding per chunk.
             SELECT p.id, i.check_id, i.resource_arn, p.status FROM input i
             JOIN LATERAL (
                 SELECT f.id, f.status FROM findings f
                 WHERE f.account_id = $2 AND f.check_id = i.check_id AND f.resource_arn = i.resource_arn LIMIT 1
             ) p ON true
         ),
         upserted AS (
             INSERT INTO findings (id, workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity,
                                   category, title, message, evidence, evidence_sha256, remediation, rollback, monthly_savings,
                                   savings_formula, status, first_seen, last_seen, last_scan_id)
             SELECT id, $1, $2, check_id, resource_arn, resource_type, resource_id, region, severity, category, title, message, evidence,
                    evidence_sha256, remediation, rollback, savings::numeric(12, 2), formula, 'open', $3, $3, $4
             FROM input
             ON CONFLICT (account_id, check_id, resource_arn) DO UPDATE SET
                 resource_type = EXCLUDED.resource_type, resource_id = EXCLUDED.resource_id, region = EXCLUDED.region,
                 severity = EXCLUDED.severity, category = EXCLUDED.category, title = EXCLUDED.title, message = EXCLUDED.message,
                 evidence = EXCLUDED.evidence, evidence_sha256 = EXCLUDED.evidence_sha256, remediation = EXCLUDED.remediation,
                 rollback = EXCLUDED.rollback, monthly_savings = EXCLUDED.monthly_savings, savings_formula = EXCLUDED.savings_formula,
                 last_seen = EXCLUDED.last_seen, last_scan_id = EXCLUDED.last_scan_id,
                 -- A regression is a new occurrence: earlier decisions were about the old one.
                 decision = CASE WHEN findings.status = 'resolved' THEN NULL ELSE findings.decision END,
                 decision_id = CASE WHEN findings.status = 'resolved' THEN NULL ELSE findings.decision_id END,
                 snoozed_until = CASE WHEN findings.status = 'resolved' THEN NULL ELSE findings.snoozed_until END,
                 status = 'open', resolved_at = NULL, resolved_scan_id = NULL
             RETURNING id, check_id, resource_arn
         ),
         changes AS (
             INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change)
             SELECT $1, $4, u.id, CASE WHEN p.id IS NULL THEN 'new' WHEN p.status = 'resolved' THEN 'regressed' ELSE 'still_open' END
             FROM upserted u LEFT JOIN previous p ON p.check_id = u.check_id AND p.resource_arn = u.resource_arn
             RETURNING change
         )
         SELECT count(*) FILTER (WHERE change = 'new')::int AS new,
                count(*) FILTER (WHERE change = 'still_open')::int AS still_open,
                0::int AS resolved,
                count(*) FILTER (WHERE change = 'regressed')::int AS regressed
         FROM changes",
    )
    .bind(account.workspace_id)
    .bind(account.id)
    .bind(now)
    .bind(scan_id)
    .bind(self.check_ids)
    .bind(self.resource_arns)
    .bind(self.resource_types)
    .bind(self.resource_ids)
    .bind(self.regions)
    .bind(self.severities)
    .bind(self.categories)
    .bind(self.titles)
    .bind(self.messages)
    .bind(self.evidence)
    .bind(self.evidence_sha256)
    .bind(self.remediation)
    .bind(self.rollback)
    .bind(self.savings)
    .bind(self.formulas)
    .bind(self.new_ids)
    .fetch_one(&mut **tx)
    .await?;
        Ok(diff)
    }
}

async fn write_gaps(
    tx: &mut Transaction<'_, Postgres>,
    scan_id: Uuid,
    account: &Account,
    report: &ScanReport,
) -> Result<(), StoreError> {
    let g = &report.gaps;
    let col = |f: fn(&sightline_core::CoverageGap) -> &String| {
        g.iter().map(|x| f(x).clone()).collect::<Vec<String>>()
    };
    sqlx::query(
        "INSERT INTO coverage_gaps (workspace_id, scan_id, service, region, action, kind, error)
         SELECT $1, $2, s, r, a, k, e FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS g(s, r, a, k, e)",
    )
    .bind(account.workspace_id)
    .bind(scan_id)
    .bind(col(|x| &x.service))
    .bind(col(|x| &x.region))
    .bind(col(|x| &x.action))
    .bind(col(|x| &x.kind))
    .bind(col(|x| &x.error))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every control of every framework the report assessed.
async fn write_controls(
    tx: &mut Transaction<'_, Postgres>,
    scan_id: Uuid,
    account: &Account,
    report: &ScanReport,
) -> Result<(), StoreError> {
    let (mut frameworks, mut ids, mut statuses, mut reasons, mut findings) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for framework in &report.compliance {
        for c in &framework.controls {
            frameworks.push(framework.framework.clone());
            ids.push(c.id.clone());
            statuses.push(c.status.as_str().to_owned());
            reasons.push(c.reason.clone());
            findings.push(i32::try_from(c.finding_count).unwrap_or(i32::MAX));
        }
    }
    sqlx::query(
        "INSERT INTO scan_controls (workspace_id, scan_id, framework, control_id, status, reason, findings)
         SELECT $1, $2, f, c, s, r, n FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::int4[]) AS x(f, c, s, r, n)",
    )
    .bind(account.workspace_id)
    .bind(scan_id)
    .bind(&frameworks)
    .bind(&ids)
    .bind(&statuses)
    .bind(&reasons)
    .bind(&findings)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
