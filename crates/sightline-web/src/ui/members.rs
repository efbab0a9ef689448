//! Members of the workspace in the browser: add (one-time password shown
//! once), change role (owners), remove, unlock; and the sign-in setting that
//! requires two-factor sign-in of owners and admins. The same checks, rules
//! (admins manage operators and viewers; owners everyone) and audit records
//! as the JSON API (`routes::admin`).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sightline_core::roles::Role;
use sightline_store::identity::{self, UserSummary};

use super::{page, see_other, Form, Nav, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::routes;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage<'a> {
    nav: Nav,
    members: Vec<UserSummary>,
    require_mfa_for_admins: bool,
    /// The member just added and their one-time password, shown this once.
    added: Option<(&'a str, &'a str)>,
    error: Option<String>,
}

impl MembersPage<'_> {
    /// The roles this caller may give a new member.
    fn grantable(&self) -> Vec<&'static str> {
        Role::ALL
            .iter()
            .filter(|r| **r < Role::Admin || self.nav.owner())
            .map(|r| r.as_str())
            .collect()
    }

    fn is(&self, a: &str, b: &str) -> bool {
        a == b
    }

    fn all_roles(&self) -> Vec<&'static str> {
        Role::ALL.iter().rev().map(|r| r.as_str()).collect()
    }
}

async fn render(
    state: &AppState,
    ctx: &PageCtx,
    added: Option<(&str, &str)>,
    error: Option<String>,
) -> ApiResult<Response> {
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    let members = identity::users(&mut tx).await?;
    let settings = identity::sign_in_settings(&mut tx).await?;
    tx.commit().await?;
    page(&MembersPage {
        nav: ctx.nav("members"),
        members,
        require_mfa_for_admins: settings.require_mfa_for_admins,
        added,
        error,
    })
}

/// A refused form shows the page again with the reason and the refusal's status.
async fn refused(state: &AppState, ctx: &PageCtx, e: ApiError) -> ApiResult<Response> {
    if !e.status().is_client_error() || matches!(e, ApiError::RateLimited { .. }) {
        return Err(e);
    }
    let status = e.status();
    let mut response = render(state, ctx, None, Some(e.to_string())).await?;
    *response.status_mut() = status;
    Ok(response)
}

pub async fn list(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    render(&state, &ctx, None, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddForm {
    email: String,
    role: String,
}

pub async fn add(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<AddForm>,
) -> ApiResult<Response> {
    match routes::add_user_audited(&state, &ctx.principal, &form.email, &form.role).await {
        Ok((user, one_time)) => render(&state, &ctx, Some((&user.email, &one_time)), None).await,
        Err(e) => refused(&state, &ctx, e).await,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
    Form(form): Form<RoleForm>,
) -> ApiResult<Response> {
    match routes::set_role_audited(&state, &ctx.principal, id, &form.role).await {
        Ok(_) => Ok(see_other("/members")),
        Err(e) => refused(&state, &ctx, e).await,
    }
}

pub async fn remove(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    match routes::remove_user_audited(&state, &ctx.principal, id).await {
        Ok(()) => Ok(see_other("/members")),
        Err(e) => refused(&state, &ctx, e).await,
    }
}

pub async fn unlock(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    match routes::unlock_user_audited(&state, &ctx.principal, id).await {
        Ok(_) => Ok(see_other("/members")),
        Err(e) => refused(&state, &ctx, e).await,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInForm {
    /// A checkbox: present ("on") when ticked, absent otherwise.
    #[serde(default)]
    require_mfa_for_admins: Option<String>,
}

pub async fn sign_in_settings(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<SignInForm>,
) -> ApiResult<Response> {
    let on = match form.require_mfa_for_admins.as_deref() {
        None => false,
        Some("on") | Some("true") => true,
        Some(other) => {
            return refused(
                &state,
                &ctx,
                ApiError::BadRequest(format!(
                    "require_mfa_for_admins: expected on or nothing, found {other:?}"
                )),
            )
            .await
        }
    };
    routes::set_require_mfa_audited(&state, &ctx.principal, on).await?;
    Ok(see_other("/members"))
}
