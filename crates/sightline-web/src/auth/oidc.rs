//! The ALB's OIDC assertion, `x-amzn-oidc-data`: an ES256 JWT whose header
//! names the signing key (`kid`), the load balancer that signed it
//! (`signer`), the identity provider (`iss`), the OIDC client (`client`) and
//! its expiry. The public key comes from the key endpoint of the
//! *configured* region, over HTTPS only (never from anything in the token),
//! and is cached for a while; a `kid` the endpoint does not know is cached as
//! a miss, so that a stream of bad tokens does not become a stream of fetches.
//!
//! The ALB base64url-encodes with padding, so the signing input is the token
//! text exactly as received; spec-strict JWT libraries refuse these tokens,
//! hence the verification here with `p256`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

/// How long a fetched key is trusted before it is fetched again.
pub const KEY_TTL: Duration = Duration::from_secs(3600);
/// How long a `kid` the endpoint did not know stays refused without a fetch.
pub const MISS_TTL: Duration = Duration::from_secs(300);
/// Keys kept at most, and misses kept at most; the oldest go first.
pub const CACHE_ENTRIES: usize = 1024;

/// Why a token was refused, naming the claim (or part) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{claim}: {reason}")]
pub struct OidcError {
    pub claim: &'static str,
    pub reason: String,
}

fn refuse(claim: &'static str, reason: impl Into<String>) -> OidcError {
    OidcError {
        claim,
        reason: reason.into(),
    }
}

/// Who the IdP says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub email: String,
    /// The IdP's stable id of the user: with `issuer`, who the caller is.
    pub subject: String,
    pub issuer: String,
    /// The IdP's `email_verified` claim, when it sends one.
    pub email_verified: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The ARN of the load balancer allowed to sign tokens.
    pub alb_arn: String,
    pub region: String,
    /// The key endpoint, with `{region}` standing for the configured region; HTTPS only.
    pub key_endpoint: String,
    /// The identity provider's issuer, as configured on the ALB's listener rule.
    pub issuer: String,
    /// The OIDC client id configured on the ALB's listener rule.
    pub client_id: String,
    /// How long a fetched key is used before it is fetched again (`KEY_TTL`).
    pub key_ttl: Duration,
    /// How long a `kid` the endpoint did not know is refused without a fetch (`MISS_TTL`).
    pub miss_ttl: Duration,
}

impl OidcConfig {
    pub const AWS_KEY_ENDPOINT: &'static str =
        "https://public-keys.auth.elb.{region}.amazonaws.com";

    fn key_url(&self, kid: &str) -> String {
        format!(
            "{}/{kid}",
            self.key_endpoint
                .replace("{region}", &self.region)
                .trim_end_matches('/')
        )
    }

    /// Refuse a configuration that could not verify tokens safely.
    pub fn check(&self) -> Result<(), String> {
        if !sightline_core::names::is_region_name(&self.region) {
            return Err(format!(
                "OIDC region: expected an AWS region name such as us-east-1, found {:?}",
                self.region
            ));
        }
        let arn_ok = self
            .alb_arn
            .split(':')
            .collect::<Vec<_>>()
            .as_slice()
            .get(..6)
            .is_some_and(|p| {
                p[0] == "arn"
                    && p[1].starts_with("aws")
                    && p[2] == "elasticloadbalancing"
                    && p[3] == self.region
                    && p[4].len() == 12
                    && p[4].bytes().all(|b| b.is_ascii_digit())
                    && p[5].starts_with("loadbalancer/app/")
            });
        if !arn_ok {
            return Err(format!(
                "OIDC ALB ARN: expected arn:aws:elasticloadbalancing:{}:<account>:loadbalancer/app/<name>/<id>, found {:?}",
                self.region, self.alb_arn
            ));
        }
        if !self.key_endpoint.starts_with("https://") {
            return Err(format!(
                "OIDC key endpoint: expected an https:// URL, found {:?}",
                self.key_endpoint
            ));
        }
        if self.issuer.trim().is_empty() {
            return Err("OIDC issuer: expected the IdP's issuer URL, found nothing".into());
        }
        if self.client_id.trim().is_empty() {
            return Err("OIDC client id: expected the ALB's OIDC client id, found nothing".into());
        }
        Ok(())
    }
}

