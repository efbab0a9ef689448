//! Accounts, scans and findings of the caller's workspace.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_store::accounts::NewAccount;
use sightline_store::views::{self, AccountView, FindingDetail, FindingFilter, ScanView};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::state::AppState;

pub async fn accounts(
    reads: crate::extract::Reads,
    p: Principal,
) -> ApiResult<Json<Vec<AccountView>>> {
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let rows = views::accounts(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

pub async fn account(
    reads: crate::extract::Reads,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<AccountView>> {
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let row = views::account(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(row))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddAccount {
    aws_account_id: String,
    name: Option<String>,
    /// Required: the account's monitoring role, assumed with the workspace's
    /// ExternalId. There is no per-account ExternalId (`external_id` is an
    /// unknown field), so no workspace can use another's.
    role_arn: Option<String>,
    #[serde(default)]
    regions: Vec<String>,
    schedule: Option<String>,
}

pub async fn add_account(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody<AddAccount>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let new = NewAccount {
        aws_account_id: body.aws_account_id,
        name: body.name,
        role_arn: body.role_arn,
        regions: body.regions,
        schedule: body.schedule,
    };
    let account = add_account_audited(&state, &p, &new).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Register an account (checked first), audited: the API's and the page's.
pub(crate) async fn add_account_audited(
    state: &AppState,
    p: &Principal,
    new: &NewAccount,
) -> ApiResult<AccountView> {
    if new.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::BadRequest(
            "name: expected at most 200 characters".into(),
        ));
    }
    if new.schedule.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(ApiError::BadRequest(
            "schedule: expected an interval like \"6 hours\"".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let account = views::add_account(&mut tx, new).await?;
    tx.audit(
        &p.actor,
        "account.added",
        &account.aws_account_id,
        json!({"id": account.id, "role_arn": account.role_arn}),
    )
    .await?;
    tx.commit().await?;
    Ok(account)
}

pub async fn delete_account(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    remove_account_audited(&state, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove an account and its inventory, audited.
pub(crate) async fn remove_account_audited(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let account = views::account(&mut tx, id).await?;
    views::delete_account(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "account.removed",
        &account.aws_account_id,
        json!({"id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn queue_scan(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let job = queue_scan_audited(&state, &p, id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job_id": job }))))
}

/// Queue a scan of one account, audited; the job's id.
pub(crate) async fn queue_scan_audited(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<Uuid> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let job = views::enqueue_scan(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "scan.queued",
        &id.to_string(),
        json!({"job": job}),
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    limit: Option<i64>,
}

fn limit(requested: Option<i64>) -> ApiResult<i64> {
    match requested {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit: expected 1 to 1000, found {n}"
        ))),
    }
}

pub async fn scans(
    reads: crate::extract::Reads,
    p: Principal,
    QueryParams(q): QueryParams<Page>,
) -> ApiResult<Json<Vec<ScanView>>> {
    let limit = limit(q.limit)?;
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let rows = views::scans(&mut tx, limit).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

pub async fn scan(
    reads: crate::extract::Reads,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let (scan, gaps) = views::scan(&mut tx, id).await?;
    tx.commit().await?;
    let mut body = serde_json::to_value(scan).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["coverage_gaps"] = json!(gaps);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingQuery {
    status: Option<String>,
    severity: Option<String>,
    check_id: Option<String>,
    account_id: Option<Uuid>,
    limit: Option<i64>,
    /// Where the page starts: the cursor a `Link: rel="next"` carries.
    after: Option<String>,
}

/// A page of findings, most recently found first: at most `limit` (100
/// unless said, 1,000 at most). While more remain, a `Link: <...>;
/// rel="next"` header names the next page, with the same filters.
pub async fn findings(
    reads: crate::extract::Reads,
    p: Principal,
    QueryParams(q): QueryParams<FindingQuery>,
) -> ApiResult<Response> {
    if let Some(s) = q
        .status
        .as_deref()
        .filter(|s| !["open", "resolved"].contains(s))
    {
        return Err(ApiError::BadRequest(format!(
            "status: expected open or resolved, found {s:?}"
        )));
    }
    if let Some(s) = q
        .severity
        .as_deref()
        .filter(|s| !["critical", "high", "medium", "low", "info"].contains(s))
    {
        return Err(ApiError::BadRequest(format!(
            "severity: expected critical, high, medium, low or info, found {s:?}"
        )));
    }
    let filter = FindingFilter {
        status: q.status,
        severity: q.severity,
        check_id: q.check_id,
        account_id: q.account_id,
        limit: limit(q.limit)?,
        after: q.after,
    };
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let page = views::findings(&mut tx, &filter).await?;
    tx.commit().await?;
    let next = page.next.map(|next| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", filter.status),
            ("severity", filter.severity),
            ("check_id", filter.check_id),
            ("account_id", filter.account_id.map(|a| a.to_string())),
        ] {
            if let Some(v) = value {
                query.append_pair(name, &v);
            }
        }
        query.append_pair("after", &next);
        query.append_pair("limit", &filter.limit.to_string());
        // Percent-encoded: a header value whatever a filter held.
        format!("/api/v1/findings?{}", query.finish())
    });
    super::paged(page.rows, next)
}

pub async fn finding(
    reads: crate::extract::Reads,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<FindingDetail>> {
    let mut tx = reads.begin_workspace_tx(p.workspace_id).await?;
    let row = views::finding(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(row))
}
