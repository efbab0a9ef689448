//! The JSON side of the UI's features: resource search, the SQL console,
//! findings exports, decisions and their change plans, and scan diffs.
//! Each shares its logic (and its audit records) with the page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_core::search;
use sightline_store::explorer::{self, ResourceCursor, ResourceDetail, ResourcePage};
use sightline_store::inbox::{Decision, DecisionKind};
use sightline_store::overview::{DiffChange, DiffWindow};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::export::ExportQuery;
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::state::AppState;
use crate::ui;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
    limit: Option<i64>,
}

pub async fn resources(
    reads: crate::extract::Reads,
    p: Principal,
    QueryParams(params): QueryParams<ResourceQuery>,
) -> ApiResult<Json<ResourcePage>> {
    let query = search::parse(&params.q).map_err(|e| ApiError::BadRequest(format!("q: {e}")))?;
    let limit = match params.limit {
        None => explorer::PAGE_SIZE,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "limit: expected 1 to 1000, found {n}"
            )))
        }
    };
    let after = params
        .after
        .as_deref()
        .map(ResourceCursor::decode)
        .transpose()?;
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let page = explorer::search(&mut tx, &query, after.as_ref(), limit).await?;
    tx.commit().await?;
    Ok(Json(page))
}

pub async fn resource(
    reads: crate::extract::Reads,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<ResourceDetail>> {
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let resource = explorer::resource(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(resource))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleBody {
    sql: String,
}

pub async fn console(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody<ConsoleBody>,
) -> ApiResult<Json<Value>> {
    let result = ui::console::run_query(&state, &p, &body.sql).await?;
    Ok(Json(json!(result)))
}

pub async fn export(
    State(state): State<AppState>,
    p: Principal,
    QueryParams(q): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    ui::findings::export_response(&state, &p, &q).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    evidence_sha256: String,
}

pub async fn approve(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ApproveBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    match ui::findings::approve_finding(&state, &p, id, &body.evidence_sha256).await? {
        Ok(decision) => Ok((StatusCode::CREATED, Json(json!(decision)))),
        Err(brief) => Ok((
            StatusCode::CONFLICT,
            Json(json!({
                "error": "evidence_changed",
                "message": format!(
                    "the evidence changed since it was shown: approve evidence_sha256 {} after reviewing the new brief",
                    brief.finding.evidence_sha256
                ),
            })),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DismissBody {
    reason: String,
}

pub async fn dismiss(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
    JsonBody(body): JsonBody<DismissBody>,
) -> ApiResult<(StatusCode, Json<Decision>)> {
    let mut d = ui::findings::decide_findings(
        &state,
        &p,
        &[id],
        DecisionKind::Dismiss {
            reason: body.reason,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(d.remove(0))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeBody {
    until: String,
    reason: Option<String>,
}

pub async fn snooze(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
    JsonBody(body): JsonBody<SnoozeBody>,
) -> ApiResult<(StatusCode, Json<Decision>)> {
    let until = ui::findings::parse_until(&body.until)?;
    let mut d = ui::findings::decide_findings(
        &state,
        &p,
        &[id],
        DecisionKind::Snooze {
            until,
            reason: body.reason,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(d.remove(0))))
}

pub async fn plan(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Response> {
    ui::findings::plan_response(&state, &p, id).await
}

/// Entries the diff API lists at a time unless `limit` says fewer.
pub const DIFF_API_PAGE: i64 = 1000;

/// `GET /api/v1/scans/diff`: two scans of one account, and optionally one
/// kind of change, where to continue (`after`, the last finding id of the
/// page before) and how many to list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffApiQuery {
    pub from: Option<uuid::Uuid>,
    pub to: Option<uuid::Uuid>,
    pub change: Option<DiffChange>,
    pub after: Option<uuid::Uuid>,
    pub limit: Option<i64>,
}

/// A page of a diff's entries, in finding order: at most `limit` (1,000
/// unless said), never the whole of a diff of 200,000 findings in one
/// answer. While more remain, a `Link: <...>; rel="next"` header names the
/// next page, which carries on from this one's last finding.
pub async fn diff(
    reads: crate::extract::Reads,
    p: Principal,
    QueryParams(q): QueryParams<DiffApiQuery>,
) -> ApiResult<Response> {
    let (from, to) = ui::scans::DiffQuery {
        from: q.from,
        to: q.to,
    }
    .ids()?;
    let limit = match q.limit {
        None => DIFF_API_PAGE,
        Some(n) if (1..=DIFF_API_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "limit: expected 1 to {DIFF_API_PAGE}, found {n}"
            )))
        }
    };
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let window = DiffWindow::of(&mut tx, from, to).await?;
    // One more than a page: a next page exists only if it was found.
    let mut entries = match q.change {
        Some(change) => window.page(&mut tx, change, q.after, limit + 1).await?,
        None => window.page_any(&mut tx, q.after, limit + 1).await?,
    };
    tx.commit().await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    // Uuids, digits and fixed text: a header value whatever the input.
    let next = entries.last().filter(|_| more).map(|last| {
        let change = q
            .change
            .map(|c| format!("&change={}", c.as_str()))
            .unwrap_or_default();
        format!(
            "/api/v1/scans/diff?from={from}&to={to}{change}&after={}&limit={limit}",
            last.finding_id
        )
    });
    super::paged(entries, next)
}
