//! A real PostgreSQL database per test (created by `#[sqlx::test]`), the
//! server connected to it as `sightline_app`, and two workspaces of users
//! with every role, so that tests drive the real router in-process.

#![allow(dead_code)]

pub mod alb;
pub mod live;
pub mod llm_double;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use sightline_core::roles::Role;
use sightline_crypto::KeyEncryptionKey;
use sightline_store::credentials::{self, NewApiKey, SessionOrigin};
use sightline_store::{identity, Store};
use sightline_web::auth::{password, tokens};
use sightline_web::{app, AppState, Config, Limits};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";
pub const KEK_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A signed-in user: the session cookie and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub email: String,
    pub token: String,
    pub csrf: String,
}

/// One workspace's fixtures: a session per role and an object of every kind.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub sessions: Vec<(Role, Session)>,
    pub account_id: Uuid,
    pub scan_id: Uuid,
    pub finding_id: Uuid,
    pub api_key_id: Uuid,
    pub target_user_id: Uuid,
    pub integration: String,
    pub resource_id: Uuid,
    pub decision_id: Uuid,
    pub saved_query_id: Uuid,
    /// An Ask session of the workspace's owner, with one stored question.
    pub ask_session_id: Uuid,
    /// The target user's session (another user's session, for every caller).
    pub target_session_id: Uuid,
    /// An API key per role (their secrets).
    pub keys: Vec<(Role, String)>,
}

impl Workspace {
    pub fn key(&self, role: Role) -> &str {
        &self
            .keys
            .iter()
            .find(|(r, _)| *r == role)
            .expect("a key per role")
            .1
    }

    pub fn session(&self, role: Role) -> &Session {
        &self
            .sessions
            .iter()
            .find(|(r, _)| *r == role)
            .expect("a session per role")
            .1
    }
}

pub struct Server {
    pub admin: PgPool,
    pub app_url: String,
    pub router: Router,
    pub state: AppState,
}

/// A URL for the same database as `pool`, logging in as `user`.
pub async fn url_as(pool: &PgPool, user: &str) -> String {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by make test");
    let rest = base.split_once("://").unwrap().1;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split('/').next().unwrap();
    format!("postgres://{user}@{host}/{db}")
}

pub fn kek() -> KeyEncryptionKey {
    KeyEncryptionKey::from_hex("kek-1", KEK_HEX).unwrap()
}

pub fn generous_limits() -> Limits {
    Limits {
        per_ip_per_minute: 100_000,
        per_principal_per_minute: 100_000,
        logins_per_ip_per_minute: 100_000,
        ..Limits::default()
    }
}

pub async fn server(admin: PgPool, mut config: Config) -> Server {
    let app_url = url_as(&admin, "sightline_app").await;
    if config.console.is_none() {
        let console_url = url_as(&admin, "sightline_console").await;
        config.console =
            Some(sightline_store::console::ConsolePool::connect_lazy(&console_url).unwrap());
    }
    // Every test server has a read replica: the same database under a
    // second URL whose transactions are read-only, so any read page that
    // wrote would fail in every test that visits it.
    if config.reader.is_none() {
        config.reader = Some(Store::connect_reader(&app_url).unwrap());
    }
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&app_url)
        .await
        .unwrap();
    let state = AppState::new(Store { pool }, config);
    Server {
        admin,
        app_url,
        router: app(state.clone()),
        state,
    }
}

pub fn config() -> Config {
    Config {
        kek: kek(),
        oidc: None,
        oidc_workspace: None,
        allowed_origins: vec!["https://sightline.example.com".parse().unwrap()],
        trust_forwarded_for: false,
        trusted_proxies: vec![],
        limits: generous_limits(),
        console: None,
        ask: None,
        reader: None,
    }
}

