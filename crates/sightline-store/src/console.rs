//! The SQL console: one read-only `SELECT`/`WITH` over the documented
//! inventory views, defended in layers. The statement is parsed with
//! `sqlparser` and must use only the four views and allowlisted functions;
//! what runs is the re-printed parse tree, never the text as typed. It runs
//! on the console's own login role (SELECT on those views only), on a
//! connection bound to the workspace (row-level security keyed on a binding
//! the role cannot change), in a `READ ONLY` transaction, with
//! a `statement_timeout` and a row and byte cap. Saved queries live here too.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlparser::ast::{
    Expr, FunctionArguments, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor,
    Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

use crate::tenant::WorkspaceTx;
use crate::StoreError;

/// The views a console query may read (schema `inventory`).
pub const VIEWS: [&str; 4] = ["resources", "findings", "scans", "accounts"];

/// Functions a console query may call: aggregates, text, time, JSON and
/// window functions; nothing that reads files, changes settings, sleeps or
/// reaches another database.
pub const FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "string_agg",
    "array_agg",
    "jsonb_agg",
    "jsonb_object_agg",
    "lower",
    "upper",
    "length",
    "char_length",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "round",
    "floor",
    "ceil",
    "abs",
    "concat",
    "concat_ws",
    "replace",
    "split_part",
    "starts_with",
    "left",
    "right",
    "substr",
    "strpos",
    "initcap",
    "regexp_replace",
    "date_trunc",
    "date_part",
    "now",
    "age",
    "to_char",
    "to_date",
    "jsonb_array_length",
    "jsonb_extract_path_text",
    "jsonb_typeof",
    "jsonb_build_object",
    "array_length",
    "cardinality",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
    "percentile_cont",
    "percentile_disc",
    "current_date",
    "current_timestamp",
];

/// Longest statement accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 20_000;

fn refused(message: impl Into<String>) -> StoreError {
    StoreError::ConsoleRefused(message.into())
}

#[derive(Default)]
struct Allowlist {
    /// CTE names the query defines: relations it may read besides the views.
    ctes: BTreeSet<String>,
}

fn ident_parts(name: &ObjectName) -> Result<Vec<String>, StoreError> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(i) => Ok(i.value.to_lowercase()),
            ObjectNamePart::Function(_) => {
                Err(refused(format!("{name}: computed names are not allowed")))
            }
        })
        .collect()
}

