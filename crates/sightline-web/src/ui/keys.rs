//! API keys (owners) and integrations (admins) in the browser: a key is
//! shown once, with its scope and expiry, and can be revoked; an
//! integration's credential is stored sealed, never shown, and deleted when
//! it is disconnected. The same checks and audit records as the JSON API.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sightline_core::roles::Role;
use sightline_store::credentials::{self, ApiKeySummary};
use sightline_store::keyring::{self, IntegrationSummary};

use super::{page, see_other, Form, Nav, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathId, PathName};
use crate::routes;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage<'a> {
    nav: Nav,
    keys: Vec<ApiKeySummary>,
    /// The key just issued, shown this once.
    issued: Option<(&'a ApiKeySummary, &'a str)>,
    error: Option<String>,
}

impl KeysPage<'_> {
    fn roles(&self) -> Vec<&'static str> {
        Role::ALL.iter().map(|r| r.as_str()).collect()
    }
}

async fn render_keys(
    state: &AppState,
    ctx: &PageCtx,
    issued: Option<(&ApiKeySummary, &str)>,
    error: Option<String>,
) -> ApiResult<Response> {
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    let keys = credentials::api_keys(&mut tx).await?;
    tx.commit().await?;
    page(&KeysPage {
        nav: ctx.nav("api-keys"),
        keys,
        issued,
        error,
    })
}

pub async fn list(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    render_keys(&state, &ctx, None, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueForm {
    name: String,
    role: String,
    /// Days until it expires; empty: until revoked.
    #[serde(default)]
    expires_in_days: String,
}

pub async fn issue(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<IssueForm>,
) -> ApiResult<Response> {
    let days = match form.expires_in_days.trim() {
        "" => Ok(None),
        d => d.parse::<i64>().map(Some).map_err(|_| {
            ApiError::BadRequest(format!(
                "expires_in_days: expected a number of days or nothing, found {d:?}"
            ))
        }),
    };
    let issued = match days {
        Ok(days) => {
            routes::issue_api_key_audited(&state, &ctx.principal, &form.name, &form.role, days)
                .await
        }
        Err(e) => Err(e),
    };
    match issued {
        Ok((summary, key)) => render_keys(&state, &ctx, Some((&summary, &key)), None).await,
        Err(e) if e.status().is_client_error() && !matches!(e, ApiError::RateLimited { .. }) => {
            let status = e.status();
            let mut response = render_keys(&state, &ctx, None, Some(e.to_string())).await?;
            *response.status_mut() = status;
            Ok(response)
        }
        Err(e) => Err(e),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    routes::revoke_api_key_audited(&state, &ctx.principal, id).await?;
    Ok(see_other("/api-keys"))
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    nav: Nav,
    integrations: Vec<IntegrationSummary>,
}

pub async fn integrations(State(state): State<AppState>, ctx: PageCtx) -> ApiResult<Response> {
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    let integrations = keyring::integrations(&mut tx).await?;
    tx.commit().await?;
    page(&IntegrationsPage {
        nav: ctx.nav("integrations"),
        integrations,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationForm {
    name: String,
    credential: String,
}

pub async fn put_integration(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<IntegrationForm>,
) -> ApiResult<Response> {
    routes::put_integration_audited(&state, &ctx.principal, form.name.trim(), &form.credential)
        .await?;
    Ok(see_other("/integrations"))
}

pub async fn disconnect_integration(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathName(name): PathName,
) -> ApiResult<Response> {
    routes::disconnect_integration(&state, &ctx.principal, &name).await?;
    Ok(see_other("/integrations"))
}
