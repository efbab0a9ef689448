//! Middleware every response passes through: security headers, the per-IP
//! rate limit, the request log, and the permission check of `routes::ROUTES`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth;
use crate::error::ApiError;
use crate::routes::{self, Access, Needs};
use crate::state::{client_ip, AppState};

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// HSTS, CSP without inline script, no framing, nosniff, no referrer, no caching.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    );
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn peer(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Refuse a client address over its rate; refuse a request whose address
/// cannot be told (fail closed). Health checks are exempt.
pub async fn per_ip_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let Some(ip) = client_ip(state.config(), request.headers(), peer(&request)) else {
        return ApiError::BadRequest(
            "cannot tell the client address (expected a peer address or, behind the ALB, X-Forwarded-For)".into(),
        )
        .into_response();
    };
    if let Err(e) = state
        .limiter()
        .check_ip(ip, state.limits().per_ip_per_minute)
    {
        return e.into_response();
    }
    next.run(request).await
}

/// One JSON log line per request: method, route (never the query string,
/// which could carry a secret), status and latency. Headers and bodies,
/// where cookies, tokens and passwords travel, are never logged.
pub async fn request_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// After a successful write, mark the client for [`crate::extract::Reads`]:
/// its reads go to the primary for a few seconds, so that a page that
/// follows its own write sees it although the replica may lag. Only when a
/// replica is configured; the cookie says nothing about the client and
/// grants nothing (the primary serves any request).
pub async fn read_your_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let mut response = next.run(request).await;
    let status = response.status();
    // A response that ends the session (sign-out) leaves no cookie behind.
    let ends_session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with(&format!("{}=;", auth::SESSION_COOKIE)));
    if state.reader().is_some()
        && !safe
        && !ends_session
        && (status.is_success() || status.is_redirection())
    {
        let cookie = format!(
            "{}=1; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
            crate::extract::WROTE_COOKIE,
            crate::extract::WROTE_FOR_SECS
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Look the route up in the permission table, authenticate, rate-limit the
/// principal, check its role, and hand the principal to the handler. Errors
/// of a page route are shown as an HTML page.
///
/// Every state-changing request must come from this site, unless it was
/// authenticated by an API key (browsers never send one on their own): the
/// sign-in forms before anything else, cookie and ALB principals once they
/// are known.
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let page = routes::is_page(matched.as_str());
    let wrap = |response: Response| async move {
        if page {
            crate::ui::html_error(response).await
        } else {
            response
        }
    };
    let request = if page {
        match csrf_from_form(request).await {
            Ok(r) => r,
            Err(e) => return wrap(e.into_response()).await,
        }
    } else {
        request
    };
    let response = check(state, matched, request, next).await;
    wrap(response).await
}

/// A form posted from another site is refused whoever the caller is (ALB
/// OIDC sessions carry no CSRF token of ours; sign-in has none either). The
/// browser says where a request comes from in `Sec-Fetch-Site`, or else in
/// `Origin`, which must be this host or a configured origin.
fn same_site(state: &AppState, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let refused = |found: &str| {
        ApiError::Forbidden(
            "cross_site",
            format!("a form sent from another site is refused: expected this site, found {found}"),
        )
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(refused(&format!("Sec-Fetch-Site: {other}"))),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    if state.config().allowed_origins.iter().any(|o| o == origin) {
        return Ok(());
    }
    let origin_text = origin.to_str().unwrap_or("");
    let origin_host = origin_text.split_once("://").map(|(_, h)| h);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(refused(&format!("Origin: {origin_text}"))),
    }
}

/// A page's form carries the CSRF token as a field; the session check reads
/// the header, so copy the field there. The body is put back untouched.
async fn csrf_from_form(request: Request) -> Result<Request, ApiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form || request.headers().contains_key(auth::CSRF_HEADER) {
        return Ok(request);
    }
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
        ApiError::PayloadTooLarge("the form is larger than the server accepts (64 KiB)".into())
    })?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == crate::ui::CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        parts
            .headers
            .insert(HeaderName::from_static(auth::CSRF_HEADER), value);
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

