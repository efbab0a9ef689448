//! The resource explorer: search (the syntax of `sightline_core::search`
//! compiled to parameterised SQL), facets, keyset pages, and one resource
//! with its history. Every function runs on a [`WorkspaceTx`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sightline_core::search::{like_escape, Field, Query};
use sqlx::{FromRow, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::tenant::WorkspaceTx;
use crate::StoreError;

/// One row of the explorer.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ResourceRow {
    pub id: Uuid,
    pub resource_type: String,
    pub account: String,
    pub region: String,
    pub name: Option<String>,
    pub arn: String,
    pub resource_id: String,
    pub tags: serde_json::Value,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub gone_at: Option<DateTime<Utc>>,
    pub open_findings: i32,
    #[serde(skip)]
    pub account_id: Uuid,
}

/// Where the next page starts: the last row's (type, ARN, account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCursor {
    pub resource_type: String,
    pub arn: String,
    pub account_id: Uuid,
}

impl ResourceCursor {
    /// An opaque, URL-safe token.
    pub fn encode(&self) -> String {
        hex(&format!(
            "{}\u{1f}{}\u{1f}{}",
            self.resource_type, self.arn, self.account_id
        ))
    }

    pub fn decode(token: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::InvalidInput {
            field: "after",
            expected: "a cursor from a previous page".into(),
            found: token.chars().take(40).collect(),
        };
        let text = unhex(token).ok_or_else(bad)?;
        let mut parts = text.split('\u{1f}');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(a), Some(id), None) => Ok(Self {
                resource_type: t.to_owned(),
                arn: a.to_owned(),
                account_id: Uuid::try_parse(id).map_err(|_| bad())?,
            }),
            _ => Err(bad()),
        }
    }
}

pub(crate) fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) || s.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A page of the explorer and the cursor of the next one.
#[derive(Debug, Clone, Serialize)]
pub struct ResourcePage {
    pub rows: Vec<ResourceRow>,
    pub next: Option<String>,
}

/// Where each field of a query lives in the table a statement reads.
struct Columns {
    resource_type: &'static str,
    region: &'static str,
    account: &'static str,
    state: &'static str,
    name: &'static str,
}

/// The resources table `r` joined to its account `a`.
const RESOURCE_COLUMNS: Columns = Columns {
    resource_type: "r.resource_type",
    region: "r.region",
    account: "a.aws_account_id",
    state: "r.attributes->>'state'",
    name: "r.name",
};

/// The facet counts `f` joined to their account `a` (no name: see [`Cube`]).
const FACET_COLUMNS: Columns = Columns {
    resource_type: "f.resource_type",
    region: "f.region",
    account: "a.aws_account_id",
    state: "f.state",
    name: "NULL",
};

/// Add the conditions on type, region, account, state and name.
fn push_field_filters(qb: &mut QueryBuilder<Postgres>, query: &Query, columns: &Columns) {
    for field in [
        Field::Type,
        Field::Region,
        Field::Account,
        Field::State,
        Field::Name,
    ] {
        let column = match field {
            Field::Type => columns.resource_type,
            Field::Region => columns.region,
            Field::Account => columns.account,
            Field::Name => columns.name,
            _ => columns.state,
        };
        let terms: Vec<_> = query.on(field).collect();
        if terms.is_empty() {
            continue;
        }
        qb.push(" AND (");
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            if t.prefix {
                qb.push(column)
                    .push(" LIKE ")
                    .push_bind(format!("{}%", like_escape(&t.value)));
            } else if field == Field::Name {
                qb.push(column)
                    .push(" ILIKE ")
                    .push_bind(like_escape(&t.value));
            } else {
                qb.push(column).push(" = ").push_bind(t.value.clone());
            }
        }
        qb.push(")");
    }
}

/// Add every condition of a parsed query on `r` and `a` (after a leading `WHERE ...`).
fn push_filters(qb: &mut QueryBuilder<Postgres>, query: &Query) {
    push_field_filters(qb, query, &RESOURCE_COLUMNS);
    for t in query.on(Field::Tag) {
        match &t.tag_value {
            Some(v) => {
                qb.push(" AND r.tags @> ").push_bind(tag_pair(&t.value, v));
            }
            None => {
                qb.push(" AND r.tags ? ").push_bind(t.value.clone());
            }
        }
    }
    // Field by field, as `explorer_candidates` matches: the name and id, or
    // the ARN (lowered; ILIKE ignores case either way). The function finds
    // the same rows through the label's trigram index, the ARN's after its
    // prefix, and the table of ARN prefixes (migration 20261207000012).
    for t in query.on(Field::Text) {
        let pattern = text_pattern(&t.value);
        qb.push(" AND ((coalesce(r.name, '') || ' ' || r.resource_id) ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR lower(r.arn) ILIKE ")
            .push_bind(pattern)
            .push(")");
    }
}

