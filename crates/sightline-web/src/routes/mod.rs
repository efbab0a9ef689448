//! Every route, with the least role allowed to call it and its handler: the
//! one permission table. The router is built from this table, so a route
//! cannot exist without an entry, and `tests/role_matrix.rs` walks every
//! entry with every role and every kind of principal.

mod account;
mod admin;
mod explore;
mod health;
pub(crate) mod inventory;
mod members;
pub(crate) mod session;
pub(crate) mod sign_in;

pub(crate) use account::{
    begin_enrolment, confirm_enrolment, disable as disable_totp, end_your_session, regenerate,
    your_sessions, Enrolment, YourSession,
};
pub(crate) use admin::{disconnect_integration, put_integration_audited, set_require_mfa_audited};
pub(crate) use members::{
    add_user_audited, issue_api_key_audited, remove_user_audited, revoke_api_key_audited,
    set_role_audited, unlock_user_audited,
};

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

/// Which kinds of principal a route serves, beyond their role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// API keys, ALB users and local sessions alike.
    Any,
    /// A local sign-in (a session): password, second factor and sessions
    /// are the ALB identity provider's business for ALB users, and no API
    /// key's.
    LocalUser,
    /// A person (a session or an ALB user), not an API key: what an API key
    /// could use to outlive its own revocation, such as issuing more keys.
    Person,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub needs: Needs,
    /// Reachable while the user still has to replace a one-time password.
    pub allowed_before_password_change: bool,
    /// Reachable while the workspace requires this user to enrol two-factor sign-in first.
    pub allowed_before_mfa: bool,
    /// The route's handler, for its method.
    pub handler: fn() -> MethodRouter<AppState>,
}

impl Route {
    /// Also reachable before the first password change and before a required enrolment.
    const fn first(mut self) -> Self {
        self.allowed_before_password_change = true;
        self.allowed_before_mfa = true;
        self
    }

    /// Reachable before a required two-factor enrolment (it is one of its steps).
    const fn enrol(mut self) -> Self {
        self.allowed_before_mfa = true;
        self
    }

    /// Only for a local sign-in.
    const fn local(mut self) -> Self {
        self.needs = Needs::LocalUser;
        self
    }

    /// Only for a person, never an API key.
    const fn person(mut self) -> Self {
        self.needs = Needs::Person;
        self
    }
}

/// One table entry: the method is written once, for the entry and its handler.
macro_rules! route {
    ($method:ident $path:literal, $access:expr, $summary:literal, $handler:path) => {
        Route {
            method: stringify!($method),
            path: $path,
            access: $access,
            summary: $summary,
            needs: Needs::Any,
            allowed_before_password_change: false,
            allowed_before_mfa: false,
            handler: || on(stringify!($method), $handler),
        }
    };
}

use Access::{Public, Role as R};
use Role::{Admin, Operator, Owner, Viewer};

