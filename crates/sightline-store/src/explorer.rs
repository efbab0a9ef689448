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

/// Add the WHERE conditions of a parsed query (after a leading `WHERE true`).
fn push_filters(qb: &mut QueryBuilder<Postgres>, query: &Query) {
    let column = |field: Field| match field {
        Field::Type => "r.resource_type",
        Field::Region => "r.region",
        Field::Account => "a.aws_account_id",
        Field::Name => "r.name",
        _ => "r.attributes->>'state'",
    };
    for field in [
        Field::Type,
        Field::Region,
        Field::Account,
        Field::State,
        Field::Name,
    ] {
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
                qb.push(column(field))
                    .push(" LIKE ")
                    .push_bind(format!("{}%", like_escape(&t.value)));
            } else if field == Field::Name {
                qb.push(column(field))
                    .push(" ILIKE ")
                    .push_bind(like_escape(&t.value));
            } else {
                qb.push(column(field))
                    .push(" = ")
                    .push_bind(t.value.clone());
            }
        }
        qb.push(")");
    }
    for t in query.on(Field::Tag) {
        let mut object = serde_json::Map::new();
        match &t.tag_value {
            Some(v) => {
                object.insert(t.value.clone(), serde_json::Value::String(v.clone()));
                qb.push(" AND r.tags @> ")
                    .push_bind(serde_json::Value::Object(object));
            }
            None => {
                qb.push(" AND r.tags ? ").push_bind(t.value.clone());
            }
        }
    }
    for t in query.on(Field::Text) {
        // One pattern over the three texts. (Under row-level security the planner
        // may not use an index for ILIKE, which is not leakproof: see docs/benchmarks.md.)
        qb.push(" AND (coalesce(r.name, '') || ' ' || r.resource_id || ' ' || r.arn) ILIKE ")
            .push_bind(format!("%{}%", like_escape(&t.value)));
    }
}

/// Rows per explorer page.
pub const PAGE_SIZE: i64 = 50;

/// One page of resources matching `query`, in (type, ARN, account) order.
pub async fn search(
    tx: &mut WorkspaceTx,
    query: &Query,
    after: Option<&ResourceCursor>,
    page_size: i64,
) -> Result<ResourcePage, StoreError> {
    let workspace_id = tx.workspace_id();
    // Free text cannot use an index under row-level security (ILIKE is not
    // leakproof), and walking the keyset index to find a rare match reads the
    // table in random order: match first with a plain scan, then sort.
    let text = query.on(Field::Text).next().is_some();
    let mut qb = QueryBuilder::<Postgres>::new(if text {
        "WITH matched AS MATERIALIZED (SELECT r.* FROM resources r JOIN accounts a ON a.id = r.account_id WHERE r.workspace_id = "
    } else {
        "WITH matched AS (SELECT r.* FROM resources r JOIN accounts a ON a.id = r.account_id WHERE r.workspace_id = "
    });
    qb.push_bind(workspace_id);
    push_filters(&mut qb, query);
    qb.push(
        ")
         SELECT r.id, r.resource_type, a.aws_account_id AS account, r.region, r.name, r.arn, r.resource_id, r.tags,
                r.first_seen, r.last_seen, r.gone_at, r.account_id,
                (SELECT count(*) FROM findings f WHERE f.account_id = r.account_id AND f.resource_arn = r.arn
                   AND f.status = 'open')::int AS open_findings
         FROM matched r JOIN accounts a ON a.id = r.account_id WHERE true",
    );
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub types: Vec<FacetCount>,
    pub accounts: Vec<FacetCount>,
    pub regions: Vec<FacetCount>,
    pub tag_keys: Vec<FacetCount>,
    /// The counts cover only the first `FACET_SAMPLE` matches (there are more).
    pub sampled: bool,
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
            list.truncate(30);
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
            sampled: false,
        }
    }
}

/// Facets count at most this many matching resources, so that a broad
/// query over a million resources still answers quickly.
pub const FACET_SAMPLE: i64 = 20_000;

#[derive(FromRow)]
struct FacetRow {
    facet: i32,
    value: String,
    count: i64,
}

/// Counts by type, account, region and tag key over the resources matching
/// `query` (top 30 of each), from one pass over at most `FACET_SAMPLE` of them.
pub async fn facets(tx: &mut WorkspaceTx, query: &Query) -> Result<Facets, StoreError> {
    let workspace_id = tx.workspace_id();
    let mut qb = QueryBuilder::<Postgres>::new(
        "WITH sample AS MATERIALIZED (
             SELECT r.resource_type, a.aws_account_id, r.region, r.tags
             FROM resources r JOIN accounts a ON a.id = r.account_id WHERE r.workspace_id = ",
    );
    qb.push_bind(workspace_id);
    push_filters(&mut qb, query);
    qb.push(" LIMIT ").push_bind(FACET_SAMPLE + 1);
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
         SELECT facet, value, count FROM ranked WHERE n <= 30 ORDER BY facet, n",
    );
    let rows: Vec<FacetRow> = qb.build_query_as().fetch_all(tx.conn()).await?;
    let mut out = Facets::default();
    for row in rows {
        let count = FacetCount {
            value: row.value,
            count: row.count,
        };
        match row.facet {
            -1 => out.sampled = count.count > FACET_SAMPLE,
            0 => out.types.push(count),
            1 => out.accounts.push(count),
            2 => out.regions.push(count),
            _ => out.tag_keys.push(count),
        }
    }
    Ok(out)
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