impl Visitor for Allowlist {
    type Break = StoreError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<StoreError> {
        if !query.locks.is_empty() {
            return ControlFlow::Break(refused("FOR UPDATE/SHARE: the console only reads"));
        }
        if query.for_clause.is_some() || query.settings.is_some() || query.format_clause.is_some() {
            return ControlFlow::Break(refused("this query clause is not allowed"));
        }
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_lowercase();
                // Every relation of the system catalogs is named pg_*: a CTE of
                // that name, referred to outside its scope, would resolve to
                // the catalog. Other names can only resolve to the views.
                if name.starts_with("pg_") {
                    return ControlFlow::Break(refused(format!(
                        "CTE name {name}: names starting with pg_ are reserved for the system catalogs"
                    )));
                }
                self.ctes.insert(name);
            }
        }
        if let Err(e) = check_body(&query.body) {
            return ControlFlow::Break(e);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &sqlparser::ast::Select) -> ControlFlow<StoreError> {
        if select.into.is_some() {
            return ControlFlow::Break(refused(
                "SELECT INTO creates a table: the console only reads",
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<StoreError> {
        let parts = match ident_parts(relation) {
            Ok(p) => p,
            Err(e) => return ControlFlow::Break(e),
        };
        let allowed = match parts.as_slice() {
            [name] => VIEWS.contains(&name.as_str()) || self.ctes.contains(name),
            [schema, name] => schema == "inventory" && VIEWS.contains(&name.as_str()),
            _ => false,
        };
        if allowed {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(refused(format!(
                "relation {relation} is not allowed: expected one of the inventory views {}",
                VIEWS.join(", ")
            )))
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<StoreError> {
        match factor {
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. } => ControlFlow::Continue(()),
            TableFactor::Table { name, .. } => ControlFlow::Break(refused(format!(
                "{name}(...) in FROM: table functions are not allowed"
            ))),
            other => ControlFlow::Break(refused(format!(
                "{other}: only the inventory views, subqueries and joins may appear in FROM"
            ))),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<StoreError> {
        if let Expr::Function(f) = expr {
            let parts = match ident_parts(&f.name) {
                Ok(p) => p,
                Err(e) => return ControlFlow::Break(e),
            };
            let ok = matches!(parts.as_slice(), [name] if FUNCTIONS.contains(&name.as_str()));
            if !ok {
                return ControlFlow::Break(refused(format!(
                    "function {} is not allowed: the console allows aggregates, text, time and JSON functions only",
                    f.name
                )));
            }
            if let FunctionArguments::Subquery(_) = f.args {
                return ControlFlow::Break(refused(format!(
                    "{}: a subquery as the argument list is not allowed",
                    f.name
                )));
            }
        }
        ControlFlow::Continue(())
    }
}

fn check_body(body: &SetExpr) -> Result<(), StoreError> {
    match body {
        SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => Ok(()),
        SetExpr::SetOperation { left, right, .. } => {
            check_body(left)?;
            check_body(right)
        }
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => Err(
            refused("a data-modifying statement inside the query: the console only reads"),
        ),
        SetExpr::Table(_) => Err(refused("TABLE x: write SELECT * FROM x instead")),
    }
}

/// Check one statement against the allowlist; the SQL to run, re-printed
/// from its parse tree (comments and anything the parser dropped are gone).
pub fn validate(sql: &str) -> Result<String, StoreError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(refused(format!(
            "the statement is too long: expected at most {MAX_SQL_BYTES} bytes, found {}",
            sql.len()
        )));
    }
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| refused(format!("cannot parse the statement: {e}")))?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => return Err(refused("no statement: expected one SELECT or WITH query")),
        many => {
            return Err(refused(format!(
                "{} statements: expected exactly one SELECT or WITH query",
                many.len()
            )))
        }
    };
    let Statement::Query(_) = statement else {
        let kind = statement.to_string();
        let first = kind.split_whitespace().next().unwrap_or("").to_uppercase();
        return Err(refused(format!(
            "{first} is not allowed: expected one SELECT or WITH query"
        )));
    };
    let mut allowlist = Allowlist::default();
    // CTE names first, so a query may refer to a CTE defined after its use site in the tree walk.
    let _ = statement.visit(&mut CteNames(&mut allowlist.ctes));
    if let ControlFlow::Break(e) = statement.visit(&mut allowlist) {
        return Err(e);
    }
    Ok(statement.to_string())
}

struct CteNames<'a>(&'a mut BTreeSet<String>);

impl Visitor for CteNames<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.0.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// How far a console query may go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub statement_timeout: Duration,
    pub max_rows: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            statement_timeout: Duration::from_secs(3),
            max_rows: 1000,
            max_bytes: 4 << 20,
        }
    }
}

/// A console result: column names, rows as text (NULL as `None`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Set when the row or byte cap cut the result.
    pub truncated: Option<String>,
    pub sql: String,
}

/// Connections that log in as `sightline_console` (SELECT on the inventory
/// views, nothing else), and the application's store that binds each one to
/// a workspace for one statement.
#[derive(Debug, Clone)]
pub struct ConsolePool {
    pub pool: PgPool,
    binder: Option<crate::Store>,
}

impl ConsolePool {
    /// Bind console connections through `store` (the application role).
    pub fn with_binder(mut self, store: crate::Store) -> Self {
        self.binder = Some(store);
        self
    }