fn tag_pair(key: &str, value: &str) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
    serde_json::Value::Object(object)
}

fn text_pattern(value: &str) -> String {
    format!("%{}%", like_escape(value))
}

/// Rows per explorer page.
pub const PAGE_SIZE: i64 = 50;

/// A search with at most this many candidates from the GIN indexes (free
/// text, tag values) reads exactly those; above it, the matches are dense
/// enough that walking the keyset index finds a page quickly, and facets
/// that the per-scan counts cannot answer are counted over this many.
pub const CANDIDATE_CAP: i64 = 5_000;

/// The resources a search reads.
enum Source {
    /// Every resource of the workspace, through the keyset index.
    Walk,
    /// Exactly these (at most [`CANDIDATE_CAP`]), found by the GIN indexes.
    Ids(Vec<Uuid>),
    /// More candidates than the cap: the first `CANDIDATE_CAP` of them.
    Broad(Vec<Uuid>),
}

/// The conditions the GIN indexes can serve through `explorer_candidates`:
/// tag pairs (the first value of each key) and the first free-text term.
fn gin_conditions(query: &Query) -> Option<(Option<serde_json::Value>, Option<String>)> {
    let mut pairs = serde_json::Map::new();
    for t in query.on(Field::Tag) {
        if let Some(v) = &t.tag_value {
            pairs
                .entry(t.value.clone())
                .or_insert_with(|| serde_json::Value::String(v.clone()));
        }
    }
    let tags = (!pairs.is_empty()).then_some(serde_json::Value::Object(pairs));
    let text = query.on(Field::Text).next().map(|t| text_pattern(&t.value));
    (tags.is_some() || text.is_some()).then_some((tags, text))
}

/// Ask the GIN indexes for the candidates of a query, up to the cap.
async fn candidates(
    tx: &mut WorkspaceTx,
    tags: Option<serde_json::Value>,
    text: Option<String>,
) -> Result<Source, StoreError> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT explorer_candidates($1, $2, $3)")
        .bind(tags)
        .bind(text)
        .bind((CANDIDATE_CAP + 1) as i32)
        .fetch_all(tx.conn())
        .await?;
    Ok(if ids.len() as i64 > CANDIDATE_CAP {
        Source::Broad(ids)
    } else {
        Source::Ids(ids)
    })
}

/// One page of resources matching `query`, in (type, ARN, account) order.
pub async fn search(
    tx: &mut WorkspaceTx,
    query: &Query,
    after: Option<&ResourceCursor>,
    page_size: i64,
) -> Result<ResourcePage, StoreError> {
    let (source, _) = plan(tx, query).await?;
    page(tx, query, &source, after, page_size).await
}

