//! Accounts: the list, adding and removing (admins), and queueing a scan
//! (operators). The same store calls and audit records as the JSON API.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sightline_store::accounts::NewAccount;
use sightline_store::views::{self, AccountView};

use super::{page, see_other, Form, Nav, PageCtx};
use crate::error::ApiResult;
use crate::extract::PathId;
use crate::routes::inventory::{add_account_audited, queue_scan_audited, remove_account_audited};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    nav: Nav,
    accounts: Vec<AccountView>,
}

pub async fn list(reads: crate::extract::Reads, ctx: PageCtx) -> ApiResult<Response> {
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let accounts = views::accounts(&mut tx).await?;
    tx.commit().await?;
    page(&AccountsPage {
        nav: ctx.nav("accounts"),
        accounts,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddForm {
    aws_account_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role_arn: String,
    #[serde(default)]
    regions: String,
    #[serde(default)]
    schedule: String,
}

pub async fn add(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<AddForm>,
) -> ApiResult<Response> {
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let new = NewAccount {
        aws_account_id: form.aws_account_id.trim().to_owned(),
        name: some(&form.name),
        role_arn: some(&form.role_arn),
        regions: form
            .regions
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        schedule: some(&form.schedule),
    };
    add_account_audited(&state, &ctx.principal, &new).await?;
    Ok(see_other("/accounts"))
}

pub async fn remove(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    remove_account_audited(&state, &ctx.principal, id).await?;
    Ok(see_other("/accounts"))
}

pub async fn scan(
    State(state): State<AppState>,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    queue_scan_audited(&state, &ctx.principal, id).await?;
    Ok(see_other("/scans"))
}