pub const ROUTES: &[Route] = &[
    route!(GET "/healthz", Public, "Liveness: the process answers", health::live),
    route!(GET "/readyz", Public, "Readiness: the database answers", health::ready),
    route!(GET "/api/v1/openapi.json", Public, "This API's OpenAPI document", health::openapi),
    route!(POST "/api/v1/session", Public, "Sign in with e-mail, password and TOTP code", session::sign_in),
    route!(DELETE "/api/v1/session", R(Viewer), "Sign out: the session is revoked at once", session::sign_out).local().first(),
    route!(GET "/api/v1/me", R(Viewer), "The caller: user or API key, workspace and role", session::me).first(),
    route!(POST "/api/v1/me/password", R(Viewer), "Change the caller's password", session::change_password).local().first(),
    route!(POST "/api/v1/me/totp", R(Viewer), "Begin TOTP enrolment, with the password: a new secret, shown once", account::totp_begin).local().enrol(),
    route!(POST "/api/v1/me/totp/confirm", R(Viewer), "Confirm TOTP with a code: ten recovery codes, shown once", account::totp_confirm).local().enrol(),
    route!(GET "/api/v1/me/sessions", R(Viewer), "The caller's own sessions, with their last use", account::sessions).local().first(),
    route!(DELETE "/api/v1/me/sessions/{id}", R(Viewer), "End one of the caller's own sessions", account::revoke_session).local().first(),
    route!(DELETE "/api/v1/me/totp", R(Viewer), "Turn two-factor sign-in off, with the password and a code", account::totp_disable).local(),
    route!(POST "/api/v1/me/recovery-codes", R(Viewer), "Ten new recovery codes, shown once, with the password", account::regenerate_recovery_codes).local(),
    route!(GET "/api/v1/accounts", R(Viewer), "AWS accounts of the workspace", inventory::accounts),
    route!(POST "/api/v1/accounts", R(Admin), "Register an AWS account", inventory::add_account),
    route!(GET "/api/v1/accounts/{id}", R(Viewer), "One AWS account", inventory::account),
    route!(DELETE "/api/v1/accounts/{id}", R(Admin), "Remove an AWS account and its inventory", inventory::delete_account),
    route!(POST "/api/v1/accounts/{id}/scans", R(Operator), "Queue a scan of an account", inventory::queue_scan),
    route!(GET "/api/v1/scans", R(Viewer), "Scan history", inventory::scans),
    route!(GET "/api/v1/scans/{id}", R(Viewer), "One scan with its coverage gaps", inventory::scan),
    route!(GET "/api/v1/findings", R(Viewer), "Findings, filtered, most recently found first, a page at a time (a Link header names the next)", inventory::findings),
    route!(GET "/api/v1/findings/{id}", R(Viewer), "One finding with evidence, remediation and rollback", inventory::finding),
    route!(GET "/api/v1/users", R(Admin), "Users of the workspace", members::users),
    route!(POST "/api/v1/users", R(Admin), "Add a user with a one-time password", members::add_user),
    route!(PUT "/api/v1/users/{id}/role", R(Owner), "Change a user's role", members::set_role),
    route!(DELETE "/api/v1/users/{id}", R(Admin), "Remove a user", members::remove_user),
    route!(POST "/api/v1/users/{id}/unlock", R(Admin), "Lift a user's lockout", members::unlock_user),
    route!(GET "/api/v1/api-keys", R(Owner), "API keys (never their secrets)", members::api_keys),
    route!(POST "/api/v1/api-keys", R(Owner), "Issue an API key, shown once", members::issue_api_key).person(),
    route!(DELETE "/api/v1/api-keys/{id}", R(Owner), "Revoke an API key", members::revoke_api_key),
    route!(GET "/api/v1/audit", R(Admin), "The audit trail, filtered", admin::audit),
    route!(GET "/api/v1/audit/export.csv", R(Admin), "The audit trail, filtered, as CSV", admin::audit_csv),
    route!(GET "/api/v1/integrations", R(Admin), "Integrations: which are configured, never their credentials", admin::integrations),
    route!(PUT "/api/v1/integrations/{name}", R(Admin), "Set an integration's credential (stored encrypted)", admin::put_integration),
    route!(DELETE "/api/v1/integrations/{name}", R(Admin), "Disconnect an integration: its credential is deleted", admin::delete_integration),
    route!(GET "/api/v1/settings/sign-in", R(Admin), "The workspace's sign-in settings", admin::sign_in_settings),
    route!(PUT "/api/v1/settings/sign-in", R(Owner), "Require two-factor sign-in of owners and admins, or not", admin::put_sign_in_settings),
    route!(GET "/api/v1/resources", R(Viewer), "Resources matching a search query, by keyset page", explore::resources),
    route!(GET "/api/v1/resources/{id}", R(Viewer), "One resource with its redacted attributes", explore::resource),
    route!(POST "/api/v1/console", R(Operator), "Run one read-only query over the inventory views", explore::console),
    route!(POST "/api/v1/ask", R(Operator), "Ask in plain words: the model (with a profile) or the question library writes read-only console queries", ui::ask::api_ask),
    route!(GET "/api/v1/ask/library", R(Viewer), "The question library Ask matches against", ui::ask::api_library),
    route!(GET "/api/v1/ask/sessions", R(Operator), "Your Ask sessions", ui::ask::api_sessions),
    route!(GET "/api/v1/ask/sessions/{id}", R(Operator), "One of your Ask sessions: its questions, plans, results and answers", ui::ask::api_session),
    route!(GET "/api/v1/ask/settings", R(Viewer), "Ask's profile and model, and the workspace's data policy and storage", ui::ask::api_settings),
    route!(PUT "/api/v1/ask/settings", R(Admin), "Set the workspace's Ask data policy and storage (audited)", ui::ask::api_put_settings),
    route!(GET "/api/v1/findings/export", R(Viewer), "Findings as CSV, JSON, OCSF or SARIF", explore::export),
    route!(POST "/api/v1/findings/{id}/approve", R(Operator), "Approve the evidence shown: a change plan, never executed", explore::approve),
    route!(POST "/api/v1/findings/{id}/dismiss", R(Operator), "Dismiss a finding, with a reason", explore::dismiss),
    route!(POST "/api/v1/findings/{id}/snooze", R(Operator), "Snooze a finding until a date", explore::snooze),
    route!(GET "/api/v1/decisions/{id}/plan", R(Viewer), "An approval's change plan (a script Sightline never runs)", explore::plan),
    route!(GET "/api/v1/scans/diff", R(Viewer), "Findings new, resolved and regressed between two scans, in finding order, a page at a time (a Link header names the next)", explore::diff),
    // The web UI's pages.
    route!(GET "/static/{name}", Public, "Stylesheet and script", ui::assets::serve),
    route!(GET "/login", Public, "Sign-in page", ui::login::show),
    route!(POST "/login", Public, "Sign in (form)", ui::login::submit),
    route!(POST "/logout", R(Viewer), "Sign out (form)", ui::login::logout).local().first(),
    route!(GET "/password", R(Viewer), "Change-password page", ui::login::password_form).local().first(),
    route!(POST "/password", R(Viewer), "Change password (form)", ui::login::password_submit).local().first(),
    route!(GET "/settings/two-factor", R(Viewer), "Two-factor sign-in: enrol, recovery codes, disable", ui::settings::two_factor).local().enrol(),
    route!(POST "/settings/two-factor/begin", R(Viewer), "Begin enrolment: a QR code (form)", ui::settings::two_factor_begin).local().enrol(),
    route!(POST "/settings/two-factor/confirm", R(Viewer), "Confirm enrolment: recovery codes (form)", ui::settings::two_factor_confirm).local().enrol(),
    route!(POST "/settings/two-factor/recovery-codes", R(Viewer), "New recovery codes (form)", ui::settings::two_factor_regenerate).local(),
    route!(POST "/settings/two-factor/disable", R(Viewer), "Turn two-factor sign-in off (form)", ui::settings::two_factor_disable).local(),
    route!(GET "/settings/sessions", R(Viewer), "Your sessions", ui::settings::sessions).local().first(),
    route!(POST "/settings/sessions/{id}/revoke", R(Viewer), "End one of your sessions (form)", ui::settings::revoke_session).local().first(),
    route!(GET "/members", R(Admin), "Members: add, change role, remove, unlock", ui::members::list),
    route!(POST "/members", R(Admin), "Add a member with a one-time password (form)", ui::members::add),
    route!(POST "/members/{id}/role", R(Owner), "Change a member's role (form)", ui::members::set_role),
    route!(POST "/members/{id}/remove", R(Admin), "Remove a member (form)", ui::members::remove),
    route!(POST "/members/{id}/unlock", R(Admin), "Unlock a member (form)", ui::members::unlock),
    route!(POST "/settings/sign-in", R(Owner), "Require two-factor sign-in of owners and admins (form)", ui::members::sign_in_settings),
    route!(GET "/api-keys", R(Owner), "API keys: issue, list, revoke", ui::keys::list),
    route!(POST "/api-keys", R(Owner), "Issue an API key, shown once (form)", ui::keys::issue).person(),
    route!(POST "/api-keys/{id}/revoke", R(Owner), "Revoke an API key (form)", ui::keys::revoke),
    route!(GET "/integrations", R(Admin), "Integrations: add, disconnect", ui::keys::integrations),
    route!(POST "/integrations", R(Admin), "Add or replace an integration's credential (form)", ui::keys::put_integration),
    route!(POST "/integrations/{name}/disconnect", R(Admin), "Disconnect an integration (form)", ui::keys::disconnect_integration),
    route!(GET "/", R(Viewer), "Overview", ui::overview::show),
    route!(GET "/resources", R(Viewer), "Resource explorer", ui::explorer::list),
    route!(GET "/resources/{id}", R(Viewer), "One resource: attributes, findings, history", ui::explorer::detail),
    route!(GET "/ask", R(Operator), "Ask", ui::ask::show),
    route!(POST "/ask", R(Operator), "Ask a question (form)", ui::ask::ask_form),
    route!(POST "/ask/settings", R(Admin), "Set the workspace's Ask data policy and storage (form)", ui::ask::settings_form),
    route!(GET "/console", R(Operator), "SQL console", ui::console::show),
    route!(POST "/console", R(Operator), "Run a console query (form)", ui::console::run),
    route!(POST "/console/export.csv", R(Operator), "A console result as CSV (form)", ui::console::export_csv),
    route!(POST "/console/saved", R(Operator), "Save a console query (form)", ui::console::save),
    route!(POST "/console/saved/{id}/delete", R(Operator), "Delete a saved query (form)", ui::console::delete_saved),
    route!(GET "/findings", R(Viewer), "Findings inbox", ui::findings::list),
    route!(POST "/findings/bulk", R(Operator), "Dismiss or snooze the selected findings (form)", ui::findings::bulk),
    route!(GET "/findings/export", R(Viewer), "Findings export download", ui::findings::export),
    route!(GET "/findings/{id}", R(Viewer), "A finding's decision brief", ui::findings::detail),
    route!(POST "/findings/{id}/approve", R(Operator), "Approve (form)", ui::findings::approve),
    route!(POST "/findings/{id}/dismiss", R(Operator), "Dismiss (form)", ui::findings::dismiss),
    route!(POST "/findings/{id}/snooze", R(Operator), "Snooze (form)", ui::findings::snooze),
    route!(GET "/decisions/{id}/plan.sh", R(Viewer), "Change plan download", ui::findings::plan_download),
    route!(GET "/compliance", R(Viewer), "Compliance: control status per framework, pass rate over scans", ui::compliance::show),
    route!(GET "/scans", R(Viewer), "Scan history", ui::scans::list),
    route!(GET "/scans/diff", R(Viewer), "Diff of two scans", ui::scans::diff),
    route!(GET "/scans/{id}", R(Viewer), "One scan: gaps and changes", ui::scans::detail),
    route!(GET "/accounts", R(Viewer), "Accounts", ui::accounts::list),
    route!(POST "/accounts", R(Admin), "Add an account (form)", ui::accounts::add),
    route!(POST "/accounts/{id}/delete", R(Admin), "Remove an account (form)", ui::accounts::remove),
    route!(POST "/accounts/{id}/scan", R(Operator), "Queue a scan (form)", ui::accounts::scan),
    route!(GET "/audit", R(Admin), "Audit trail", ui::audit::show),
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

/// The routes of the table, each with its handler.
pub fn router() -> Router<AppState> {
    ROUTES.iter().fold(Router::new(), |router, r| {
        router.route(r.path, (r.handler)())
    })
}

/// A JSON page of `rows`, with `Link: <next>; rel="next"` (RFC 8288) while
/// more remain. `next` is built of fixed text, ids, digits and
/// percent-encoded values, so it is always a header value.
pub(crate) fn paged<T: serde::Serialize>(
    rows: T,
    next: Option<String>,
) -> crate::error::ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let mut response = axum::Json(rows).into_response();
    if let Some(next) = next {
        let link = format!("<{next}>; rel=\"next\"");
        let link = axum::http::HeaderValue::from_str(&link).map_err(|e| {
            crate::error::ApiError::Internal(format!("the Link header {link:?}: {e}"))
        })?;
        response
            .headers_mut()
            .insert(axum::http::header::LINK, link);
    }
    Ok(response)
}
