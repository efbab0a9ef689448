//! Signing in and out in the browser, and replacing a one-time password.
//! The checks are the JSON API's own (`routes::session`): lockout, rate
//! limit, second factor and audit are the same.

use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{page, see_other, Form, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::ClientAddr;
use crate::routes::session::{
    end_session, password_sign_in, replace_password, session_cookies, SignIn,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    email: &'a str,
    oidc: bool,
}

pub async fn show(State(state): State<AppState>) -> ApiResult<Response> {
    page(&LoginPage {
        error: None,
        email: "",
        oidc: state.oidc().is_some(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: String,
}

pub async fn submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let body = SignIn {
        email: form.email.clone(),
        password: form.password,
        totp_code: Some(form.totp_code.trim().to_owned()).filter(|c| !c.is_empty()),
        recovery_code: None,
    };
    match password_sign_in(&state, addr.0, &body).await {
        Ok(done) => {
            let mut headers = HeaderMap::new();
            for cookie in session_cookies(&done.token, &done.csrf) {
                headers.append(SET_COOKIE, cookie);
            }
            let to = if done.must_change_password {
                "/password"
            } else {
                "/"
            };
            Ok((headers, see_other(to)).into_response())
        }
        Err(e) if e.status().is_client_error() && !matches!(e, ApiError::RateLimited(_)) => {
            let message = e.to_string();
            let mut response = page(&LoginPage {
                error: Some(&message),
                email: &form.email,
                oidc: state.oidc().is_some(),
            })?;
            *response.status_mut() = e.status();
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
    Form(form): Form<PasswordForm>,
) -> ApiResult<Response> {
    match replace_password(
        &state,
        &ctx.principal,
        &form.current_password,
        &form.new_password,
    )
    .await
    {
        Ok(()) => Ok(see_other("/")),
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