/// Cached answers of the key endpoint by `kid`, each with when it came,
/// the oldest going first when full.
struct Answers<T> {
    by_kid: HashMap<String, (T, Instant)>,
}

impl<T: Clone> Answers<T> {
    fn new() -> Self {
        Self {
            by_kid: HashMap::new(),
        }
    }

    fn fresh(&self, kid: &str, ttl: Duration) -> Option<T> {
        let (value, at) = self.by_kid.get(kid)?;
        (at.elapsed() < ttl).then(|| value.clone())
    }

    fn insert(&mut self, kid: &str, value: T) {
        if self.by_kid.len() >= CACHE_ENTRIES && !self.by_kid.contains_key(kid) {
            if let Some(oldest) = self
                .by_kid
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            {
                self.by_kid.remove(&oldest);
            }
        }
        self.by_kid.insert(kid.to_owned(), (value, Instant::now()));
    }
}

/// Verifies tokens and caches the keys it fetched. Keys and misses are
/// kept apart, so a flood of unknown `kid`s can only push out other misses,
/// never the load balancer's real keys.
pub struct OidcVerifier {
    config: OidcConfig,
    keys: RwLock<Answers<VerifyingKey>>,
    misses: RwLock<Answers<OidcError>>,
    fetching: Mutex<()>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    // The ALB pads; accept both spellings when decoding. The signature is
    // over the text as sent, so a re-encoded token still fails to verify.
    URL_SAFE
        .decode(segment)
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(segment).ok())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

