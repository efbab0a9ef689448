//! Your own account security in the browser: two-factor sign-in (enrol with
//! a QR code, confirm, recovery codes shown once, new codes, disable) and
//! your sessions. The checks are the JSON API's own (`routes::account`):
//! the current password first, the same audit records.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sightline_store::identity;

use super::{page, see_other, Form, Nav, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::routes::{self, Enrolment, YourSession};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "two_factor.html")]
struct TwoFactorPage<'a> {
    nav: Nav,
    enabled: bool,
    codes_left: i64,
    required: bool,
    /// Just begun: the secret and its QR code, shown this once.
    enrolment: Option<(&'a Enrolment, String)>,
    /// Just issued: the recovery codes, shown this once.
    recovery_codes: Option<&'a [String]>,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    ctx: &PageCtx,
    enrolment: Option<&Enrolment>,
    recovery_codes: Option<&[String]>,
    error: Option<String>,
) -> ApiResult<Response> {
    let user_id = ctx.principal.require_local_user()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    let user = identity::user_summary(&mut tx, user_id).await?;
    let codes_left = identity::recovery_codes_left(&mut tx, user_id).await?;
    tx.commit().await?;
    let enrolment = match enrolment {
        Some(e) => Some((
            e,
            super::qr::svg(&e.otpauth_uri).ok_or_else(|| {
                ApiError::Internal("the enrolment URI does not fit a QR code".into())
            })?,
        )),
        None => None,
    };
    page(&TwoFactorPage {
        nav: ctx.nav("settings"),
        enabled: user.totp_enabled,
        codes_left,
        required: ctx.principal.must_enrol_totp,
        enrolment,
        recovery_codes,
        error,
    })
}

/// A refused form shows the page again with the reason, with the refusal's status.
async fn or_page_error(
    state: &AppState,
    ctx: &PageCtx,
    result: ApiResult<Response>,
) -> ApiResult<Response> {
    match result {
        Err(e) if e.status().is_client_error() && !matches!(e, ApiError::RateLimited { .. }) => {
            let status = e.status();
            let mut response = render(state, ctx, None, None, Some(e.to_string())).await?;
            *response.status_mut() = status;
            Ok(response)
        }
        other => other,
    }
}

pub async fn two_factor(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    render(&state, &ctx, None, None, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordForm {
    current_password: String,
}

pub async fn two_factor_begin(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<PasswordForm>,
) -> ApiResult<Response> {
    let result = async {
        let enrolment =
            routes::begin_enrolment(&state, &ctx.principal, &form.current_password).await?;
        render(&state, &ctx, Some(&enrolment), None, None).await
    }
    .await;
    or_page_error(&state, &ctx, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    code: String,
}

pub async fn two_factor_confirm(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<CodeForm>,
) -> ApiResult<Response> {
    let result = async {
        let codes = routes::confirm_enrolment(&state, &ctx.principal, &form.code).await?;
        // Enrolled: a requirement no longer applies to this page's frame.
        let mut ctx = PageCtx {
            principal: ctx.principal.clone(),
            csrf: ctx.csrf.clone(),
        };
        ctx.principal.must_enrol_totp = false;
        render(&state, &ctx, None, Some(&codes), None).await
    }
    .await;
    or_page_error(&state, &ctx, result).await
}

pub async fn two_factor_regenerate(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<DisableForm>,
) -> ApiResult<Response> {
    let result = async {
        let codes =
            routes::regenerate(&state, &ctx.principal, &form.current_password, &form.code).await?;
        render(&state, &ctx, None, Some(&codes), None).await
    }
    .await;
    or_page_error(&state, &ctx, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableForm {
    current_password: String,
    code: String,
}

pub async fn two_factor_disable(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<DisableForm>,
) -> ApiResult<Response> {
    let result = async {
        routes::disable_totp(&state, &ctx.principal, &form.current_password, &form.code).await?;
        Ok(see_other("/settings/two-factor"))
    }
    .await;
    or_page_error(&state, &ctx, result).await
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    nav: Nav,
    sessions: Vec<YourSession>,
}

pub async fn sessions(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    let sessions = routes::your_sessions(&state, &ctx.principal).await?;
    page(&SessionsPage {
        nav: ctx.nav("settings"),
        sessions,
    })
}

pub async fn revoke_session(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    routes::end_your_session(&state, &ctx.principal, id).await?;
    if ctx.principal.session_id == Some(id) {
        // This browser's own session: it is signed out.
        return Ok((routes::session::clear_cookies(), see_other("/login")).into_response());
    }
    Ok(see_other("/settings/sessions"))
}
