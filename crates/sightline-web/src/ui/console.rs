//! The SQL console page: one read-only statement over the inventory views,
//! results as a table or CSV, saved queries, and the views' schema. The
//! defences are `sightline_store::console`'s; this page only shows them.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sightline_core::report::csv_format::write_safe_record;
use sightline_store::console::{self, ResultSet, SavedQuery};

use super::{download, page, see_other, Form, Nav, PageCtx};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::AppState;

/// The documented views: name, then (column, meaning).
pub const SCHEMA: &[(&str, &[(&str, &str)])] = &[
    (
        "resources",
        &[
            ("arn", "the resource's ARN"),
            ("type", "service.kind, e.g. ec2.instance"),
            ("resource_id", "the id AWS gives it"),
            ("account", "12-digit account id"),
            ("region", "region, or global"),
            ("name", "Name tag or name"),
            (
                "tags",
                "jsonb: tag key → value (credential-like values redacted)",
            ),
            ("attributes", "jsonb: redacted configuration"),
            ("first_seen", "timestamptz"),
            ("last_seen", "timestamptz"),
            (
                "gone_at",
                "timestamptz: when a complete scan stopped seeing it",
            ),
        ],
    ),
    (
        "findings",
        &[
            ("id", "uuid"),
            ("check_id", "the check"),
            ("title", "text"),
            ("severity", "critical, high, medium, low, info"),
            ("category", "cost, security, reliability"),
            ("status", "open, snoozed, dismissed, approved, resolved"),
            ("resource_arn", "text"),
            ("resource_type", "text"),
            ("account", "12-digit account id"),
            ("region", "text"),
            ("message", "text"),
            ("monthly_savings", "numeric, USD"),
            ("evidence_sha256", "text"),
            ("first_seen", "timestamptz"),
            ("last_seen", "timestamptz"),
            ("resolved_at", "timestamptz"),
        ],
    ),
    (
        "scans",
        &[
            ("id", "uuid"),
            ("account", "12-digit account id"),
            ("status", "running, succeeded, partial, abandoned"),
            ("started_at", "timestamptz"),
            ("finished_at", "timestamptz"),
            ("regions", "text[]"),
            ("api_calls", "bigint"),
            ("resources", "integer"),
            ("gaps", "integer"),
            ("findings_open", "integer"),
            ("findings_new", "integer"),
            ("findings_resolved", "integer"),
            ("findings_regressed", "integer"),
        ],
    ),
    (
        "accounts",
        &[
            ("account", "12-digit account id"),
            ("name", "text"),
            ("regions", "text[]: empty means every enabled region"),
            ("source", "manual or organizations"),
            ("created_at", "timestamptz"),
        ],
    ),
];

#[derive(Template)]
#[template(path = "console.html")]
struct ConsolePage {
    nav: Nav,
    sql: String,
    result: Option<ResultSet>,
    error: Option<String>,
    saved: Vec<SavedQuery>,
    schema: &'static [(&'static str, &'static [(&'static str, &'static str)])],
    functions: String,
    limits: console::Limits,
}

impl ConsolePage {
    fn cell(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| "NULL".into())
    }
}

async fn render(
    state: &AppState,
    ctx: &PageCtx,
    sql: String,
    result: Option<ResultSet>,
    error: Option<String>,
) -> ApiResult<Response> {
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    let saved = console::saved_queries(&mut tx).await?;
    tx.commit().await?;
    let failed = error.is_some();
    let mut response = page(&ConsolePage {
        nav: ctx.nav("console"),
        sql,
        result,
        error,
        saved,
        schema: SCHEMA,
        functions: console::FUNCTIONS.join(", "),
        limits: console::Limits::default(),
    })?;
    if failed {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

pub async fn show(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    render(
        &state,
        &ctx,
        "SELECT type, count(*) AS resources FROM inventory.resources GROUP BY type ORDER BY 2 DESC"
            .into(),
        None,
        None,
    )
    .await
}

/// Run a statement for the caller's workspace; refused statements are audited too.
pub async fn run_query(state: &AppState, p: &Principal, sql: &str) -> ApiResult<ResultSet> {
    let pool = state.console().ok_or_else(|| {
        ApiError::Off(
            "the SQL console is off: this server was started without SIGHTLINE_CONSOLE_DATABASE_URL".into(),
        )
    })?;
    let outcome = console::run(pool, p.workspace_id, sql, console::Limits::default()).await;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let details = match &outcome {
        Ok(r) => json!({"sql": sql, "rows": r.rows.len(), "truncated": r.truncated.is_some()}),
        Err(e) => json!({"sql": sql, "refused": e.to_string()}),
    };
    tx.audit(&p.actor, "console.query", "inventory", details)
        .await?;
    tx.commit().await?;
    Ok(outcome?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryForm {
    sql: String,
    /// The save-as name field of the same form; running ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    name: String,
}

pub async fn run(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<QueryForm>,
) -> ApiResult<Response> {
    match run_query(&state, &ctx.principal, &form.sql).await {
        Ok(result) => render(&state, &ctx, form.sql, Some(result), None).await,
        Err(ApiError::BadRequest(message)) => {
            render(&state, &ctx, form.sql, None, Some(message)).await
        }
        Err(e) => Err(e),
    }
}

/// The result as CSV; the export is audited.
pub async fn export_csv(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<QueryForm>,
) -> ApiResult<Response> {
    let result = run_query(&state, &ctx.principal, &form.sql).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = write_safe_record(&mut writer, result.columns.iter().map(String::as_str));
    for row in &result.rows {
        let _ = write_safe_record(&mut writer, row.iter().map(|v| v.as_deref().unwrap_or("")));
    }
    let body = String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default();
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    tx.audit(
        &ctx.principal.actor,
        "console.exported",
        "inventory",
        json!({"sql": form.sql, "rows": result.rows.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(download(
        "text/csv; charset=utf-8",
        "sightline-query.csv",
        body,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveForm {
    name: String,
    sql: String,
}

pub async fn save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<SaveForm>,
) -> ApiResult<Response> {
    let p = &ctx.principal;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let saved = console::save_query(&mut tx, &form.name, &form.sql, &p.actor).await?;
    tx.audit(
        &p.actor,
        "console.query_saved",
        &saved.id.to_string(),
        json!({"name": saved.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/console"))
}

pub async fn delete_saved(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let p = &ctx.principal;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let gone = console::delete_saved_query(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "console.query_deleted",
        &id.to_string(),
        json!({"name": gone.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/console"))
}