async fn page(
    tx: &mut WorkspaceTx,
    query: &Query,
    source: &Source,
    after: Option<&ResourceCursor>,
    page_size: i64,
) -> Result<ResourcePage, StoreError> {
    let workspace_id = tx.workspace_id();
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT r.id, r.resource_type, a.aws_account_id AS account, r.region, r.name, r.arn, r.resource_id, r.tags,
                r.first_seen, r.last_seen, r.gone_at, r.account_id,
                (SELECT count(*) FROM findings f WHERE f.account_id = r.account_id AND f.resource_arn = r.arn
                   AND f.status = 'open')::int AS open_findings
         FROM resources r JOIN accounts a ON a.id = r.account_id WHERE r.workspace_id = ",
    );
    qb.push_bind(workspace_id);
    if let Source::Ids(ids) = source {
        qb.push(" AND r.id = ANY(").push_bind(ids.clone()).push(")");
    }
    push_filters(&mut qb, query);
    if let Some(c) = after {
        qb.push(" AND (r.resource_type, r.arn, r.account_id) > (")
            .push_bind(c.resource_type.clone())
            .push(", ")
            .push_bind(c.arn.clone())
            .push(", ")
            .push_bind(c.account_id)
            .push(")");
    }
    qb.push(" ORDER BY r.resource_type, r.arn, r.account_id LIMIT ")
        .push_bind(page_size + 1);
    let mut rows: Vec<ResourceRow> = qb.build_query_as().fetch_all(tx.conn()).await?;
    let next = if rows.len() as i64 > page_size {
        rows.truncate(page_size as usize);
        rows.last().map(|r| {
            ResourceCursor {
                resource_type: r.resource_type.clone(),
                arn: r.arn.clone(),
                account_id: r.account_id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(ResourcePage { rows, next })
}

/// A facet value and how many matching resources have it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct FacetCount {
    pub value: String,
    pub count: i64,
}

/// How facet counts were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FacetBasis {
    /// Every count is exact.
    #[default]
    Exact,
    /// Counted over `counted` of the matches (there are more): each count
    /// is a lower bound, and a value may be missing.
    LowerBounds { counted: i64 },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub types: Vec<FacetCount>,
    pub accounts: Vec<FacetCount>,
    pub regions: Vec<FacetCount>,
    pub tag_keys: Vec<FacetCount>,
    pub basis: FacetBasis,
    /// How many resources match, when that is known exactly.
    pub total: Option<i64>,
    /// Tag keys are not counted within a tag condition (the per-scan counts
    /// hold tags one at a time, not which keys occur together).
    pub tag_keys_omitted: bool,
}

impl Facets {
    /// The facets of a result that fits on one page, from its rows: exact,
    /// and no second pass over the table.
    pub fn from_rows(rows: &[ResourceRow]) -> Self {
        fn top(values: impl Iterator<Item = String>) -> Vec<FacetCount> {
            let mut counts = std::collections::BTreeMap::<String, i64>::new();
            for v in values {
                *counts.entry(v).or_default() += 1;
            }
            let mut list: Vec<FacetCount> = counts
                .into_iter()
                .map(|(value, count)| FacetCount { value, count })
                .collect();
            list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            list.truncate(FACET_VALUES as usize);
            list
        }
        Facets {
            types: top(rows.iter().map(|r| r.resource_type.clone())),
            accounts: top(rows.iter().map(|r| r.account.clone())),
            regions: top(rows.iter().map(|r| r.region.clone())),
            tag_keys: top(rows.iter().flat_map(|r| {
                r.tags
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })),
            basis: FacetBasis::Exact,
            total: Some(rows.len() as i64),
            tag_keys_omitted: false,
        }
    }

    fn push(&mut self, row: FacetRow) {
        let count = FacetCount {
            value: row.value,
            count: row.count,
        };
        match row.facet {
            -1 => self.total = Some(count.count),
            0 => self.types.push(count),
            1 => self.accounts.push(count),
            2 => self.regions.push(count),
            _ => self.tag_keys.push(count),
        }
    }
}

/// Values shown per facet.
pub const FACET_VALUES: i64 = 30;

#[derive(FromRow)]
struct FacetRow {
    facet: i32,
    value: String,
    count: i64,
}

/// A page of the explorer with its facets.
#[derive(Debug, Clone, Serialize)]
pub struct Explored {
    pub page: ResourcePage,
    pub facets: Facets,
}

/// What the per-scan facet counts (`resource_facets`) can answer: conditions
/// on type, region, account and state, and at most one tag condition (a key,
/// or a pair whose key's values are counted).
enum Cube<'q> {
    NoTag,
    Key(&'q str),
    Pair(&'q str, &'q str),
}

async fn cube_for<'q>(
    tx: &mut WorkspaceTx,
    query: &'q Query,
) -> Result<Option<Cube<'q>>, StoreError> {
    if query.on(Field::Text).next().is_some() || query.on(Field::Name).next().is_some() {
        return Ok(None);
    }
    let mut tags = query.on(Field::Tag);
    let (first, second) = (tags.next(), tags.next());
    Ok(match (first, second) {
        (None, _) => Some(Cube::NoTag),
        (Some(_), Some(_)) => None,
        (Some(t), None) => match &t.tag_value {
            None => Some(Cube::Key(&t.value)),
            Some(v) => {
                // A key with more than 100 values in some account has no pair counts.
                let counted: Option<bool> = sqlx::query_scalar(
                    "SELECT bool_and(values_counted) FROM resource_facets
                     WHERE workspace_id = $1 AND tag_key = $2 AND tag_value IS NULL",
                )
                .bind(tx.workspace_id())
                .bind(&t.value)
                .fetch_one(tx.conn())
                .await?;
                counted.unwrap_or(true).then_some(Cube::Pair(&t.value, v))
            }
        },
    })
}

