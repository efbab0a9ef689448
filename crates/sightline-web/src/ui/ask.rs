//! Ask: a question in plain words about the workspace's inventory.
//!
//! - Profile `none` (no model): the question is matched to the curated
//!   question library (`sightline_store::ask`) and the entry's statement runs
//!   through the SQL console's whole path. Nothing leaves the deployment.
//! - A model profile (`bedrock`, `anthropic`, `openai`): the model writes
//!   the queries through two validated tools (`sightline_store::assistant`),
//!   seeing what the workspace's data policy allows; its answer is rendered
//!   from a safe Markdown subset. A library entry asked by id still runs
//!   without the model.
//!
//! Each question is in the audit trail by its SHA-256 and length, never its
//! text: the audit trail is append-only, and a question may hold anything
//! its asker pasted.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::roles::Role;
use sightline_store::ask::{self, AskFailure, Entry, LIBRARY};
use sightline_store::assistant::{
    self, DataPolicy, ModelAnswer, Session, Settings, Status, StoredQuestion, Table,
};
use sightline_store::console::ResultSet;
use uuid::Uuid;

use super::markdown;
use super::{page, see_other, Form, Nav, PageCtx};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId, QueryParams};
use crate::state::AppState;

/// A question: in plain words, or a library entry by id; with a model, in
/// one of the asker's sessions or a new one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub id: Option<String>,
    /// A session id (forms send an empty one for a new session).
    #[serde(default)]
    pub session: Option<String>,
}

/// What the library answered.
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

/// What `POST /api/v1/ask` answers: from the library or from the model.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answered {
    Library(Answer),
    Model(ModelAnswer),
}

fn failure(e: AskFailure) -> ApiError {
    match e {
        AskFailure::Refused(message) => ApiError::BadRequest(message),
        AskFailure::Off => ApiError::Off(e.to_string()),
        AskFailure::Store(e) => ApiError::from(e),
        AskFailure::Task(detail) => ApiError::Internal(detail),
    }
}

/// Match and run a question for the caller's workspace; audited whatever
/// becomes of it once its shape is checked.
pub async fn answer(state: &AppState, p: &Principal, q: &Question) -> ApiResult<Answer> {
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

fn session_id(q: &Question) -> ApiResult<Option<Uuid>> {
    match q.session.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Uuid::try_parse(s).map(Some).map_err(|_| {
            ApiError::BadRequest(format!(
                "session: expected a session id (a UUID), found {:?}",
                sightline_core::llm::clip(s, 40)
            ))
        }),
    }
}

/// Ask the model, within the asker's rate limit.
pub async fn model_answer(
    state: &AppState,
    p: &Principal,
    q: &Question,
) -> ApiResult<Option<ModelAnswer>> {
    let Some(model) = state.ask_model() else {
        return Ok(None);
    };
    if q.id.is_some() {
        return Ok(None);
    }
    let session = session_id(q)?;
    ask::check_shape(&q.question, None).map_err(failure)?;
    state
        .limiter()
        .check_ask(&p.actor, model.questions_per_user_per_minute)?;
    let answer = assistant::ask_in_task(
        state.store(),
        state.console(),
        &model.assistant,
        p.workspace_id,
        &p.actor,
        session,
        &q.question,
    )
    .await
    .map_err(failure)?;
    Ok(Some(answer))
}

/// `POST /api/v1/ask`.
pub async fn api_ask(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(q): JsonBody<Question>,
) -> ApiResult<Json<Answered>> {
    if let Some(a) = model_answer(&state, &p, &q).await? {
        return Ok(Json(Answered::Model(a)));
    }
    if q.session.is_some() {
        return Err(ApiError::BadRequest(
            "session: sessions are kept for questions to a model; this one is answered from the library".into(),
        ));
    }
    Ok(Json(Answered::Library(answer(&state, &p, &q).await?)))
}

/// `GET /api/v1/ask/library`.
pub async fn api_library(_p: Principal) -> Json<&'static [Entry]> {
    Json(LIBRARY)
}

/// `GET /api/v1/ask/sessions`: the caller's own sessions.
pub async fn api_sessions(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<Session>>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let sessions = assistant::sessions(&mut tx, &p.actor).await?;
    tx.commit().await?;
    Ok(Json(sessions))
}

/// `GET /api/v1/ask/sessions/{id}`: one of the caller's sessions.
pub async fn api_session(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<StoredQuestion>>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let questions = assistant::session_questions(&mut tx, &p.actor, id).await?;
    tx.commit().await?;
    Ok(Json(questions))
}

