//! Signing in and out in the browser, and replacing a one-time password.
//! The checks are the JSON API's own (`routes::session`): lockout, rate
//! limit, second factor and audit are the same.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{page, see_other, Form, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::ClientAddr;
use crate::routes::session::{
    end_session, new_session_headers, origin, password_sign_in, replace_password, SignIn,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    email: &'a str,
    oidc: bool,
    /// The recovery-code field was used: keep it open.
    recovery: bool,
    /// The deployment has several workspaces: a sign-in names its own.
    workspace: Option<&'a str>,
}

/// The workspace field's value, when the deployment needs one.
async fn workspace_field<'a>(state: &AppState, value: &'a str) -> ApiResult<Option<&'a str>> {
    Ok(state
        .store()
        .sign_in_needs_workspace()
        .await?
        .then_some(value))
}

pub async fn show(State(state): State<AppState>) -> ApiResult<Response> {
    page(&LoginPage {
        error: None,
        email: "",
        oidc: state.oidc().is_some(),
        recovery: false,
        workspace: workspace_field(&state, "").await?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: String,
    #[serde(default)]
    recovery_code: String,
    #[serde(default)]
    workspace: String,
}

pub async fn submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let some = |s: &str| Some(s.trim().to_owned()).filter(|c| !c.is_empty());
    let body = SignIn {
        email: form.email.clone(),
        password: form.password,
        totp_code: some(&form.totp_code),
        recovery_code: some(&form.recovery_code),
        workspace: some(&form.workspace),
    };
    match password_sign_in(&state, &origin(addr.0, &headers), &body).await {
        Ok(done) => {
            let to = if done.must_change_password {
                "/password"
            } else {
                "/"
            };
            Ok((new_session_headers(&done), see_other(to)).into_response())
        }
        Err(e) if e.status().is_client_error() && !matches!(e, ApiError::RateLimited { .. }) => {
            let message = e.to_string();
            let mut response = page(&LoginPage {
                error: Some(&message),
                email: &form.email,
                oidc: state.oidc().is_some(),
                recovery: body.recovery_code.is_some(),
                workspace: workspace_field(&state, &form.workspace).await?,
            })?;
            *response.status_mut() = e.status();
            if let ApiError::RateLimited { retry_after, .. } = e {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Ok(response)
        }
        Err(e) => Err(e),
    }
}

pub async fn logout(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    let headers = end_session(&state, &ctx.principal).await?;
    Ok((headers, see_other("/login")).into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    nav: super::Nav,
    error: Option<&'a str>,
    required: bool,
}

pub async fn password_form(ctx: PageCtx) -> ApiResult<Response> {
    page(&PasswordPage {
        nav: ctx.nav(""),
        error: None,
        required: ctx.principal.must_change_password,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    ctx: PageCtx,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> ApiResult<Response> {
    match replace_password(
        &state,
        &ctx.principal,
        &form.current_password,
        &form.new_password,
        &origin(addr.0, &headers),
    )
    .await
    {
        // This browser continues in the new session; every other one ended.
        Ok(done) => Ok((new_session_headers(&done), see_other("/")).into_response()),
        Err(e) if e.status().is_client_error() => {
            let message = e.to_string();
            let mut response = page(&PasswordPage {
                nav: ctx.nav(""),
                error: Some(&message),
                required: ctx.principal.must_change_password,
            })?;
            *response.status_mut() = e.status();
            Ok(response)
        }
        Err(e) => Err(e),
    }
}
