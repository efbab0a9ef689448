//! Every route, with the least role allowed to call it: the one permission
//! table. The router is built from this table, so a route cannot exist
//! without an entry, and `tests/role_matrix.rs` walks every entry with
//! every role.

mod admin;
mod health;
mod inventory;
mod session;

use axum::handler::Handler;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use sightline_core::roles::Role;

use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (health checks, the OpenAPI document, sign-in).
    Public,
    /// This role or above.
    Role(Role),
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// Reachable while the user still has to replace a one-time password.
    pub allowed_before_password_change: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        access,
        summary,
        allowed_before_password_change: false,
    }
}

const fn first(mut r: Route) -> Route {
    r.allowed_before_password_change = true;
    r
}

use Access::{Public, Role as R};
use Role::{Admin, Operator, Owner, Viewer};

pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", Public, "Liveness: the process answers"),
    route("GET", "/readyz", Public, "Readiness: the database answers"),
    route(
        "GET",
        "/api/v1/openapi.json",
        Public,
        "This API's OpenAPI document",
    ),
    route(
        "POST",
        "/api/v1/session",
        Public,
        "Sign in with e-mail, password and TOTP code",
    ),
    first(route(
        "DELETE",
        "/api/v1/session",
        R(Viewer),
        "Sign out: the session is revoked at once",
    )),
    first(route(
        "GET",
        "/api/v1/me",
        R(Viewer),
        "The caller: user or API key, workspace and role",
    )),
    first(route(
        "POST",
        "/api/v1/me/password",
        R(Viewer),
        "Change the caller's password",
    )),
    route(
        "POST",
        "/api/v1/me/totp",
        R(Viewer),
        "Begin TOTP enrolment: a new secret, shown once",
    ),
    route(
        "POST",
        "/api/v1/me/totp/confirm",
        R(Viewer),
        "Confirm TOTP with a code: ten recovery codes, shown once",
    ),
    route(
        "GET",
        "/api/v1/accounts",
        R(Viewer),
        "AWS accounts of the workspace",
    ),
    route(
        "POST",
        "/api/v1/accounts",
        R(Admin),
        "Register an AWS account",
    ),
    route("GET", "/api/v1/accounts/{id}", R(Viewer), "One AWS account"),
    route(
        "DELETE",
        "/api/v1/accounts/{id}",
        R(Admin),
        "Remove an AWS account and its inventory",
    ),
    route(
        "POST",
        "/api/v1/accounts/{id}/scans",
        R(Operator),
        "Queue a scan of an account",
    ),
    route("GET", "/api/v1/scans", R(Viewer), "Scan history"),
    route(
        "GET",
        "/api/v1/scans/{id}",
        R(Viewer),
        "One scan with its coverage gaps",
    ),
    route("GET", "/api/v1/findings", R(Viewer), "Findings, filtered"),
    route(
        "GET",
        "/api/v1/findings/{id}",
        R(Viewer),
        "One finding with evidence, remediation and rollback",
    ),
    route("GET", "/api/v1/users", R(Admin), "Users of the workspace"),
    route(
        "POST",
        "/api/v1/users",
        R(Admin),
        "Add a user with a one-time password",
    ),
    route(
        "PUT",
        "/api/v1/users/{id}/role",
        R(Owner),
        "Change a user's role",
    ),
    route("DELETE", "/api/v1/users/{id}", R(Admin), "Remove a user"),
    route(
        "GET",
        "/api/v1/api-keys",
        R(Owner),
        "API keys (never their secrets)",
    ),
    route(
        "POST",
        "/api/v1/api-keys",
        R(Owner),
        "Issue an API key, shown once",
    ),
    route(
        "DELETE",
        "/api/v1/api-keys/{id}",
        R(Owner),
        "Revoke an API key",
    ),
    route(
        "GET",
        "/api/v1/audit",
        R(Admin),
        "The audit trail, filtered",
    ),
    route(
        "GET",
        "/api/v1/audit/export.csv",
        R(Admin),
        "The audit trail, filtered, as CSV",
    ),
    route(
        "GET",
        "/api/v1/integrations",
        R(Admin),
        "Integrations: which are configured, never their credentials",
    ),
    route(
        "PUT",
        "/api/v1/integrations/{name}",
        R(Admin),
        "Set an integration's credential (stored encrypted)",
    ),
];

/// The table entry of a request, by method and matched route.
pub fn lookup(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

fn on<H, T>(method: &str, handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    match method {
        "GET" => get(handler),
        "POST" => post(handler),
        "PUT" => put(handler),
        "DELETE" => delete(handler),
        other => panic!("no method router for {other}"),
    }
}

/// The handler of a table entry.
fn handler(r: &Route) -> MethodRouter<AppState> {
    let m = r.method;
    match (m, r.path) {
        ("GET", "/healthz") => on(m, health::live),
        ("GET", "/readyz") => on(m, health::ready),
        ("GET", "/api/v1/openapi.json") => on(m, health::openapi),
        ("POST", "/api/v1/session") => on(m, session::sign_in),
        ("DELETE", "/api/v1/session") => on(m, session::sign_out),
        ("GET", "/api/v1/me") => on(m, session::me),
        ("POST", "/api/v1/me/password") => on(m, session::change_password),
        ("POST", "/api/v1/me/totp") => on(m, session::totp_begin),
        ("POST", "/api/v1/me/totp/confirm") => on(m, session::totp_confirm),
        ("GET", "/api/v1/accounts") => on(m, inventory::accounts),
        ("POST", "/api/v1/accounts") => on(m, inventory::add_account),
        ("GET", "/api/v1/accounts/{id}") => on(m, inventory::account),
        ("DELETE", "/api/v1/accounts/{id}") => on(m, inventory::delete_account),
        ("POST", "/api/v1/accounts/{id}/scans") => on(m, inventory::queue_scan),
        ("GET", "/api/v1/scans") => on(m, inventory::scans),
        ("GET", "/api/v1/scans/{id}") => on(m, inventory::scan),
        ("GET", "/api/v1/findings") => on(m, inventory::findings),
        ("GET", "/api/v1/findings/{id}") => on(m, inventory::finding),
        ("GET", "/api/v1/users") => on(m, admin::users),
        ("POST", "/api/v1/users") => on(m, admin::add_user),
        ("PUT", "/api/v1/users/{id}/role") => on(m, admin::set_role),
        ("DELETE", "/api/v1/users/{id}") => on(m, admin::remove_user),
        ("GET", "/api/v1/api-keys") => on(m, admin::api_keys),
        ("POST", "/api/v1/api-keys") => on(m, admin::issue_api_key),
        ("DELETE", "/api/v1/api-keys/{id}") => on(m, admin::revoke_api_key),
        ("GET", "/api/v1/audit") => on(m, admin::audit),
        ("GET", "/api/v1/audit/export.csv") => on(m, admin::audit_csv),
        ("GET", "/api/v1/integrations") => on(m, admin::integrations),
        ("PUT", "/api/v1/integrations/{name}") => on(m, admin::put_integration),
        (method, path) => {
            panic!("the permission table lists {method} {path}, which has no handler")
        }
    }
}

/// The routes of the table, each with its handler.
pub fn router() -> Router<AppState> {
    ROUTES
        .iter()
        .fold(Router::new(), |router, r| router.route(r.path, handler(r)))
}