/// The workspace's Ask settings, with what the server runs.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub profile: &'static str,
    pub model: Option<String>,
    /// `null`: the profile's default, given in `data_policy_default`.
    pub data_policy: Option<DataPolicy>,
    pub data_policy_default: DataPolicy,
    pub data_policy_effective: DataPolicy,
    pub storage: bool,
}

fn settings_view(state: &AppState, s: &Settings) -> SettingsView {
    let profile = state
        .ask_model()
        .map_or("none", |m| m.assistant.model.profile());
    let default = state
        .ask_model()
        .map_or(DataPolicy::default_for(profile), |m| {
            m.assistant.default_policy()
        });
    SettingsView {
        profile,
        model: state
            .ask_model()
            .map(|m| m.assistant.model.model_id().to_owned()),
        data_policy: s.data_policy,
        data_policy_default: default,
        data_policy_effective: s.data_policy.unwrap_or(default),
        storage: s.storage,
    }
}

/// `GET /api/v1/ask/settings`.
pub async fn api_settings(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<SettingsView>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let s = assistant::settings(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(settings_view(&state, &s)))
}

/// A change of the Ask settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// `schema-only`, `rows`, or `default` (the profile's).
    pub data_policy: String,
    pub storage: bool,
}

async fn change_settings(
    state: &AppState,
    p: &Principal,
    change: &SettingsChange,
) -> ApiResult<SettingsView> {
    let data_policy = match change.data_policy.as_str() {
        "default" => None,
        other => Some(DataPolicy::parse(other)?),
    };
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let s = assistant::set_settings(
        &mut tx,
        &p.actor,
        &Settings {
            data_policy,
            storage: change.storage,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(settings_view(state, &s))
}

/// `PUT /api/v1/ask/settings` (admins).
pub async fn api_put_settings(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(change): JsonBody<SettingsChange>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(change_settings(&state, &p, &change).await?))
}

/// The settings form: the checkbox is absent when unticked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsForm {
    pub data_policy: String,
    #[serde(default)]
    pub storage: Option<String>,
}

/// `POST /ask/settings` (admins).
pub async fn settings_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<SettingsForm>,
) -> ApiResult<Response> {
    change_settings(
        &state,
        &ctx.principal,
        &SettingsChange {
            data_policy: f.data_policy,
            storage: f.storage.is_some(),
        },
    )
    .await?;
    Ok(see_other("/ask"))
}

/// A cell of a result table: its text, and a link when it names a resource
/// or a finding.
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

/// A result table on a card.
pub struct CardTable {
    pub table: Table,
    pub rows: Vec<Vec<Cell>>,
    /// A unique name for "save as console query" (SQL results only).
    pub saved_as: Option<String>,
}

fn card_tables(
    question: &str,
    at: chrono::DateTime<chrono::Utc>,
    tables: Vec<Table>,
) -> Vec<CardTable> {
    tables
        .into_iter()
        .enumerate()
        .map(|(i, table)| CardTable {
            rows: cells(&table),
            saved_as: (!table.source.starts_with("search: ")).then(|| {
                format!(
                    "Ask: {} ({}, {})",
                    sightline_core::llm::clip(question, 80),
                    at.format("%Y-%m-%d %H:%M:%S UTC"),
                    i + 1
                )
            }),
            table,
        })
        .collect()
}

/// One answer, as the page shows it.
pub struct Card {
    pub question: String,
    pub answered: bool,
    pub stopped_because: Option<String>,
    /// The answer rendered from the safe Markdown subset: escaped text and fixed tags only.
    pub answer_html: String,
    pub plan: Vec<assistant::Step>,
    pub tables: Vec<CardTable>,
    pub provider: String,
    pub model: String,
    pub data_policy: String,
    pub tokens: u64,
    pub latency_ms: u64,
}

fn cells(t: &Table) -> Vec<Vec<Cell>> {
    let reads_findings = t.source.contains("findings");
    t.rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(t.columns.iter().chain(std::iter::repeat(&String::new())))
                .map(|(v, column)| {
                    let text = v.clone().unwrap_or_else(|| "NULL".into());
                    let href = v.as_deref().and_then(|v| match column.as_str() {
                        "arn" | "resource_arn" if v.starts_with("arn:") => Some(format!(
                            "/resources?q={}",
                            form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                        )),
                        "finding_id" | "id" if reads_findings => {
                            Uuid::try_parse(v).ok().map(|id| format!("/findings/{id}"))
                        }
                        _ => None,
                    });
                    Cell { text, href }
                })
                .collect()
        })
        .collect()
}

