//! The tenancy audit: SQL that touches a workspace-scoped table may appear
//! only in a function that runs on a `WorkspaceTx` (bound to one workspace
//! by `Store::begin_workspace_tx`), in the helper module itself, or in the
//! named system modules that run as the worker or the operator's CLI. The
//! server's crate holds no SQL at all and reaches the store only through
//! the helper's entry points.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Modules the server never calls: the scan workers' and the CLI's paths,
/// which run as `sightline_worker` (an explicit cross-workspace policy).
const SYSTEM_MODULES: &[(&str, &str)] = &[
    (
        "sightline-store/src/accounts.rs",
        "CLI: workspaces, accounts, organization discovery",
    ),
    (
        "sightline-store/src/scans.rs",
        "worker: writing scans and their diff",
    ),
    (
        "sightline-store/src/jobs.rs",
        "worker: the job queue across workspaces",
    ),
    (
        "sightline-store/src/audit.rs",
        "the chain itself: appends on the caller's transaction; verify reads it whole",
    ),
    (
        "sightline-store/src/tenant.rs",
        "the helper: binds transactions and looks credentials up by hash",
    ),
];

/// Modules whose SQL is console statements: over the console's views,
/// run only through `console::run`, on the console's login role, bound to
/// the asker's workspace by row-level security.
const CONSOLE_STATEMENTS: &[(&str, &str)] = &[(
    "sightline-store/src/ask.rs",
    "Ask's question library, run through console::run",
)];

/// Single functions elsewhere that are system paths too.
const SYSTEM_FUNCTIONS: &[(&str, &str, &str)] = &[(
    "sightline-store/src/keyring.rs",
    "rotate_kek",
    "CLI: re-wraps every workspace's data keys under a new key-encryption key",
)];

/// The store methods the server may call on `state.store()`.
const SERVER_ENTRY_POINTS: &[&str] = &[
    "begin_workspace_tx",
    "credential",
    // Who a sign-in is for: one user of the named (or only) workspace.
    "sign_in_target",
    "sign_in_needs_workspace",
    "ping",
    // The platform-level sign-in log: not workspace-scoped, append-only for the server.
    "record_auth_event",
];

/// Store functions the server may hand the store itself to: each opens
/// only the asker's workspace transactions (checked below), never a
/// connection of its own.
const STORE_TAKERS: &[(&str, &str)] = &[(
    "assistant::ask_in_task(",
    "sightline-store/src/assistant.rs",
)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Tables with a workspace_id column, read from the migrations, plus workspaces.
fn scoped_tables() -> BTreeSet<String> {
    let mut tables = BTreeSet::from(["workspaces".to_owned()]);
    let dir = root().join("sightline-store/migrations");
    for entry in std::fs::read_dir(dir).unwrap() {
        let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for chunk in sql.split("CREATE TABLE ").skip(1) {
            let name = chunk.split_whitespace().next().unwrap().to_owned();
            let body = chunk.split("\n);").next().unwrap();
            if body.contains("workspace_id") {
                tables.insert(name);
            }
        }
    }
    tables
}

fn touches(sql: &str, tables: &BTreeSet<String>) -> Option<String> {
    let words: Vec<String> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.windows(2).find_map(|w| {
        (["from", "into", "update", "join", "table"].contains(&w[0].as_str())
            && tables.contains(&w[1]))
        .then(|| w[1].clone())
    })
}

struct Finder<'a> {
    tables: &'a BTreeSet<String>,
    file: String,
    current: Option<(String, bool)>,
    violations: Vec<String>,
    sql_seen: usize,
}

impl Finder<'_> {
    fn check(&mut self, text: &str) {
        if let Some(table) = touches(text, self.tables) {
            self.sql_seen += 1;
            match &self.current {
                Some((_, true)) => {}
                Some((name, false))
                    if SYSTEM_FUNCTIONS
                        .iter()
                        .any(|(f, n, _)| *f == self.file && n == name) => {}
                Some((name, false)) => self.violations.push(format!(
                    "{}: fn {name} touches {table} without a WorkspaceTx",
                    self.file
                )),
                None => self.violations.push(format!(
                    "{}: SQL on {table} outside any function",
                    self.file
                )),
            }
        }
    }

    fn enter(&mut self, sig: &syn::Signature, f: impl FnOnce(&mut Self)) {
        let on_tx = sig
            .inputs
            .iter()
            .any(|input| quote_type(input).contains("WorkspaceTx"));
        let saved = self.current.replace((sig.ident.to_string(), on_tx));
        f(self);
        self.current = saved;
    }
}

fn quote_type(input: &syn::FnArg) -> String {
    match input {
        syn::FnArg::Typed(t) => {
            let mut s = String::new();
            collect_idents(&t.ty, &mut s);
            s
        }
        syn::FnArg::Receiver(r) => {
            let mut s = String::new();
            collect_idents(&r.ty, &mut s);
            s
        }
    }
}

