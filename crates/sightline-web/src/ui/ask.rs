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
use serde_json::json;
use sha2::{Digest, Sha256};
use sightline_store::ask::{self, AskError, Entry, LIBRARY};
use sightline_store::console::{self, ResultSet};

use super::{page, Form, Nav, PageCtx};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Longest question accepted, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;

/// Longest library id accepted.
pub const MAX_ID_CHARS: usize = 64;

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

/// The question's shape, checked before anything else (and before it is
/// audited): its length, and an id that could be one.
fn checked(q: &Question) -> Result<(), ApiError> {
    let chars = q.question.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(ApiError::BadRequest(format!(
            "question: expected at most {MAX_QUESTION_CHARS} characters, found {chars}"
        )));
    }
    match q.id.as_deref() {
        Some(id)
            if id.is_empty()
                || id.len() > MAX_ID_CHARS
                || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            Err(ApiError::BadRequest(format!(
                "id: expected a library id (lower-case letters, digits and '-', at most {MAX_ID_CHARS}), as GET /api/v1/ask/library lists them"
            )))
        }
        Some(_) if !q.question.trim().is_empty() => Err(ApiError::BadRequest(
            "expected a question or a library id, found both".into(),
        )),
        None if q.question.trim().is_empty() => Err(ApiError::BadRequest(
            "question: expected a question in plain words or a library id, found nothing".into(),
        )),
        _ => Ok(()),
    }
}

fn matched(q: &Question) -> Result<ask::Matched, AskError> {
    match q.id.as_deref() {
        Some(id) => ask::Matched::of(ask::entry(id)?, BTreeMap::new()),
        None => ask::match_question(&q.question),
    }
}

/// What the audit trail keeps of a refusal: its kind, never its text (which
/// may quote the question).
fn refusal(e: &AskError) -> &'static str {
    match e {
        AskError::NoMatch { .. } => "no library question matches",
        AskError::CannotAnswer { .. } => "the library cannot answer it",
        AskError::BadParam { .. } => "a parameter out of range",
        AskError::UnknownId => "no such library id",
    }
}

/// Match and run a question for the caller's workspace; audited whatever
/// becomes of it, once its shape is checked.
pub async fn answer(state: &AppState, p: &Principal, q: &Question) -> ApiResult<Answer> {
    checked(q)?;
    let matched = matched(q);
    let console = state.console();
    let outcome = match (&matched, console) {
        (Ok(m), Some(pool)) => {
            console::run(pool, p.workspace_id, &m.sql, console::Limits::default())
                .await
                .map_err(ApiError::from)
        }
        (Ok(_), None) => Err(ApiError::Off(
            "Ask is off: this server was started without SIGHTLINE_CONSOLE_DATABASE_URL (Ask runs its queries as the console does)".into(),
        )),
        (Err(e), _) => Err(ApiError::BadRequest(e.to_string())),
    };
    let mut details = json!({
        "profile": "none",
        "question_sha256": crate::auth::tokens::hex(&Sha256::digest(q.question.as_bytes())),
        "question_chars": q.question.chars().count(),
    });
    match (&matched, &outcome) {
        (Ok(m), Ok(r)) => {
            details["entry"] = json!(m.entry.id);
            details["sql"] = json!(m.sql);
            details["rows"] = json!(r.rows.len());
            details["truncated"] = json!(r.truncated.is_some());
        }
        (Ok(m), Err(e)) => {
            details["entry"] = json!(m.entry.id);
            details["sql"] = json!(m.sql);
            details["refused"] = json!(e.to_string());
        }
        (Err(e), _) => details["refused"] = json!(refusal(e)),
    }
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    tx.audit(&p.actor, "ask.question", "inventory", details)
        .await?;
    tx.commit().await?;
    let m = matched.map_err(|e| ApiError::BadRequest(e.to_string()))?;
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
        result: outcome?,
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
    let sql = checked(&q).ok().and(matched(&q).ok()).map(|m| m.sql);
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