/// The response of one request: status, headers and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth<'a> {
    None,
    Session(&'a Session),
    /// The session cookie, with this CSRF header (and the real CSRF cookie).
    SessionCsrf(&'a Session, Option<&'a str>),
    Key(&'a str),
    /// Behind the ALB: the OIDC assertion, and the ALB user's CSRF token.
    Alb {
        token: &'a str,
        csrf: Option<&'a str>,
    },
}

pub struct Call<'a> {
    pub method: Method,
    pub uri: String,
    pub auth: Auth<'a>,
    pub body: Option<Value>,
    pub ip: [u8; 4],
    pub headers: Vec<(&'static str, String)>,
    /// A URL-encoded form body (the web UI's forms), instead of JSON.
    pub form: Option<String>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, uri: impl Into<String>, auth: Auth<'a>) -> Self {
        Self {
            method,
            uri: uri.into(),
            auth,
            body: None,
            ip: [127, 0, 0, 1],
            headers: vec![],
            form: None,
        }
    }

    pub fn form(mut self, form: impl Into<String>) -> Self {
        self.form = Some(form.into());
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn ip(mut self, ip: [u8; 4]) -> Self {
        self.ip = ip;
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl Server {
    pub async fn send(&self, call: Call<'_>) -> Reply {
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(&call.uri);
        match &call.auth {
            Auth::None => {}
            Auth::Session(s) => {
                builder = builder
                    .header(
                        header::COOKIE,
                        format!("__Host-sl_session={}; __Host-sl_csrf={}", s.token, s.csrf),
                    )
                    .header("x-csrf-token", &s.csrf);
            }
            Auth::SessionCsrf(s, csrf) => {
                builder = builder.header(
                    header::COOKIE,
                    format!("__Host-sl_session={}; __Host-sl_csrf={}", s.token, s.csrf),
                );
                if let Some(c) = csrf {
                    builder = builder.header("x-csrf-token", *c);
                }
            }
            Auth::Key(k) => builder = builder.header(header::AUTHORIZATION, format!("Bearer {k}")),
            Auth::Alb { token, csrf } => {
                builder = builder.header("x-amzn-oidc-data", *token);
                if let Some(c) = csrf {
                    builder = builder
                        .header(header::COOKIE, format!("__Host-sl_csrf={c}"))
                        .header("x-csrf-token", *c);
                }
            }
        }
        for (name, value) in &call.headers {
            builder = builder.header(*name, value);
        }
        let body = match (&call.body, &call.form) {
            (_, Some(form)) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form.clone())
            }
            (Some(v), None) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            (None, None) => Body::empty(),
        };
        let mut request = builder.body(body).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((call.ip, 40000))));
        self.raw(request).await
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// Sign in through the API; the session from its cookies. Without a
    /// `workspace` in `extra`, the sign-in names the one workspace `email`
    /// belongs to (as a user would); `"workspace": null` names none.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        extra: Value,
    ) -> Result<Session, Reply> {
        let mut body = serde_json::json!({ "email": email, "password": password });
        if extra.get("workspace").is_none() {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT w.name FROM users u JOIN workspaces w ON w.id = u.workspace_id WHERE u.email = $1",
            )
            .bind(email.trim().to_lowercase())
            .fetch_all(&self.admin)
            .await
            .unwrap();
            if let [name] = names.as_slice() {
                body["workspace"] = name.as_str().into();
            }
        }
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let reply = self
            .send(Call::new(Method::POST, "/api/v1/session", Auth::None).body(body))
            .await;
        if reply.status != StatusCode::OK {
            return Err(reply);
        }
        assert_eq!(
            reply.json()["csrf_token"],
            session_from(&reply, email).csrf.as_str()
        );
        Ok(session_from(&reply, email))
    }

    /// A user with a known password and, without going through sign-in, a session.
    pub async fn user_with_session(&self, workspace: Uuid, email: &str, role: Role) -> Session {
        let hash = password_hash();
        let mut tx = self.store().begin_workspace_tx(workspace).await.unwrap();
        let user = identity::create_user(&mut tx, email, role.as_str(), Some(&hash), false)
            .await
            .unwrap();
        let token = tokens::random_token(32).unwrap();
        let session_id = credentials::create_session(
            &mut tx,
            user.id,
            &tokens::sha256_hex(&token),
            &SessionOrigin::default(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let csrf = tokens::csrf_token(self.state.csrf_key(), &session_id.to_string()).unwrap();
        Session {
            user_id: user.id,
            email: email.to_owned(),
            token,
            csrf,
        }
    }

    /// Another session of `session`'s user (for routes that end the one they run in).
    pub async fn fresh_session(&self, workspace: Uuid, session: &Session) -> Session {
        let user_id: Uuid =
            sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND workspace_id = $2")
                .bind(&session.email)
                .bind(workspace)
                .fetch_one(&self.admin)
                .await
                .unwrap();
        let token = tokens::random_token(32).unwrap();
        let mut tx = self.store().begin_workspace_tx(workspace).await.unwrap();
        let session_id = credentials::create_session(
            &mut tx,
            user_id,
            &tokens::sha256_hex(&token),
            &SessionOrigin::default(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let csrf = tokens::csrf_token(self.state.csrf_key(), &session_id.to_string()).unwrap();
        Session {
            user_id,
            email: session.email.clone(),
            token,
            csrf,
        }
    }

    /// A workspace with a session per role and one object of every kind.
    pub async fn workspace(&self, name: &str) -> Workspace {
        let admin = Store {
            pool: self.admin.clone(),
        };
        let ws = admin
            .create_workspace(name, &format!("ext-{name}"))
            .await
            .unwrap();
        let mut sessions = vec![];
        for role in Role::ALL {
            let email = format!("{role}@{name}.example.com");
            sessions.push((role, self.user_with_session(ws.id, &email, role).await));
        }
        let target = self
            .user_with_session(ws.id, &format!("target@{name}.example.com"), Role::Viewer)
            .await;
        let account_number = if name == "alpha" {
            "111111111111"
        } else {
            "222222222222"
        };
        let mut tx = self.store().begin_workspace_tx(ws.id).await.unwrap();
        let account = sightline_store::views::add_account(
            &mut tx,
            &sightline_store::accounts::NewAccount {
                aws_account_id: account_number.into(),
                name: Some(format!("{name} production")),
                role_arn: Some(format!(
                    "arn:aws:iam::{account_number}:role/SightlineMonitoring"
                )),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let key = credentials::create_api_key(
            &mut tx,
            &NewApiKey {
                name: "ci",
                prefix: "slk_fixture",
                key_sha256: &tokens::sha256_hex(&format!("slk_fixture_{name}")),
                role: "viewer",
                created_by: None,
                expires_at: None,
            },
        )
        .await
        .unwrap();
        // A key per role, for walking the routes as API-key principals.
        let mut keys = vec![];
        for role in Role::ALL {
            let secret = format!("slk_{role}_{name}_{}", Uuid::new_v4().simple());
            credentials::create_api_key(
                &mut tx,
                &NewApiKey {
                    name: role.as_str(),
                    prefix: &secret[..12],
                    key_sha256: &tokens::sha256_hex(&secret),
                    role: role.as_str(),
                    created_by: None,
                    expires_at: None,
                },
            )
            .await
            .unwrap();
            keys.push((role, secret));
        }
        sightline_store::keyring::put_integration(
            &mut tx,
            &kek(),
            "slack",
            &format!("xoxb-{name}-secret"),
        )
        .await
        .unwrap();
        let saved = sightline_store::console::save_query(
            &mut tx,
            &format!("{name} resources"),
            "SELECT type, count(*) FROM resources GROUP BY type",
            "user:fixture",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // Scans and findings are the worker's to write: seeded as the admin.
        let scan_id: Uuid = sqlx::query_scalar(
            "INSERT INTO scans (workspace_id, account_id, status, finished_at) VALUES ($1, $2, 'succeeded', now()) RETURNING id",
        )
        .bind(ws.id)
        .bind(account.id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        let finding_id: Uuid = sqlx::query_scalar(
            "INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity,
                                   category, title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
             VALUES ($1, $2, 'ec2.unattached_volume', $3, 'ec2.volume', 'vol-1', 'us-east-1', 'low', 'cost', 'Unattached volume',
                     'vol-1 is unattached', '{}', repeat('a', 64), 'open', now(), now(), $4) RETURNING id",
        )
        .bind(ws.id)
        .bind(account.id)
        .bind(format!("arn:aws:ec2:us-east-1:{account_number}:volume/vol-{name}"))
        .bind(scan_id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        let resource_id: Uuid = sqlx::query_scalar(
            "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name, tags, attributes,
                                    first_seen, last_seen, last_scan_id)
             VALUES ($1, $2, $3, 'ec2.volume', $4, 'us-east-1', $5, $6, '{\"state\": \"available\"}', now(), now(), $7) RETURNING id",
        )
        .bind(ws.id)
        .bind(account.id)
        .bind(format!("arn:aws:ec2:us-east-1:{account_number}:volume/vol-{name}"))
        .bind(format!("vol-{name}"))
        .bind(format!("{name}-data"))
        .bind(serde_json::json!({ "env": name }))
        .bind(scan_id)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        // The summaries a saved scan writes (the explorer's facets, the overview).
        sqlx::query("SELECT refresh_resource_facets($1), record_scan_open_counts($2)")
            .bind(account.id)
            .bind(scan_id)
            .execute(&self.admin)
            .await
            .unwrap();
        // An approval with its plan, made through the store as a user would.
        let mut tx = self.store().begin_workspace_tx(ws.id).await.unwrap();
        let decision = sightline_store::inbox::approve(
            &mut tx,
            finding_id,
            &"a".repeat(64),
            "user:fixture",
            |_| format!("#!/usr/bin/env bash\n# plan of {name}\n"),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // An Ask session, as a model question with storage on leaves it.
        let ask_session_id: Uuid = sqlx::query_scalar(
            "INSERT INTO ask_sessions (workspace_id, owner, title) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(ws.id)
        .bind(format!("user:owner@{name}.example.com"))
        .bind(format!("ask-session-of-{name}"))
        .fetch_one(&self.admin)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO ask_questions (workspace_id, session_id, asked_by, question, status, answer, provider, model, data_policy)
             VALUES ($1, $2, $3, $4, 'answered', $5, 'openai', 'm', 'schema-only')",
        )
        .bind(ws.id)
        .bind(ask_session_id)
        .bind(format!("user:owner@{name}.example.com"))
        .bind(format!("ask-question-of-{name}"))
        .bind(format!("ask-answer-of-{name}"))
        .execute(&self.admin)
        .await
        .unwrap();
        let target_session_id: Uuid =
            sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1")
                .bind(target.user_id)
                .fetch_one(&self.admin)
                .await
                .unwrap();
        Workspace {
            ask_session_id,
            target_session_id,
            keys,
            resource_id,
            decision_id: decision.id,
            saved_query_id: saved.id,
            id: ws.id,
            name: name.to_owned(),
            sessions,
            account_id: account.id,
            scan_id,
            finding_id,
            api_key_id: key.id,
            target_user_id: target.user_id,
            integration: "slack".into(),
        }
    }
}

/// The session a reply's cookies open (a sign-in, a password change).
pub fn session_from(reply: &Reply, email: &str) -> Session {
    let cookie = |name: &str| {
        reply
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix(&format!("{name}="))
                    .map(|rest| rest.split(';').next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", reply.headers))
    };
    Session {
        user_id: Uuid::nil(),
        email: email.to_owned(),
        token: cookie("__Host-sl_session"),
        csrf: cookie("__Host-sl_csrf"),
    }
}

/// One Argon2id hash of `PASSWORD`, computed once per test binary.
pub fn password_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash(PASSWORD).unwrap())
        .clone()
}

/// A route's path with its parameters (and required query) filled from `ws`.
pub fn concrete(path: &str, ws: &Workspace) -> String {
    let section = path.trim_start_matches("/api/v1");
    let id = if section.starts_with("/accounts") {
        ws.account_id
    } else if section.starts_with("/scans") {
        ws.scan_id
    } else if section.starts_with("/findings") {
        ws.finding_id
    } else if section.starts_with("/users") || section.starts_with("/members") {
        ws.target_user_id
    } else if section.starts_with("/me/sessions") || section.starts_with("/settings/sessions") {
        ws.target_session_id
    } else if section.starts_with("/api-keys") {
        ws.api_key_id
    } else if section.starts_with("/resources") {
        ws.resource_id
    } else if section.starts_with("/decisions") {
        ws.decision_id
    } else if section.starts_with("/console/saved") {
        ws.saved_query_id
    } else if section.starts_with("/ask/sessions") {
        ws.ask_session_id
    } else {
        Uuid::nil()
    };
    let name = if path.starts_with("/static/") {
        "app.css"
    } else {
        ws.integration.as_str()
    };
    let mut uri = path
        .replace("{id}", &id.to_string())
        .replace("{name}", name);
    if section == "/scans/diff" {
        uri.push_str(&format!("?from={}&to={}", ws.scan_id, ws.scan_id));
    }
    uri
}

/// A valid URL-encoded form for each page route that takes one; ids in it
/// are `ws`'s.
pub fn form_for(method: &str, path: &str, ws: &Workspace) -> Option<String> {
    let evidence = "a".repeat(64);
    let pairs: Vec<(&str, String)> = match (method, path) {
        ("POST", "/login") => vec![
            ("workspace", ws.name.clone()),
            ("email", format!("viewer@{}.example.com", ws.name)),
            ("password", PASSWORD.into()),
        ],
        ("POST", "/password") => vec![
            ("current_password", PASSWORD.into()),
            ("new_password", PASSWORD.into()),
        ],
        ("POST", "/console") | ("POST", "/console/export.csv") => {
            vec![(
                "sql",
                "SELECT arn, account, name, tags FROM resources".into(),
            )]
        }
        ("POST", "/ask") => vec![("question", "which resources have no owner tag".into())],
        ("POST", "/console/saved") => vec![
            ("name", format!("matrix {}", Uuid::new_v4())),
            ("sql", "SELECT arn FROM resources".into()),
        ],
        ("POST", "/findings/bulk") => vec![
            ("finding_id", ws.finding_id.to_string()),
            ("action", "dismiss".into()),
            ("reason", "accepted risk".into()),
        ],
        ("POST", "/findings/{id}/approve") => vec![("evidence_sha256", evidence)],
        ("POST", "/findings/{id}/dismiss") => vec![("reason", "accepted risk".into())],
        ("POST", "/findings/{id}/snooze") => vec![("until", "2099-01-01".into())],
        ("POST", "/accounts") => vec![
            ("aws_account_id", "333333333333".into()),
            (
                "role_arn",
                "arn:aws:iam::333333333333:role/SightlineMonitoring".into(),
            ),
        ],
        ("POST", "/settings/two-factor/begin")
        | ("POST", "/settings/two-factor/recovery-codes") => {
            vec![("current_password", PASSWORD.into())]
        }
        ("POST", "/settings/two-factor/confirm") => vec![("code", "000000".into())],
        ("POST", "/settings/two-factor/disable") => vec![
            ("current_password", PASSWORD.into()),
            ("code", "000000".into()),
        ],
        ("POST", "/members") => vec![
            ("email", format!("new-{}@example.com", Uuid::new_v4())),
            ("role", "viewer".into()),
        ],
        ("POST", "/members/{id}/role") => vec![("role", "viewer".into())],
        ("POST", "/api-keys") => vec![
            ("name", "matrix".into()),
            ("role", "viewer".into()),
            ("expires_in_days", "30".into()),
        ],
        ("POST", "/integrations") => vec![
            ("name", "jira".into()),
            ("credential", "jira-secret".into()),
        ],
        ("POST", _) => vec![],
        _ => return None,
    };
    Some(form_urlencoded_pairs(&pairs))
}

fn form_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                            (b as char).to_string()
                        }
                        b' ' => "+".into(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Routes that end the session they run in (sign-out, a password change,
/// which rotates it): walked with a fresh session of the same user.
pub fn ends_session(route: &sightline_web::routes::Route) -> bool {
    matches!(
        (route.method, route.path),
        ("DELETE", "/api/v1/session")
            | ("POST", "/logout")
            | ("POST", "/api/v1/me/password")
            | ("POST", "/password")
    )
}

/// A request for a route of the table as `auth`, with its body or form.
pub fn call_for<'a>(
    route: &sightline_web::routes::Route,
    uri: String,
    auth: Auth<'a>,
    forms: &Workspace,
) -> Call<'a> {
    let method: Method = route.method.parse().unwrap();
    let mut call = Call::new(method, uri, auth);
    if sightline_web::routes::is_page(route.path) {
        if let Some(form) = form_for(route.method, route.path, forms) {
            call = call.form(form);
        }
    } else if let Some(body) = body_for(route.method, route.path) {
        call = call.body(body);
    }
    call
}

/// A valid body for each route that takes one.
pub fn body_for(method: &str, path: &str) -> Option<Value> {
    use serde_json::json;
    Some(match (method, path) {
        ("POST", "/api/v1/session") => {
            json!({ "workspace": "alpha", "email": "viewer@alpha.example.com", "password": PASSWORD })
        }
        ("POST", "/api/v1/me/password") => {
            json!({ "current_password": PASSWORD, "new_password": PASSWORD })
        }
        ("POST", "/api/v1/me/totp/confirm") => json!({ "code": "000000" }),
        ("POST", "/api/v1/accounts") => json!({
            "aws_account_id": "333333333333",
            "role_arn": "arn:aws:iam::333333333333:role/SightlineMonitoring",
        }),
        ("POST", "/api/v1/me/totp") | ("POST", "/api/v1/me/recovery-codes") => {
            json!({ "current_password": PASSWORD })
        }
        ("DELETE", "/api/v1/me/totp") => json!({ "current_password": PASSWORD, "code": "000000" }),
        ("PUT", "/api/v1/settings/sign-in") => json!({ "require_mfa_for_admins": false }),
        ("POST", "/api/v1/users") => {
            json!({ "email": format!("new-{}@example.com", Uuid::new_v4()), "role": "viewer" })
        }
        ("PUT", "/api/v1/users/{id}/role") => json!({ "role": "viewer" }),
        ("POST", "/api/v1/api-keys") => json!({ "name": "matrix", "role": "viewer" }),
        ("PUT", "/api/v1/integrations/{name}") => json!({ "credential": "new-secret-value" }),
        ("POST", "/api/v1/console") => {
            json!({ "sql": "SELECT r.arn, r.account, f.check_id FROM resources r LEFT JOIN findings f ON f.resource_arn = r.arn" })
        }
        ("POST", "/api/v1/ask") => json!({ "question": "what is open to the internet?" }),
        ("POST", "/api/v1/findings/{id}/approve") => json!({ "evidence_sha256": "a".repeat(64) }),
        ("POST", "/api/v1/findings/{id}/dismiss") => json!({ "reason": "accepted risk" }),
        ("POST", "/api/v1/findings/{id}/snooze") => json!({ "until": "2099-01-01" }),
        _ => return None,
    })
}