fn collect_idents(ty: &syn::Type, out: &mut String) {
    struct Idents<'a>(&'a mut String);
    impl<'ast> Visit<'ast> for Idents<'_> {
        fn visit_ident(&mut self, i: &'ast syn::Ident) {
            self.0.push_str(&i.to_string());
            self.0.push(' ');
        }
    }
    Idents(out).visit_type(ty);
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.enter(&f.sig, |me| syn::visit::visit_item_fn(me, f));
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.enter(&f.sig, |me| syn::visit::visit_impl_item_fn(me, f));
    }
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {
        // Doc comments are prose, not SQL.
    }
    fn visit_lit_str(&mut self, s: &'ast syn::LitStr) {
        self.check(&s.value());
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // format!("SELECT … FROM …") and friends: their literals are tokens, not expressions.
        let mut stack: Vec<proc_macro2::TokenStream> = vec![m.tokens.clone()];
        while let Some(tokens) = stack.pop() {
            for tree in tokens {
                match tree {
                    proc_macro2::TokenTree::Literal(lit) => {
                        if let Ok(s) = syn::parse_str::<syn::LitStr>(&lit.to_string()) {
                            self.check(&s.value());
                        }
                    }
                    proc_macro2::TokenTree::Group(g) => stack.push(g.stream()),
                    _ => {}
                }
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sql_on_workspace_tables_runs_only_through_the_workspace_helper() {
    let tables = scoped_tables();
    for expected in [
        "accounts",
        "findings",
        "users",
        "sessions",
        "api_keys",
        "integrations",
        "audit_log",
    ] {
        assert!(
            tables.contains(expected),
            "{expected} not found among {tables:?}"
        );
    }
    let mut files = vec![];
    for krate in std::fs::read_dir(root()).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut violations = vec![];
    let mut sql_seen = 0;
    for path in &files {
        let relative = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap();
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{relative}: {e}"));
        let mut finder = Finder {
            tables: &tables,
            file: relative.clone(),
            current: None,
            violations: vec![],
            sql_seen: 0,
        };
        finder.visit_file(&ast);
        sql_seen += finder.sql_seen;
        if relative.starts_with("sightline-web/") {
            assert_eq!(
                finder.sql_seen, 0,
                "{relative}: the server crate holds SQL on a workspace table"
            );
        }
        if CONSOLE_STATEMENTS.iter().any(|(m, _)| *m == relative) {
            // Its statements are data; it runs none of its own.
            assert!(
                !text.contains("sqlx")
                    && !text.contains("PgPool")
                    && !text.contains("begin_workspace_tx"),
                "{relative}: a console-statements module runs SQL of its own"
            );
        } else if !SYSTEM_MODULES.iter().any(|(m, _)| *m == relative) {
            violations.extend(finder.violations);
        }
        if relative.starts_with("sightline-web/") {
            for (i, _) in text.match_indices("store()") {
                let method: String = text[i + "store()".len()..]
                    .trim_start()
                    .trim_start_matches('.')
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // `taker(state.store(), ...`: the store as the first argument.
                let handed_to = STORE_TAKERS.iter().find(|(call, _)| {
                    method.is_empty()
                        && text[..i]
                            .rsplit_once(call)
                            .is_some_and(|(_, between)| between.trim() == "state.")
                });
                if let Some((_, module)) = handed_to {
                    // The taker may only open workspace transactions with it.
                    let taker = std::fs::read_to_string(root().join(module)).unwrap();
                    for (j, _) in taker.match_indices("store.") {
                        let used: String = taker[j + "store.".len()..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        // A clone is the same store, moved into the question's task.
                        assert!(
                            ["begin_workspace_tx", "clone"].contains(&used.as_str()),
                            "{module}: takes the server's store and calls store.{used}"
                        );
                    }
                    continue;
                }
                assert!(
                    SERVER_ENTRY_POINTS.contains(&method.as_str()),
                    "{relative}: the server calls store().{method}, which is not a workspace-helper entry point"
                );
            }
        }
    }
    assert!(
        sql_seen > 30,
        "the audit found only {sql_seen} SQL strings: is it still reading the code?"
    );
    assert!(
        violations.is_empty(),
        "SQL outside the workspace helper:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_audit_catches_sql_outside_the_helper() {
    let tables = scoped_tables();
    let code = r#"
        pub async fn leaky(pool: &PgPool) { sqlx::query("SELECT * FROM findings").fetch_all(pool).await; }
        pub async fn also_leaky(pool: &PgPool) { sqlx::query(AssertSqlSafe(format!("DELETE FROM users WHERE id = {}", 1))); }
        pub async fn fine(tx: &mut WorkspaceTx) { sqlx::query("SELECT * FROM findings").fetch_all(tx.conn()).await; }
        pub async fn unrelated(pool: &PgPool) { sqlx::query("SELECT 1 FROM _sqlx_migrations"); }
    "#;
    let mut finder = Finder {
        tables: &tables,
        file: "example.rs".into(),
        current: None,
        violations: vec![],
        sql_seen: 0,
    };
    finder.visit_file(&syn::parse_file(code).unwrap());
    assert_eq!(
        finder.violations,
        vec![
            "example.rs: fn leaky touches findings without a WorkspaceTx".to_owned(),
            "example.rs: fn also_leaky touches users without a WorkspaceTx".to_owned(),
        ]
    );
}