impl OidcVerifier {
    /// A verifier whose key fetches trust the system's root certificates.
    pub fn new(config: OidcConfig) -> Result<Arc<Self>, String> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?;
        Self::build(config, builder)
    }

    /// A verifier whose key fetches trust exactly `roots` (a private CA).
    pub fn with_roots(
        config: OidcConfig,
        roots: rustls::RootCertStore,
    ) -> Result<Arc<Self>, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::build(
            config,
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls),
        )
    }

    fn build(
        config: OidcConfig,
        builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
    ) -> Result<Arc<Self>, String> {
        config.check()?;
        let https = builder.https_only().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Arc::new(Self {
            config,
            keys: RwLock::new(Answers::new()),
            misses: RwLock::new(Answers::new()),
            fetching: Mutex::new(()),
            client,
        }))
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Verify `token` at `now` (Unix seconds).
    pub async fn verify(&self, token: &str, now: i64) -> Result<OidcIdentity, OidcError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header_b64, payload_b64, signature_b64] = parts.as_slice() else {
            return Err(refuse(
                "token",
                format!("expected 3 dot-separated parts, found {}", parts.len()),
            ));
        };
        let header: Value = decode_segment(header_b64)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| refuse("header", "not base64url-encoded JSON"))?;
        let payload: Value = decode_segment(payload_b64)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| refuse("payload", "not base64url-encoded JSON"))?;

        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "ES256" {
            return Err(refuse("alg", format!("expected ES256, found {alg:?}")));
        }
        let signer = header.get("signer").and_then(Value::as_str).unwrap_or("");
        if signer != self.config.alb_arn {
            return Err(refuse(
                "signer",
                format!("expected {}, found {signer:?}", self.config.alb_arn),
            ));
        }
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
        if !is_uuid(kid) {
            return Err(refuse("kid", format!("expected a UUID, found {kid:?}")));
        }
        // The ALB puts exp in the header; IdP claims may carry it too. Both must hold.
        let exps: Vec<i64> = [header.get("exp"), payload.get("exp")]
            .into_iter()
            .flatten()
            .map(|v| v.as_i64().ok_or_else(|| refuse("exp", "expected a number")))
            .collect::<Result<_, _>>()?;
        if exps.is_empty() {
            return Err(refuse("exp", "missing"));
        }
        if let Some(exp) = exps.iter().find(|&&exp| exp <= now) {
            return Err(refuse("exp", format!("expired at {exp}, now {now}")));
        }
        // The identity provider and OIDC client the ALB was configured with:
        // another listener's or another IdP's token is not ours.
        let issuer = header.get("iss").and_then(Value::as_str).unwrap_or("");
        if issuer != self.config.issuer {
            return Err(refuse(
                "iss",
                format!("expected {}, found {issuer:?}", self.config.issuer),
            ));
        }
        let client = header.get("client").and_then(Value::as_str).unwrap_or("");
        if client != self.config.client_id {
            return Err(refuse(
                "client",
                format!("expected {}, found {client:?}", self.config.client_id),
            ));
        }

        let signature = decode_segment(signature_b64)
            .and_then(|raw| Signature::from_slice(&raw).ok())
            .ok_or_else(|| refuse("signature", "expected a 64-byte ES256 signature"))?;
        let key = self.key(kid).await?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verify(signing_input.as_bytes(), &signature)
            .map_err(|_| refuse("signature", "does not verify with the key of kid"))?;

        let subject = payload
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse("sub", "missing"))?
            .to_owned();
        let email = payload
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            .ok_or_else(|| refuse("email", "missing"))?;
        // Some IdPs send it as a string.
        let email_verified = match payload.get("email_verified") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
            Some(other) => {
                return Err(refuse(
                    "email_verified",
                    format!("expected true or false, found {other}"),
                ))
            }
        };
        Ok(OidcIdentity {
            email,
            subject,
            issuer: issuer.to_owned(),
            email_verified,
        })
    }

    async fn key(&self, kid: &str) -> Result<VerifyingKey, OidcError> {
        if let Some(hit) = self.cached(kid).await {
            return hit;
        }
        // One fetch at a time: a burst of tokens with new kids waits here
        // rather than fanning out, and finds the first one's answer cached.
        let _one = self.fetching.lock().await;
        if let Some(hit) = self.cached(kid).await {
            return hit;
        }
        let url = self.config.key_url(kid);
        let fetched = match tokio::time::timeout(Duration::from_secs(5), self.fetch(&url)).await {
            Err(_) => return Err(refuse("kid", format!("timed out fetching {url}"))),
            // A transport failure is not the endpoint's answer: not cached.
            Ok(Err(Fetch::Failed(e))) => return Err(e),
            Ok(Err(Fetch::NotFound(e))) => Err(e),
            Ok(Ok(pem)) => VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| {
                refuse(
                    "kid",
                    format!("key at {url} is not a P-256 public key: {e}"),
                )
            }),
        };
        match &fetched {
            Ok(key) => self.keys.write().await.insert(kid, *key),
            Err(miss) => self.misses.write().await.insert(kid, miss.clone()),
        }
        fetched
    }

    async fn cached(&self, kid: &str) -> Option<Result<VerifyingKey, OidcError>> {
        if let Some(key) = self.keys.read().await.fresh(kid, self.config.key_ttl) {
            return Some(Ok(key));
        }
        self.misses
            .read()
            .await
            .fresh(kid, self.config.miss_ttl)
            .map(Err)
    }

    async fn fetch(&self, url: &str) -> Result<String, Fetch> {
        let failed = |e: String| Fetch::Failed(refuse("kid", e));
        let uri: axum::http::Uri = url
            .parse()
            .map_err(|e| failed(format!("bad key URL {url}: {e}")))?;
        let response = self
            .client
            .get(uri)
            .await
            .map_err(|e| failed(format!("fetching {url}: {e}")))?;
        // The endpoint answers a kid it does not know with 403 or 404: that
        // is its answer, cached as a miss. Anything else (a 429, a 5xx) is
        // not an answer about the key and is tried again next time.
        if matches!(response.status().as_u16(), 403 | 404) {
            return Err(Fetch::NotFound(refuse(
                "kid",
                format!(
                    "no key for kid in region {} ({url} answered {})",
                    self.config.region,
                    response.status()
                ),
            )));
        }
        if !response.status().is_success() {
            return Err(failed(format!("{url} answered {}", response.status())));
        }
        let body = Limited::new(response.into_body(), 16 * 1024)
            .collect()
            .await
            .map_err(|e| failed(format!("reading {url}: {e}")))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| failed("key is not text".into()))
    }
}

enum Fetch {
    /// The endpoint answered that it has no such key (403 or 404): cached as a miss.
    NotFound(OidcError),
    /// No answer (or an error status): tried again next time.
    Failed(OidcError),
}
