//! The findings inbox and the decision brief; approve (bound to the
//! evidence shown, producing a change plan), dismiss with a reason, snooze
//! until a date, in bulk where it makes sense. Every decision is audited in
//! the same transaction; nothing is ever executed.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use sightline_core::plan;
use sightline_store::inbox::{
    self, Brief, DecisionKind, InboxFilter, InboxRow, CATEGORIES, SEVERITIES, STATES,
};
use sightline_store::StoreError;
use uuid::Uuid;

use super::{dollars, download, page, query_string, see_other, Form, FormPairs, Nav, PageCtx};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::export::{render_export, ExportQuery, EXPORT_CAP};
use crate::extract::{PathId, QueryParams};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    state: Option<String>,
    severity: Option<String>,
    category: Option<String>,
    check_id: Option<String>,
    account: Option<String>,
    region: Option<String>,
    after: Option<String>,
}

impl InboxQuery {
    fn filter(&self) -> InboxFilter {
        crate::export::inbox_filter([
            &self.state,
            &self.severity,
            &self.category,
            &self.check_id,
            &self.account,
            &self.region,
        ])
    }
}

pub struct Select {
    pub name: &'static str,
    pub options: Vec<&'static str>,
    pub current: String,
}

#[derive(Template)]
#[template(path = "findings.html")]
struct InboxPage {
    nav: Nav,
    selects: Vec<Select>,
    check_id: String,
    account: String,
    region: String,
    rows: Vec<InboxRow>,
    next: Option<String>,
    filter_query: String,
    exports: Vec<(&'static str, String)>,
}

impl InboxPage {
    fn money(&self, v: &Option<f64>) -> String {
        v.map(dollars).unwrap_or_default()
    }
    fn next_href(&self, cursor: &str) -> String {
        let sep = if self.filter_query.is_empty() {
            "?"
        } else {
            "&"
        };
        format!("/findings{}{sep}after={cursor}", self.filter_query)
    }
}

fn filter_pairs(f: &InboxFilter) -> Vec<(&'static str, String)> {
    [
        ("state", &f.state),
        ("severity", &f.severity),
        ("category", &f.category),
        ("check_id", &f.check_id),
        ("account", &f.account),
        ("region", &f.region),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.clone().unwrap_or_default()))
    .collect()
}

pub async fn list(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    QueryParams(q): QueryParams<InboxQuery>,
) -> ApiResult<Response> {
    let filter = q.filter();
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let found = inbox::page(&mut tx, &filter, q.after.as_deref(), 50).await?;
    tx.commit().await?;
    let pairs = filter_pairs(&filter);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let filter_query = query_string(&borrowed);
    let exports = ["csv", "json", "ocsf", "sarif"]
        .into_iter()
        .map(|format| {
            let mut pairs = borrowed.clone();
            pairs.push(("format", format));
            (format, format!("/findings/export{}", query_string(&pairs)))
        })
        .collect();
    let select = |name, options: &[&'static str], current: &Option<String>| Select {
        name,
        options: options.to_vec(),
        current: current.clone().unwrap_or_default(),
    };
    page(&InboxPage {
        nav: ctx.nav("findings"),
        selects: vec![
            select("state", &STATES, &filter.state),
            select("severity", &SEVERITIES, &filter.severity),
            select("category", &CATEGORIES, &filter.category),
        ],
        check_id: filter.check_id.clone().unwrap_or_default(),
        account: filter.account.clone().unwrap_or_default(),
        region: filter.region.clone().unwrap_or_default(),
        rows: found.rows,
        next: found.next,
        exports,
        filter_query,
    })
}

#[derive(Template)]
#[template(path = "finding.html")]
struct BriefPage<'a> {
    nav: Nav,
    brief: Brief,
    risk: &'a str,
    evidence: String,
    savings: String,
    permissions: Vec<(String, bool)>,
    notice: Option<String>,
    min_snooze: String,
}

impl BriefPage<'_> {
    /// The decision was taken on evidence that a later scan changed.
    fn changed_since(&self, d: &inbox::Decision) -> bool {
        d.evidence_sha256 != self.brief.finding.evidence_sha256
    }
}

