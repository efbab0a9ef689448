//! What every handler shares: the store, the keys, the limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use sightline_crypto::KeyEncryptionKey;
use sightline_store::Store;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::auth::oidc::OidcVerifier;
use crate::ratelimit::RateLimiter;

/// Request limits; every one is enforced, none is optional.
#[derive(Debug, Clone)]
pub struct Limits {
    pub body_bytes: usize,
    pub request_timeout: Duration,
    /// Requests per minute from one client address.
    pub per_ip_per_minute: u32,
    /// Requests per minute by one user or API key.
    pub per_principal_per_minute: u32,
    /// Sign-in attempts per minute from one client address.
    pub logins_per_ip_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            per_ip_per_minute: 600,
            per_principal_per_minute: 300,
            logins_per_ip_per_minute: 10,
        }
    }
}

/// How the server is set up; built by the binary from flags, environment
/// and Secrets Manager.
#[derive(Debug)]
pub struct Config {
    pub kek: KeyEncryptionKey,
    /// ALB OIDC, when the load balancer authenticates users.
    pub oidc: Option<Arc<OidcVerifier>>,
    /// The workspace OIDC users belong to.
    pub oidc_workspace: Option<Uuid>,
    /// Origins allowed by CORS; empty means no cross-origin access at all.
    pub allowed_origins: Vec<HeaderValue>,
    /// Behind the ALB: take the client address from `X-Forwarded-For` (see `client_ip`).
    pub trust_forwarded_for: bool,
    /// Proxies in front of the ALB (a CDN) whose entries in `X-Forwarded-For`
    /// are skipped; empty: the ALB's own entry is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: Limits,
    /// The SQL console's connections (as `sightline_console`); `None` turns the console off.
    pub console: Option<sightline_store::console::ConsolePool>,
    /// Ask's model (profiles bedrock, anthropic, openai); `None`: profile
    /// `none`, the question library only.
    pub ask: Option<AskModel>,
    /// A read replica (Aurora's reader endpoint, as `sightline_app`) for the
    /// pages that only read; `None`: every page reads the primary.
    pub reader: Option<Store>,
}

/// A model for Ask, and how often one user may ask it.
#[derive(Debug, Clone)]
pub struct AskModel {
    pub assistant: sightline_store::assistant::Assistant,
    pub questions_per_user_per_minute: u32,
}

struct Inner {
    store: Store,
    config: Config,
    csrf_key: Zeroizing<[u8; 32]>,
    limiter: RateLimiter,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(store: Store, mut config: Config) -> Self {
        let csrf_key = config.kek.derive("sightline-csrf-v1");
        // The console's connections are bound to a workspace by the application role.
        config.console = config.console.take().map(|c| c.with_binder(store.clone()));
        Self(Arc::new(Inner {
            store,
            config,
            csrf_key,
            limiter: RateLimiter::new(100_000),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The read replica, when one is configured.
    pub fn reader(&self) -> Option<&Store> {
        self.0.config.reader.as_ref()
    }

    /// Where a read-only page reads: the replica, unless the request needs
    /// the primary or there is no replica.
    pub fn reads_from(&self, primary: bool) -> &Store {
        match self.reader() {
            Some(reader) if !primary => reader,
            _ => &self.0.store,
        }
    }

    pub fn kek(&self) -> &KeyEncryptionKey {
        &self.0.config.kek
    }

    pub fn csrf_key(&self) -> &[u8] {
        self.0.csrf_key.as_slice()
    }

    pub fn oidc(&self) -> Option<&OidcVerifier> {
        self.0.config.oidc.as_deref()
    }

    pub fn oidc_workspace(&self) -> Option<Uuid> {
        self.0.config.oidc_workspace
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn limits(&self) -> &Limits {
        &self.0.config.limits
    }

    pub fn console(&self) -> Option<&sightline_store::console::ConsolePool> {
        self.0.config.console.as_ref()
    }

    pub fn ask_model(&self) -> Option<&AskModel> {
        self.0.config.ask.as_ref()
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }
}

/// The client address of a request: the peer; or, behind the ALB, the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy. Every
/// instance of the header is read, in order (a client may send its own
/// before the ALB's), and entries are taken from the right, where the ALB
/// and the proxies in front of it append what they saw: whatever a client
/// writes lies to the left and is never chosen. An entry that is not an
/// address gives no address (the request is refused).
pub fn client_ip(
    config: &Config,
    headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<std::net::IpAddr> {
    if !config.trust_forwarded_for {
        return peer.map(|p| p.ip());
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.iter().rev() {
        let ip: std::net::IpAddr = entry.parse().ok()?;
        if !config.trusted_proxies.iter().any(|net| net.contains(&ip)) {
            return Some(ip);
        }
    }
    // Every entry a trusted proxy: the left-most is as close to the client as it gets.
    entries.first().and_then(|e| e.parse().ok())
}