/// Exact facets from the per-scan counts.
async fn cube_facets(
    tx: &mut WorkspaceTx,
    query: &Query,
    cube: &Cube<'_>,
) -> Result<Facets, StoreError> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "WITH cells AS MATERIALIZED (
             SELECT f.resource_type, a.aws_account_id, f.region, f.tag_key, f.tag_value, f.resources
             FROM resource_facets f JOIN accounts a ON a.id = f.account_id
             WHERE f.workspace_id = ",
    );
    qb.push_bind(tx.workspace_id());
    match cube {
        Cube::NoTag => qb.push(""),
        Cube::Key(k) => qb.push(" AND f.tag_key = ").push_bind(k.to_string()),
        Cube::Pair(k, _) => qb.push(" AND f.tag_key = ").push_bind(k.to_string()),
    };
    push_field_filters(&mut qb, query, &FACET_COLUMNS);
    qb.push("), base AS (SELECT * FROM cells WHERE ");
    match cube {
        Cube::NoTag => qb.push("tag_key IS NULL"),
        Cube::Key(_) => qb.push("tag_value IS NULL"),
        Cube::Pair(_, v) => qb.push("tag_value = ").push_bind(v.to_string()),
    };
    qb.push(
        "),
         counted AS (
             SELECT 0 AS facet, resource_type AS value, sum(resources)::int8 AS count FROM base GROUP BY 2
             UNION ALL SELECT 1, aws_account_id, sum(resources)::int8 FROM base GROUP BY 2
             UNION ALL SELECT 2, region, sum(resources)::int8 FROM base GROUP BY 2
             UNION ALL SELECT 3, tag_key, sum(resources)::int8 FROM cells
                 WHERE tag_key IS NOT NULL AND tag_value IS NULL AND ",
    );
    // Tag keys only without a tag condition: with one, which keys occur
    // together is not in the counts.
    qb.push(if matches!(cube, Cube::NoTag) {
        "true"
    } else {
        "false"
    });
    qb.push(
        " GROUP BY 2
             UNION ALL SELECT -1, '', coalesce(sum(resources), 0)::int8 FROM base
         ),
         ranked AS (
             SELECT *, row_number() OVER (PARTITION BY facet ORDER BY count DESC, value) AS n FROM counted
         )
         SELECT facet, value, count FROM ranked WHERE n <= ",
    );
    qb.push_bind(FACET_VALUES).push(" ORDER BY facet, n");
    let rows: Vec<FacetRow> = qb.build_query_as().fetch_all(tx.conn()).await?;
    let mut out = Facets {
        tag_keys_omitted: !matches!(cube, Cube::NoTag),
        ..Facets::default()
    };
    for row in rows {
        out.push(row);
    }
    Ok(out)
}

/// Facets counted from the matching resources themselves: exactly over the
/// candidates when they are all there is, otherwise over at most
/// `CANDIDATE_CAP` matches (a lower bound for each count).
async fn counted_facets(
    tx: &mut WorkspaceTx,
    query: &Query,
    source: &Source,
) -> Result<Facets, StoreError> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "WITH sample AS MATERIALIZED (
             SELECT r.resource_type, a.aws_account_id, r.region, r.tags
             FROM resources r JOIN accounts a ON a.id = r.account_id WHERE r.workspace_id = ",
    );
    qb.push_bind(tx.workspace_id());
    match source {
        Source::Ids(ids) | Source::Broad(ids) => {
            qb.push(" AND r.id = ANY(").push_bind(ids.clone()).push(")");
        }
        Source::Walk => {}
    }
    push_filters(&mut qb, query);
    qb.push(" LIMIT ").push_bind(CANDIDATE_CAP + 1);
    qb.push(
        "),
         counted AS (
             SELECT 0 AS facet, resource_type AS value, count(*) AS count FROM sample GROUP BY 2
             UNION ALL SELECT 1, aws_account_id, count(*) FROM sample GROUP BY 2
             UNION ALL SELECT 2, region, count(*) FROM sample GROUP BY 2
             UNION ALL SELECT 3, k, count(*) FROM sample, jsonb_object_keys(tags) AS k GROUP BY 2
             UNION ALL SELECT -1, '', count(*) FROM sample
         ),
         ranked AS (
             SELECT *, row_number() OVER (PARTITION BY facet ORDER BY count DESC, value) AS n FROM counted
         )
         SELECT facet, value, count FROM ranked WHERE n <= ",
    );
    qb.push_bind(FACET_VALUES).push(" ORDER BY facet, n");
    let rows: Vec<FacetRow> = qb.build_query_as().fetch_all(tx.conn()).await?;
    let mut out = Facets::default();
    for row in rows {
        out.push(row);
    }
    let seen = out.total.unwrap_or(0);
    let partial = match source {
        Source::Ids(_) => false,
        Source::Broad(_) => true,
        Source::Walk => seen > CANDIDATE_CAP,
    };
    if partial {
        out.total = None;
        out.basis = FacetBasis::LowerBounds {
            counted: seen.min(CANDIDATE_CAP),
        };
    }
    Ok(out)
}