    /// A small pool; connections are made when first needed.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(url)
            .map_err(|e| StoreError::Unreachable {
                url: crate::redact_url(url),
                detail: e.to_string(),
            })?;
        Ok(Self { pool, binder: None })
    }
}

/// Validate and run one console statement for `workspace_id` on the
/// console's pool. The connection is bound to the workspace (by the binder,
/// in that workspace's transaction) for exactly this statement; the binding
/// names the connection by backend pid and start time, so a recycled pid
/// never inherits it, and is removed even when the request is cancelled.
pub async fn run(
    console: &ConsolePool,
    workspace_id: Uuid,
    sql: &str,
    limits: Limits,
) -> Result<ResultSet, StoreError> {
    let checked = validate(sql)?;
    let store = console.binder.as_ref().ok_or_else(|| {
        refused("the console has no binder: build it with ConsolePool::with_binder")
    })?;
    let mut conn = console.pool.acquire().await?;
    let (pid, started, replica): (i32, DateTime<Utc>, bool) = sqlx::query_as(
        "SELECT pid, backend_start, pg_is_in_recovery() FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    .fetch_one(&mut *conn)
    .await?;
    if replica {
        // A binding written on the writer reaches a replica late: never bind there.
        return Err(refused(
            "the console's database is a read replica: point SIGHTLINE_CONSOLE_DATABASE_URL at the writer",
        ));
    }
    let mut tx = store.begin_workspace_tx(workspace_id).await?;
    bind(&mut tx, pid, started).await?;
    tx.commit().await?;
    let guard = Unbind {
        store: Some(store.clone()),
        workspace_id,
        pid,
    };
    let outcome = run_bound(&mut conn, &checked, limits).await;
    guard.now().await?;
    outcome
}

/// Removes a binding when dropped, so that a cancelled request (client gone,
/// request timeout) leaves none behind.
struct Unbind {
    store: Option<crate::Store>,
    workspace_id: Uuid,
    pid: i32,
}

impl Unbind {
    async fn now(mut self) -> Result<(), StoreError> {
        let store = self.store.take().expect("unbound once");
        unbind_on(&store, self.workspace_id, self.pid).await
    }
}

impl Drop for Unbind {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let (workspace_id, pid) = (self.workspace_id, self.pid);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Err(e) = unbind_on(&store, workspace_id, pid).await {
                        tracing::warn!(pid, error = %e, "console binding not removed");
                    }
                });
            }
        }
    }
}

async fn unbind_on(store: &crate::Store, workspace_id: Uuid, pid: i32) -> Result<(), StoreError> {
    let mut tx = store.begin_workspace_tx(workspace_id).await?;
    unbind(&mut tx, pid).await?;
    tx.commit().await
}

