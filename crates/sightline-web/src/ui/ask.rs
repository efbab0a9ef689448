//! Ask, with the `none` profile: a question in plain words is matched to
//! the curated question library (`sightline_store::ask`), and the entry's
//! statement runs through the SQL console's whole path for the asker's
//! workspace. No model is involved, so nothing leaves the deployment. Each
//! question, matched or not, is in the audit trail by its SHA-256 and
//! length, never its text: the audit trail is append-only, and a question
//! may hold anything its asker pasted.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_store::ask::{self, AskFailure, Entry, LIBRARY};
use sightline_store::console::ResultSet;

use super::{page, Form, Nav, PageCtx};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;

/// A question: in plain words, or a library entry by id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub id: Option<String>,
}

/// What Ask answered.
#[derive(Debug, Serialize)]
pub struct Answer {
    pub question: String,
    /// The library entry that answered it.
    pub entry_id: &'static str,
    /// The entry's question with its parameters filled in: what was answered.
    pub answered: String,
    pub explanation: &'static str,
    pub params: BTreeMap<&'static str, String>,
    /// Parameters the question did not give, answered at their defaults.
    pub defaulted: Vec<&'static str>,
    /// Other entries that matched less well.
    pub also: Vec<&'static str>,
    pub result: ResultSet,
}

/// Match and run a question for the caller's workspace; audited whatever
/// becomes of it once its shape is checked.
pub async fn answer(state: &AppState, p: &Principal, q: &Question) -> ApiResult<Answer> {
    let failure = |e: AskFailure| match e {
        AskFailure::Refused(message) => ApiError::BadRequest(message),
        AskFailure::Off => ApiError::Off(e.to_string()),
        AskFailure::Store(e) => ApiError::from(e),
    };
    let outcome = ask::ask(
        state.console(),
        p.workspace_id,
        &q.question,
        q.id.as_deref(),
    )
    .await
    .map_err(failure)?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    tx.audit(&p.actor, "ask.question", "inventory", outcome.audit)
        .await?;
    tx.commit().await?;
    let asked = outcome.asked.map_err(failure)?;
    let m = asked.matched;
    Ok(Answer {
        question: if q.question.trim().is_empty() {
            m.asked.clone()
        } else {
            q.question.clone()
        },
        entry_id: m.entry.id,
        answered: m.asked,
        explanation: m.entry.explanation,
        params: m.params,
        defaulted: m.defaulted,
        also: m.also,
        result: asked.result,
    })
}

/// `POST /api/v1/ask`.
pub async fn api_ask(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(q): JsonBody<Question>,
) -> ApiResult<Json<Answer>> {
    Ok(Json(answer(&state, &p, &q).await?))
}

/// `GET /api/v1/ask/library`.
pub async fn api_library(_p: Principal) -> Json<&'static [Entry]> {
    Json(LIBRARY)
}

#[derive(Template)]
#[template(path = "ask.html")]
struct AskPage {
    nav: Nav,
    /// A unique name for "save as console query".
    saved_as: String,
    question: String,
    answer: Option<Answer>,
    sql: Option<String>,
    error: Option<String>,
    library: &'static [Entry],
}

impl AskPage {
    fn cell(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| "NULL".into())
    }
}

pub async fn show(ctx: PageCtx) -> ApiResult<Response> {
    page(&AskPage {
        nav: ctx.nav("ask"),
        saved_as: String::new(),
        question: String::new(),
        answer: None,
        sql: None,
        error: None,
        library: LIBRARY,
    })
}

pub async fn ask_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(q): Form<Question>,
) -> ApiResult<Response> {
    let sql = ask::check_shape(&q.question, q.id.as_deref())
        .ok()
        .and(ask::plan(&q.question, q.id.as_deref()).ok())
        .map(|m| m.sql);
    let (answer, error) = match answer(&state, &ctx.principal, &q).await {
        Ok(a) => (Some(a), None),
        Err(ApiError::BadRequest(message)) => (None, Some(message)),
        Err(e) => return Err(e),
    };
    let failed = error.is_some();
    let saved_as = answer.as_ref().map_or_else(String::new, |a| {
        format!(
            "Ask: {} ({})",
            a.answered,
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        )
    });
    let mut response = page(&AskPage {
        nav: ctx.nav("ask"),
        saved_as,
        question: q.question,
        answer,
        sql,
        error,
        library: LIBRARY,
    })?;
    if failed {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}