/// One page of the explorer and the facets of everything that matches.
///
/// Facets come from the per-scan counts when they can answer the query
/// (exact, whatever the estate's size); from the candidates the GIN indexes
/// found when those are few (exact); and otherwise from the first
/// `CANDIDATE_CAP` matches, marked as lower bounds.
pub async fn explore(
    tx: &mut WorkspaceTx,
    query: &Query,
    after: Option<&ResourceCursor>,
    page_size: i64,
) -> Result<Explored, StoreError> {
    let (source, counted) = plan(tx, query).await?;
    let page = page(tx, query, &source, after, page_size).await?;
    let facets = match counted {
        Some(facets) => facets,
        None if after.is_none() && page.next.is_none() => Facets::from_rows(&page.rows),
        None => counted_facets(tx, query, &source).await?,
    };
    Ok(Explored { page, facets })
}

/// Which resources a search reads, and its facets when the per-scan counts
/// answer them. The counts also tell how many match: none (read nothing),
/// a few with a tag pair (its GIN index finds them), or many (walk the
/// keyset, where matches are dense).
async fn plan(tx: &mut WorkspaceTx, query: &Query) -> Result<(Source, Option<Facets>), StoreError> {
    if let Some(cube) = cube_for(tx, query).await? {
        let facets = cube_facets(tx, query, &cube).await?;
        let total = facets.total.unwrap_or(0);
        let source = if total == 0 {
            Source::Ids(vec![])
        } else {
            match cube {
                Cube::Pair(..) if total <= CANDIDATE_CAP => match gin_conditions(query) {
                    Some((tags, text)) => candidates(tx, tags, text).await?,
                    None => Source::Walk,
                },
                _ => Source::Walk,
            }
        };
        return Ok((source, Some(facets)));
    }
    let source = match gin_conditions(query) {
        Some((tags, text)) => candidates(tx, tags, text).await?,
        None => Source::Walk,
    };
    Ok((source, None))
}

/// One resource, with its redacted attributes.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ResourceDetail {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub row: ResourceRow,
    pub attributes: serde_json::Value,
}

pub async fn resource(tx: &mut WorkspaceTx, id: Uuid) -> Result<ResourceDetail, StoreError> {
    sqlx::query_as(
        "SELECT r.id, r.resource_type, a.aws_account_id AS account, r.region, r.name, r.arn, r.resource_id, r.tags,
                r.first_seen, r.last_seen, r.gone_at, r.account_id, r.attributes,
                (SELECT count(*) FROM findings f WHERE f.account_id = r.account_id AND f.resource_arn = r.arn
                   AND f.status = 'open')::int AS open_findings
         FROM resources r JOIN accounts a ON a.id = r.account_id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "resource",
        id: id.to_string(),
    })
}

/// One entry of a resource's history.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct HistoryEntry {
    pub scan_id: Uuid,
    pub observed_at: DateTime<Utc>,
    pub change: String,
    pub attributes: Option<serde_json::Value>,
    pub tags: Option<serde_json::Value>,
}

/// What scans saw of a resource: appeared, changed, gone, returned; newest first.
pub async fn history(
    tx: &mut WorkspaceTx,
    account_id: Uuid,
    arn: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scan_id, observed_at, change, attributes, tags FROM resource_history
         WHERE account_id = $1 AND arn = $2 ORDER BY observed_at DESC, id DESC LIMIT 200",
    )
    .bind(account_id)
    .bind(arn)
    .fetch_all(tx.conn())
    .await?)
}

/// Findings on one resource, every state, newest first.
pub async fn resource_findings(
    tx: &mut WorkspaceTx,
    account_id: Uuid,
    arn: &str,
) -> Result<Vec<crate::inbox::InboxRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM findings f JOIN accounts a ON a.id = f.account_id
         LEFT JOIN resources r ON r.account_id = f.account_id AND r.arn = f.resource_arn
         WHERE f.account_id = $1 AND f.resource_arn = $2 ORDER BY f.last_seen DESC, f.id",
        crate::inbox::INBOX_COLUMNS
    )))
    .bind(account_id)
    .bind(arn)
    .fetch_all(tx.conn())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = ResourceCursor {
            resource_type: "ec2.instance".into(),
            arn: "arn:aws:ec2:us-east-1:123456789012:instance/i-1".into(),
            account_id: Uuid::new_v4(),
        };
        assert_eq!(ResourceCursor::decode(&c.encode()).unwrap(), c);
        for bad in ["zz", "abc", "6162", &hex("a\u{1f}b\u{1f}not-a-uuid")] {
            assert!(ResourceCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
