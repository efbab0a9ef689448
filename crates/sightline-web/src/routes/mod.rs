//! Every route, with the least role allowed to call it: the one permission
//! table. The router is built from this table, so a route cannot exist
//! without an entry, and `tests/role_matrix.rs` walks every entry with
//! every role.

mod admin;
mod explore;
mod health;
pub(crate) mod inventory;
pub(crate) mod session;

use axum::handler::Handler;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use sightline_core::roles::Role;

use crate::state::AppState;
use crate::ui;

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
    route(
        "GET",
        "/api/v1/resources",
        R(Viewer),
        "Resources matching a search query, by keyset page",
    ),
    route(
        "GET",
        "/api/v1/resources/{id}",
        R(Viewer),
        "One resource with its redacted attributes",
    ),
    route(
        "POST",
        "/api/v1/console",
        R(Operator),
        "Run one read-only query over the inventory views",
    ),
    route(
        "GET",
        "/api/v1/findings/export",
        R(Viewer),
        "Findings as CSV, JSON, OCSF or SARIF",
    ),
    route(
        "POST",
        "/api/v1/findings/{id}/approve",
        R(Operator),
        "Approve the evidence shown: a change plan, never executed",
    ),
    route(
        "POST",
        "/api/v1/findings/{id}/dismiss",
        R(Operator),
        "Dismiss a finding, with a reason",
    ),
    route(
        "POST",
        "/api/v1/findings/{id}/snooze",
        R(Operator),
        "Snooze a finding until a date",
    ),
    route(
        "GET",
        "/api/v1/decisions/{id}/plan",
        R(Viewer),
        "An approval's change plan (a script Sightline never runs)",
    ),
    route(
        "GET",
        "/api/v1/scans/diff",
        R(Viewer),
        "Findings new, resolved and regressed between two scans",
    ),
    // The web UI's pages.
    route("GET", "/static/{name}", Public, "Stylesheet and script"),
    route("GET", "/login", Public, "Sign-in page"),
    route("POST", "/login", Public, "Sign in (form)"),
    first(route("POST", "/logout", R(Viewer), "Sign out (form)")),
    first(route("GET", "/password", R(Viewer), "Change-password page")),
    first(route(
        "POST",
        "/password",
        R(Viewer),
        "Change password (form)",
    )),
    route("GET", "/", R(Viewer), "Overview"),
    route("GET", "/resources", R(Viewer), "Resource explorer"),
    route(
        "GET",
        "/resources/{id}",
        R(Viewer),
        "One resource: attributes, findings, history",
    ),
    route("GET", "/console", R(Operator), "SQL console"),
    route(
        "POST",
        "/console",
        R(Operator),
        "Run a console query (form)",
    ),
    route(
        "POST",
        "/console/export.csv",
        R(Operator),
        "A console result as CSV (form)",
    ),
    route(
        "POST",
        "/console/saved",
        R(Operator),
        "Save a console query (form)",
    ),
    route(
        "POST",
        "/console/saved/{id}/delete",
        R(Operator),
        "Delete a saved query (form)",
    ),
    route("GET", "/findings", R(Viewer), "Findings inbox"),
    route(
        "POST",
        "/findings/bulk",
        R(Operator),
        "Dismiss or snooze the selected findings (form)",
    ),
    route(
        "GET",
        "/findings/export",
        R(Viewer),
        "Findings export download",
    ),
    route(
        "GET",
        "/findings/{id}",
        R(Viewer),
        "A finding's decision brief",
    ),
    route(
        "POST",
        "/findings/{id}/approve",
        R(Operator),
        "Approve (form)",
    ),
    route(
        "POST",
        "/findings/{id}/dismiss",
        R(Operator),
        "Dismiss (form)",
    ),
    route(
        "POST",
        "/findings/{id}/snooze",
        R(Operator),
        "Snooze (form)",
    ),
    route(
        "GET",
        "/decisions/{id}/plan.sh",
        R(Viewer),
        "Change plan download",
    ),
    route("GET", "/scans", R(Viewer), "Scan history"),
    route("GET", "/scans/diff", R(Viewer), "Diff of two scans"),
    route(
        "GET",
        "/scans/{id}",
        R(Viewer),
        "One scan: gaps and changes",
    ),
    route("GET", "/accounts", R(Viewer), "Accounts"),
    route("POST", "/accounts", R(Admin), "Add an account (form)"),
    route(
        "POST",
        "/accounts/{id}/delete",
        R(Admin),
        "Remove an account (form)",
    ),
    route(
        "POST",
        "/accounts/{id}/scan",
        R(Operator),
        "Queue a scan (form)",
    ),
    route("GET", "/audit", R(Admin), "Audit trail"),
];