impl Card {
    fn of_answer(a: &ModelAnswer) -> Self {
        Self {
            question: a.question.clone(),
            answered: a.status == Status::Answered,
            stopped_because: a.stopped_because.clone(),
            answer_html: a
                .answer
                .as_deref()
                .map(markdown::render)
                .unwrap_or_default(),
            plan: a.plan.clone(),
            tables: card_tables(&a.question, chrono::Utc::now(), a.tables.clone()),
            provider: a.provider.into(),
            model: a.model.clone(),
            data_policy: a.data_policy.as_str().into(),
            tokens: a.usage.total(),
            latency_ms: a.latency_ms,
        }
    }

    fn of_stored(q: &StoredQuestion) -> Self {
        let plan: Vec<assistant::Step> = serde_json::from_value(q.plan.clone()).unwrap_or_default();
        let tables: Vec<Table> = serde_json::from_value(q.results.clone()).unwrap_or_default();
        Self {
            question: q.question.clone(),
            answered: q.status == "answered",
            stopped_because: q.stopped_because.clone(),
            answer_html: q
                .answer
                .as_deref()
                .map(markdown::render)
                .unwrap_or_default(),
            plan,
            tables: card_tables(&q.question, q.asked_at, tables),
            provider: q.provider.clone(),
            model: q.model.clone(),
            data_policy: q.data_policy.clone(),
            tokens: (q.input_tokens + q.output_tokens).max(0) as u64,
            latency_ms: q.latency_ms.max(0) as u64,
        }
    }
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
    /// The model's profile and id, when there is one.
    profile: &'static str,
    model: Option<String>,
    settings: Option<SettingsView>,
    admin: bool,
    sessions: Vec<Session>,
    session: Option<Uuid>,
    cards: Vec<Card>,
}

impl AskPage {
    fn cell(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| "NULL".into())
    }

    fn current(&self, s: &Session) -> bool {
        self.session == Some(s.id)
    }

    fn selected(&self, policy: &str) -> bool {
        self.settings
            .as_ref()
            .is_some_and(|s| s.data_policy.map_or("default", DataPolicy::as_str) == policy)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskQuery {
    #[serde(default)]
    pub session: Option<String>,
}

async fn base_page(state: &AppState, ctx: &PageCtx, session: Option<Uuid>) -> ApiResult<AskPage> {
    let p = &ctx.principal;
    let (settings, sessions, cards) = if state.ask_model().is_some() {
        let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
        let s = assistant::settings(&mut tx).await?;
        let sessions = assistant::sessions(&mut tx, &p.actor).await?;
        let cards = match session {
            Some(id) => assistant::session_questions(&mut tx, &p.actor, id)
                .await?
                .iter()
                .map(Card::of_stored)
                .collect(),
            None => Vec::new(),
        };
        tx.commit().await?;
        (Some(settings_view(state, &s)), sessions, cards)
    } else {
        (None, Vec::new(), Vec::new())
    };
    Ok(AskPage {
        nav: ctx.nav("ask"),
        saved_as: String::new(),
        question: String::new(),
        answer: None,
        sql: None,
        error: None,
        library: LIBRARY,
        profile: state
            .ask_model()
            .map_or("none", |m| m.assistant.model.profile()),
        model: state
            .ask_model()
            .map(|m| m.assistant.model.model_id().to_owned()),
        settings,
        admin: p.role >= Role::Admin,
        sessions,
        session,
        cards,
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<AskQuery>,
) -> ApiResult<Response> {
    let session = session_id(&Question {
        question: String::new(),
        id: None,
        session: q.session,
    })?;
    page(&base_page(&state, &ctx, session).await?)
}

pub async fn ask_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(q): Form<Question>,
) -> ApiResult<Response> {
    match model_answer(&state, &ctx.principal, &q).await {
        Ok(Some(a)) => {
            if let (true, Some(id)) = (a.stored, a.session_id) {
                return Ok(see_other(&format!("/ask?session={id}")));
            }
            // Storage off: the answer is shown once and kept nowhere.
            let mut p = base_page(&state, &ctx, None).await?;
            p.cards = vec![Card::of_answer(&a)];
            return page(&p);
        }
        Ok(None) => {}
        Err(ApiError::BadRequest(message)) => {
            let mut p = base_page(&state, &ctx, session_id(&q).ok().flatten()).await?;
            p.question = q.question;
            p.error = Some(message);
            let mut response = page(&p)?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            return Ok(response);
        }
        Err(e) => return Err(e),
    }
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
    let mut p = base_page(&state, &ctx, None).await?;
    p.saved_as = saved_as;
    p.question = q.question;
    p.answer = answer;
    p.sql = sql;
    p.error = error;
    let mut response = page(&p)?;
    if failed {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}