async fn check(
    state: AppState,
    matched: MatchedPath,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let Some(route) = routes::lookup(method.as_str(), matched.as_str()) else {
        // The path exists with other methods: say which.
        let allowed: Vec<&str> = routes::ROUTES
            .iter()
            .filter(|r| r.path == matched.as_str())
            .map(|r| r.method)
            .collect();
        let mut response = ApiError::MethodNotAllowed(format!(
            "{method} is not allowed on {}: expected {}",
            matched.as_str(),
            allowed.join(" or ")
        ))
        .into_response();
        if let Ok(value) = allowed.join(", ").parse() {
            response
                .headers_mut()
                .insert(axum::http::header::ALLOW, value);
        }
        return response;
    };
    let state_changing = auth::state_changing(&method);
    let Access::Role(least) = route.access else {
        if state_changing {
            if let Err(e) = same_site(&state, request.headers()) {
                return e.into_response();
            }
        }
        return next.run(request).await;
    };
    let principal = match auth::authenticate(&state, &method, request.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if state_changing && principal.kind != auth::PrincipalKind::ApiKey {
        if let Err(e) = same_site(&state, request.headers()) {
            return e.into_response();
        }
    }
    if let Err(e) = state.limiter().check_principal(
        &principal.limit_key(),
        state.limits().per_principal_per_minute,
    ) {
        return e.into_response();
    }
    if principal.role < least {
        return ApiError::forbidden(format!(
            "{} {} needs the {least} role or above; you are {}",
            method,
            matched.as_str(),
            principal.role
        ))
        .into_response();
    }
    let needs = match route.needs {
        Needs::Any => Ok(()),
        Needs::LocalUser => principal.require_local_user().map(|_| ()),
        Needs::Person => principal.require_person(),
    };
    if let Err(e) = needs {
        return e.into_response();
    }
    if principal.must_change_password && !route.allowed_before_password_change {
        return ApiError::Forbidden(
            "password_change_required",
            "set a new password first: POST /api/v1/me/password".into(),
        )
        .into_response();
    }
    if principal.must_enrol_totp && !route.allowed_before_mfa {
        return ApiError::Forbidden(
            "mfa_enrolment_required",
            "this workspace requires two-factor sign-in of owners and admins: enrol first (POST /api/v1/me/totp)".into(),
        )
        .into_response();
    }
    let session_token = auth::cookie(request.headers(), auth::SESSION_COOKIE).map(str::to_owned);
    request.extensions_mut().insert(principal.clone());
    let mut response = next.run(request).await;
    refresh_cookies(&principal, session_token.as_deref(), &mut response);
    response
}

/// Slide the session cookie's Max-Age with each use (within the session's
/// absolute lifetime), and set a CSRF cookie that was minted for this
/// request, unless the handler set cookies of its own (sign-out, a new
/// session after a password change).
fn refresh_cookies(
    principal: &auth::Principal,
    session_token: Option<&str>,
    response: &mut Response,
) {
    let sets_own = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| {
            v.as_bytes().starts_with(auth::SESSION_COOKIE.as_bytes())
                || v.as_bytes().starts_with(auth::CSRF_COOKIE.as_bytes())
        });
    if sets_own {
        return;
    }
    let csrf = principal.csrf.as_deref().unwrap_or_default();
    match (principal.session_max_age, session_token) {
        (Some(max_age), Some(token)) => {
            for cookie in routes::session::session_cookies(token, csrf, max_age) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
        }
        _ if principal.csrf_minted => {
            response.headers_mut().append(
                header::SET_COOKIE,
                routes::session::csrf_cookie(csrf, auth::SESSION_IDLE.num_seconds()),
            );
        }
        _ => {}
    }
}