/// Whether a path is a page of the web UI (HTML, forms) rather than the JSON API.
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/healthz" || path == "/readyz")
}

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
        ("GET", "/api/v1/resources") => on(m, explore::resources),
        ("GET", "/api/v1/resources/{id}") => on(m, explore::resource),
        ("POST", "/api/v1/console") => on(m, explore::console),
        ("GET", "/api/v1/findings/export") => on(m, explore::export),
        ("POST", "/api/v1/findings/{id}/approve") => on(m, explore::approve),
        ("POST", "/api/v1/findings/{id}/dismiss") => on(m, explore::dismiss),
        ("POST", "/api/v1/findings/{id}/snooze") => on(m, explore::snooze),
        ("GET", "/api/v1/decisions/{id}/plan") => on(m, explore::plan),
        ("GET", "/api/v1/scans/diff") => on(m, explore::diff),
        ("GET", "/static/{name}") => on(m, ui::assets::serve),
        ("GET", "/login") => on(m, ui::login::show),
        ("POST", "/login") => on(m, ui::login::submit),
        ("POST", "/logout") => on(m, ui::login::logout),
        ("GET", "/password") => on(m, ui::login::password_form),
        ("POST", "/password") => on(m, ui::login::password_submit),
        ("GET", "/") => on(m, ui::overview::show),
        ("GET", "/resources") => on(m, ui::explorer::list),
        ("GET", "/resources/{id}") => on(m, ui::explorer::detail),
        ("GET", "/console") => on(m, ui::console::show),
        ("POST", "/console") => on(m, ui::console::run),
        ("POST", "/console/export.csv") => on(m, ui::console::export_csv),
        ("POST", "/console/saved") => on(m, ui::console::save),
        ("POST", "/console/saved/{id}/delete") => on(m, ui::console::delete_saved),
        ("GET", "/findings") => on(m, ui::findings::list),
        ("POST", "/findings/bulk") => on(m, ui::findings::bulk),
        ("GET", "/findings/export") => on(m, ui::findings::export),
        ("GET", "/findings/{id}") => on(m, ui::findings::detail),
        ("POST", "/findings/{id}/approve") => on(m, ui::findings::approve),
        ("POST", "/findings/{id}/dismiss") => on(m, ui::findings::dismiss),
        ("POST", "/findings/{id}/snooze") => on(m, ui::findings::snooze),
        ("GET", "/decisions/{id}/plan.sh") => on(m, ui::findings::plan_download),
        ("GET", "/scans") => on(m, ui::scans::list),
        ("GET", "/scans/diff") => on(m, ui::scans::diff),
        ("GET", "/scans/{id}") => on(m, ui::scans::detail),
        ("GET", "/accounts") => on(m, ui::accounts::list),
        ("POST", "/accounts") => on(m, ui::accounts::add),
        ("POST", "/accounts/{id}/delete") => on(m, ui::accounts::remove),
        ("POST", "/accounts/{id}/scan") => on(m, ui::accounts::scan),
        ("GET", "/audit") => on(m, ui::audit::show),
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