fn brief_page<'a>(nav: Nav, brief: Brief, notice: Option<String>) -> BriefPage<'a> {
    let risk = sightline_core::catalog()
        .into_iter()
        .find(|c| c.id == brief.finding.check_id)
        .map_or("", |c| c.risk);
    let permissions = plan::required_permissions(brief.remediation.iter().map(String::as_str))
        .into_iter()
        .map(|p| {
            let read = plan::is_read_action(&p);
            (p, read)
        })
        .collect();
    BriefPage {
        nav,
        evidence: serde_json::to_string_pretty(&brief.evidence).unwrap_or_default(),
        savings: brief
            .finding
            .monthly_savings
            .map(dollars)
            .unwrap_or_default(),
        risk,
        permissions,
        notice,
        min_snooze: (Utc::now() + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        brief,
    }
}

pub async fn detail(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let brief = inbox::brief(&mut tx, id).await?;
    tx.commit().await?;
    page(&brief_page(ctx.nav("findings"), brief, None))
}

/// The change plan of an approval, built from the brief.
pub fn plan_for(brief: &Brief, actor: &str) -> String {
    let f = &brief.finding;
    let finding_id = f.id.to_string();
    let approved_at = Utc::now().to_rfc3339();
    plan::change_plan(&plan::PlanInput {
        finding_id: &finding_id,
        check_id: &f.check_id,
        title: &f.title,
        resource_arn: &f.resource_arn,
        account: &f.account,
        region: &f.region,
        evidence_sha256: &f.evidence_sha256,
        approved_by: actor,
        approved_at: &approved_at,
        remediation: &brief.remediation,
        rollback: &brief.rollback,
    })
}

/// Approve `id` as shown with `shown_sha256`, audited; the decision, or the
/// current brief when the evidence changed since.
pub async fn approve_finding(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    shown_sha256: &str,
) -> ApiResult<Result<inbox::Decision, Brief>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    match inbox::approve(&mut tx, id, shown_sha256, &p.actor, |b| {
        plan_for(b, &p.actor)
    })
    .await
    {
        Ok(decision) => {
            tx.audit(
                &p.actor,
                "finding.approved",
                &id.to_string(),
                json!({"decision": decision.id, "evidence_sha256": decision.evidence_sha256, "plan_sha256": decision.plan_sha256}),
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(decision))
        }
        Err(StoreError::EvidenceChanged { shown, current, .. }) => {
            let brief = inbox::brief(&mut tx, id).await?;
            tx.audit(
                &p.actor,
                "finding.approval_refused",
                &id.to_string(),
                json!({"reason": "evidence changed", "shown": shown, "current": current}),
            )
            .await?;
            tx.commit().await?;
            Ok(Err(brief))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveForm {
    evidence_sha256: String,
}

pub async fn approve(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
    Form(form): Form<ApproveForm>,
) -> ApiResult<Response> {
    match approve_finding(&state, &ctx.principal, id, &form.evidence_sha256).await? {
        Ok(_) => Ok(see_other(&format!("/findings/{id}"))),
        Err(brief) => {
            let notice = format!(
                "Approval refused: the evidence changed since you opened this brief (you saw {}, it is now {}). Review the new evidence below and approve again if it still holds.",
                form.evidence_sha256.chars().take(64).collect::<String>(),
                brief.finding.evidence_sha256
            );
            let mut response = page(&brief_page(ctx.nav("findings"), brief, Some(notice)))?;
            *response.status_mut() = StatusCode::CONFLICT;
            Ok(response)
        }
    }
}

/// Record a dismissal or snooze of `ids`, audited per finding.
pub async fn decide_findings(
    state: &AppState,
    p: &Principal,
    ids: &[Uuid],
    kind: DecisionKind,
) -> ApiResult<Vec<inbox::Decision>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let decisions = inbox::decide(&mut tx, ids, kind, &p.actor).await?;
    for d in &decisions {
        let action = if d.kind == "dismissed" {
            "finding.dismissed"
        } else {
            "finding.snoozed"
        };
        tx.audit(
            &p.actor,
            action,
            &d.finding_id.to_string(),
            json!({"decision": d.id, "reason": d.reason, "until": d.snoozed_until}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(decisions)
}

/// A snooze date from a form: `YYYY-MM-DD` (until midnight UTC) or RFC 3339.
pub fn parse_until(s: &str) -> ApiResult<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "until: expected a date like 2026-12-31, found {s:?}"
            ))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DismissForm {
    reason: String,
}

pub async fn dismiss(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
    Form(form): Form<DismissForm>,
) -> ApiResult<Response> {
    decide_findings(
        &state,
        &ctx.principal,
        &[id],
        DecisionKind::Dismiss {
            reason: form.reason,
        },
    )
    .await?;
    Ok(see_other(&format!("/findings/{id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeForm {
    until: String,
    #[serde(default)]
    reason: String,
}

pub async fn snooze(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
    Form(form): Form<SnoozeForm>,
) -> ApiResult<Response> {
    let until = parse_until(&form.until)?;
    let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
    decide_findings(
        &state,
        &ctx.principal,
        &[id],
        DecisionKind::Snooze { until, reason },
    )
    .await?;
    Ok(see_other(&format!("/findings/{id}")))
}

/// The inbox's bulk form: `finding_id` repeated, `action` dismiss or snooze.
pub async fn bulk(
    State(state): State<AppState>,
    ctx: PageCtx,
    FormPairs(pairs): FormPairs,
) -> ApiResult<Response> {
    let mut ids = vec![];
    let (mut action, mut reason, mut until) = (String::new(), String::new(), String::new());
    for (k, v) in pairs {
        match k.as_str() {
            "finding_id" => ids.push(Uuid::try_parse(&v).map_err(|_| {
                ApiError::BadRequest(format!("finding_id: expected a UUID, found {v:?}"))
            })?),
            "action" => action = v,
            "reason" => reason = v,
            "until" => until = v,
            super::CSRF_FIELD => {}
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown field {other:?}: expected finding_id, action, reason, until"
                )))
            }
        }
    }
    if ids.is_empty() {
        return Err(ApiError::BadRequest(
            "finding_id: select at least one finding".into(),
        ));
    }
    let kind = match action.as_str() {
        "dismiss" => DecisionKind::Dismiss { reason },
        "snooze" => DecisionKind::Snooze {
            until: parse_until(&until)?,
            reason: Some(reason.trim().to_owned()).filter(|r| !r.is_empty()),
        },
        other => {
            return Err(ApiError::BadRequest(format!(
                "action: expected dismiss or snooze, found {other:?}"
            )))
        }
    };
    decide_findings(&state, &ctx.principal, &ids, kind).await?;
    Ok(see_other("/findings"))
}

/// Load an approval's plan: the script as a download, its SHA-256 in a header.
pub async fn plan_download(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    plan_response(&state, &ctx.principal, id).await
}

pub async fn plan_response(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<Response> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let plan = inbox::plan(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "plan.downloaded",
        &plan.finding_id.to_string(),
        json!({"decision": id, "plan_sha256": plan.plan_sha256}),
    )
    .await?;
    tx.commit().await?;
    let mut response = download(
        "text/x-shellscript; charset=utf-8",
        &format!("sightline-plan-{}.sh", &plan.plan_sha256[..12]),
        plan.plan,
    );
    if let Ok(v) = plan.plan_sha256.parse() {
        response.headers_mut().insert("x-plan-sha256", v);
    }
    Ok(response)
}

/// Findings as CSV, JSON, OCSF or SARIF, filtered as the inbox is; audited.
pub async fn export_response(
    state: &AppState,
    p: &Principal,
    q: &ExportQuery,
) -> ApiResult<Response> {
    let format = q.format()?;
    let filter = q.filter();
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = inbox::export_rows(&mut tx, &filter, EXPORT_CAP).await?;
    tx.audit(
        &p.actor,
        "findings.exported",
        "findings",
        json!({"format": format.name(), "rows": rows.len(), "filter": {
            "state": filter.state, "severity": filter.severity, "category": filter.category,
            "check_id": filter.check_id, "account": filter.account, "region": filter.region}}),
    )
    .await?;
    tx.commit().await?;
    let (content_type, name, body) = render_export(&rows, format);
    Ok(download(content_type, &name, body))
}

pub async fn export(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    export_response(&state, &ctx.principal, &q).await
}