/// Let the console connection (`pid`, started at `started`) read this
/// transaction's workspace; replaces whatever binding that pid had, whichever
/// workspace it was (through a function that checks the workspace is this
/// transaction's own).
pub async fn bind(
    tx: &mut WorkspaceTx,
    pid: i32,
    started: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT bind_console($1, $2, $3)")
        .bind(pid)
        .bind(started)
        .bind(tx.workspace_id())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn unbind(tx: &mut WorkspaceTx, pid: i32) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_bindings WHERE pid = $1")
        .bind(pid)
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn run_bound(
    conn: &mut sqlx::PgConnection,
    checked: &str,
    limits: Limits,
) -> Result<ResultSet, StoreError> {
    use sqlx::Connection;
    let mut tx = conn.begin_with("BEGIN READ ONLY").await?;
    let timeout_ms = limits.statement_timeout.as_millis().max(1);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL statement_timeout = {timeout_ms}"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query("SET LOCAL search_path = inventory")
        .execute(&mut *tx)
        .await?;
    // Each row as its column names and text values, in column order. A row
    // larger than the byte cap is refused by the database itself, so a
    // single huge row (a string_agg over everything) never reaches us.
    let wrapped = format!(
        "SELECT (SELECT array_agg(e.key ORDER BY e.n) FROM json_each_text(row_to_json(q)) WITH ORDINALITY AS e(key, value, n)) AS k,
                (SELECT array_agg(e.value ORDER BY e.n) FROM json_each_text(row_to_json(q)) WITH ORDINALITY AS e(key, value, n)) AS v
         FROM ({checked}) AS q
         WHERE public.console_row_fits(octet_length(row_to_json(q)::text), {}) LIMIT {}",
        limits.max_bytes,
        limits.max_rows + 1
    );
    let mut out = ResultSet {
        sql: checked.to_owned(),
        ..ResultSet::default()
    };
    let mut bytes = 0usize;
    {
        use futures::TryStreamExt;
        // Streamed, so that the caps stop reading rather than trim what was read.
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(wrapped)).fetch(&mut *tx);
        let mut i = 0usize;
        while let Some(row) = rows.try_next().await.map_err(|e| explain(&e, limits))? {
            if i == limits.max_rows {
                out.truncated = Some(format!(
                    "only the first {} rows are shown: add a LIMIT or narrow the query",
                    limits.max_rows
                ));
                break;
            }
            let keys: Option<Vec<String>> = row.try_get("k")?;
            let values: Option<Vec<Option<String>>> = row.try_get("v")?;
            if i == 0 {
                out.columns = keys.unwrap_or_default();
            }
            let values = values.unwrap_or_default();
            bytes += values.iter().flatten().map(String::len).sum::<usize>();
            if bytes > limits.max_bytes {
                out.truncated = Some(format!(
                    "the result passed {} KiB after {i} rows: only those are shown; select fewer columns or rows",
                    limits.max_bytes / 1024
                ));
                break;
            }
            out.rows.push(values);
            i += 1;
        }
    }
    tx.rollback().await?;
    Ok(out)
}

fn explain(e: &sqlx::Error, limits: Limits) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.code().as_deref() == Some("57014") => refused(format!(
            "the query ran past the {} ms limit and was cancelled",
            limits.statement_timeout.as_millis()
        )),
        // Raised by console_row_fits.
        Some(db) if db.code().as_deref() == Some("54000") => refused(format!(
            "a single result row is larger than {} KiB: select fewer or smaller columns",
            limits.max_bytes / 1024
        )),
        Some(db) => StoreError::ConsoleFailed {
            sqlstate: db.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: db.message().to_owned(),
        },
        None => refused(format!("the query failed: {e}")),
    }
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SavedQuery {
    pub id: Uuid,
    pub name: String,
    pub sql: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

pub async fn saved_queries(tx: &mut WorkspaceTx) -> Result<Vec<SavedQuery>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, sql, created_by, created_at FROM saved_queries ORDER BY name",
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Save a query under a name; the statement must pass the allowlist.
pub async fn save_query(
    tx: &mut WorkspaceTx,
    name: &str,
    sql: &str,
    actor: &str,
) -> Result<SavedQuery, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(StoreError::InvalidInput {
            field: "name",
            expected: "1 to 200 characters".into(),
            found: name.chars().take(40).collect(),
        });
    }
    validate(sql)?;
    sqlx::query_as(
        "INSERT INTO saved_queries (workspace_id, name, sql, created_by) VALUES ($1, $2, $3, $4)
         RETURNING id, name, sql, created_by, created_at",
    )
    .bind(tx.workspace_id())
    .bind(name)
    .bind(sql)
    .bind(actor)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| {
        if crate::error::unique_violation(&e).is_some() {
            StoreError::Conflict {
                what: "saved query",
                detail: format!("a query named {name:?} exists already"),
            }
        } else {
            e.into()
        }
    })
}

pub async fn delete_saved_query(tx: &mut WorkspaceTx, id: Uuid) -> Result<SavedQuery, StoreError> {
    sqlx::query_as(
        "DELETE FROM saved_queries WHERE id = $1 RETURNING id, name, sql, created_by, created_at",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "saved query",
        id: id.to_string(),
    })
}
