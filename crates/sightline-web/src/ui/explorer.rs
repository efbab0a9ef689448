//! The resource explorer: the search box (syntax errors shown at their
//! position), facets, keyset pages, and one resource with its findings and
//! history.

use askama::Template;
use axum::response::Response;
use serde::Deserialize;
use sightline_core::search::{self, SyntaxError};
use sightline_store::explorer::{
    self, Facets, HistoryEntry, ResourceCursor, ResourceDetail, ResourceRow,
};
use sightline_store::inbox::InboxRow;

use super::{page, query_string, tag_list, Nav, PageCtx};
use crate::error::ApiResult;
use crate::extract::{PathId, QueryParams};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExplorerQuery {
    #[serde(default)]
    pub q: String,
    pub after: Option<String>,
}

/// A facet link: the value, its count, and the query that adds it.
pub struct FacetLink {
    pub value: String,
    pub count: i64,
    pub href: String,
}

pub struct FacetGroup {
    pub title: &'static str,
    pub links: Vec<FacetLink>,
}

#[derive(Template)]
#[template(path = "resources.html")]
struct ResourcesPage {
    nav: Nav,
    q: String,
    error: Option<SyntaxError>,
    /// The query text up to the error, and from it, for the caret.
    error_before: String,
    error_at: String,
    rows: Vec<ResourceRow>,
    next: Option<String>,
    facets: Vec<FacetGroup>,
    /// Some(n): the facets counted only the first n matches.
    facets_lower_bounds: Option<String>,
    /// How many resources match, when known exactly.
    total: Option<String>,
    tag_keys_omitted: bool,
}

impl ResourcesPage {
    fn tags(&self, row: &ResourceRow) -> Vec<String> {
        tag_list(&row.tags)
    }
    fn next_href(&self, cursor: &str) -> String {
        format!(
            "/resources{}",
            query_string(&[("q", &self.q), ("after", cursor)])
        )
    }
}

fn quote_if_needed(value: &str) -> String {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '"') {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
}

fn facet_groups(q: &str, facets: Facets) -> Vec<FacetGroup> {
    let omit_tag_keys = facets.tag_keys_omitted;
    let group = |title: &'static str, key: &str, counts: Vec<explorer::FacetCount>| FacetGroup {
        title,
        links: counts
            .into_iter()
            .map(|c| {
                let added = format!("{q} {key}:{}", quote_if_needed(&c.value))
                    .trim()
                    .to_owned();
                FacetLink {
                    href: format!("/resources{}", query_string(&[("q", &added)])),
                    value: c.value,
                    count: c.count,
                }
            })
            .collect(),
    };
    [
        group("type", "type", facets.types),
        group("account", "account", facets.accounts),
        group("region", "region", facets.regions),
        group("tag key", "tag", facets.tag_keys),
    ]
    .into_iter()
    .filter(|g| !(omit_tag_keys && g.title == "tag key"))
    .collect()
}

pub async fn list(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    QueryParams(params): QueryParams<ExplorerQuery>,
) -> ApiResult<Response> {
    let parsed = search::parse(&params.q);
    let mut view = ResourcesPage {
        nav: ctx.nav("resources"),
        q: params.q.clone(),
        error: None,
        error_before: String::new(),
        error_at: String::new(),
        rows: vec![],
        next: None,
        facets: vec![],
        facets_lower_bounds: None,
        total: None,
        tag_keys_omitted: false,
    };
    match parsed {
        Err(e) => {
            view.error_before = params.q.chars().take(e.position).collect();
            view.error_at = params.q.chars().skip(e.position).collect();
            view.error = Some(e);
            let mut response = page(&view)?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Ok(query) => {
            let after = params
                .after
                .as_deref()
                .map(ResourceCursor::decode)
                .transpose()?;
            let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
            let explorer::Explored {
                page: found,
                facets,
            } = explorer::explore(&mut tx, &query, after.as_ref(), explorer::PAGE_SIZE).await?;
            tx.commit().await?;
            view.rows = found.rows;
            view.next = found.next;
            view.facets_lower_bounds = match facets.basis {
                explorer::FacetBasis::Exact => None,
                explorer::FacetBasis::LowerBounds { counted } => Some(super::thousands(counted)),
            };
            view.total = facets.total.map(super::thousands);
            view.tag_keys_omitted = facets.tag_keys_omitted;
            view.facets = facet_groups(&params.q, facets);
            page(&view)
        }
    }
}

#[derive(Template)]
#[template(path = "resource.html")]
struct ResourcePage {
    nav: Nav,
    resource: ResourceDetail,
    attributes: String,
    tags: Vec<String>,
    findings: Vec<InboxRow>,
    history: Vec<HistoryEntry>,
}

impl ResourcePage {
    fn pretty(&self, v: &Option<serde_json::Value>) -> String {
        v.as_ref()
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
            .unwrap_or_default()
    }
}

pub async fn detail(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let resource = explorer::resource(&mut tx, id).await?;
    let findings =
        explorer::resource_findings(&mut tx, resource.row.account_id, &resource.row.arn).await?;
    let history = explorer::history(&mut tx, resource.row.account_id, &resource.row.arn).await?;
    tx.commit().await?;
    page(&ResourcePage {
        nav: ctx.nav("resources"),
        attributes: serde_json::to_string_pretty(&resource.attributes).unwrap_or_default(),
        tags: tag_list(&resource.row.tags),
        resource,
        findings,
        history,
    })
}
