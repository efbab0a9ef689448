//! The audit page: the newest records of the workspace's trail, filtered by
//! actor or action, with the CSV export of the same view.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sightline_store::audit::AuditRecord;
use sightline_store::views::{self, AuditFilter};

use super::{page, query_string, Nav, PageCtx};
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditPageQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    actor: String,
    action: String,
    records: Vec<AuditRecord>,
    export_href: String,
}

impl AuditPage {
    fn details(&self, r: &AuditRecord) -> String {
        r.details.to_string()
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<AuditPageQuery>,
) -> ApiResult<Response> {
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = AuditFilter {
        actor: some(&q.actor),
        action: some(&q.action),
        limit: 200,
        newest_first: true,
        ..AuditFilter::default()
    };
    let mut tx = state
        .store()
        .begin_workspace_tx(ctx.principal.workspace_id)
        .await?;
    let records = views::audit_records(&mut tx, &filter).await?;
    tx.commit().await?;
    page(&AuditPage {
        nav: ctx.nav("audit"),
        export_href: format!(
            "/api/v1/audit/export.csv{}",
            query_string(&[("actor", q.actor.trim()), ("action", q.action.trim())])
        ),
        actor: q.actor,
        action: q.action,
        records,
    })
}
