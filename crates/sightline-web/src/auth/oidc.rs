//! The ALB's OIDC assertion, `x-amzn-oidc-data`: an ES256 JWT whose header
//! names the signing key (`kid`), the load balancer that signed it
//! (`signer`) and its expiry. The public key comes from the key endpoint of
//! the *configured* region (never from anything in the token) and is cached.
//!
//! The ALB base64url-encodes with padding, so the signing input is the token
//! text exactly as received; spec-strict JWT libraries refuse these tokens,
//! hence the verification here with `p256`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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
use tokio::sync::RwLock;

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
    pub subject: String,
}

#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The ARN of the load balancer allowed to sign tokens.
    pub alb_arn: String,
    pub region: String,
    /// The key endpoint, with `{region}` standing for the configured region.
    pub key_endpoint: String,
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
}

/// Verifies tokens and caches the keys it fetched.
pub struct OidcVerifier {
    config: OidcConfig,
    keys: RwLock<HashMap<String, VerifyingKey>>,
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
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Arc::new(Self {
            config,
            keys: RwLock::new(HashMap::new()),
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

        let signature = decode_segment(signature_b64)
            .and_then(|raw| Signature::from_slice(&raw).ok())
            .ok_or_else(|| refuse("signature", "expected a 64-byte ES256 signature"))?;
        let key = self.key(kid).await?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verify(signing_input.as_bytes(), &signature)
            .map_err(|_| refuse("signature", "does not verify with the key of kid"))?;

        let email = payload
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            .ok_or_else(|| refuse("email", "missing"))?;
        let subject = payload
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(OidcIdentity { email, subject })
    }

    async fn key(&self, kid: &str) -> Result<VerifyingKey, OidcError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(*key);
        }
        let url = self.config.key_url(kid);
        let pem = tokio::time::timeout(Duration::from_secs(5), self.fetch(&url))
            .await
            .map_err(|_| refuse("kid", format!("timed out fetching {url}")))??;
        let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| {
            refuse(
                "kid",
                format!("key at {url} is not a P-256 public key: {e}"),
            )
        })?;
        self.keys.write().await.insert(kid.to_owned(), key);
        Ok(key)
    }

    async fn fetch(&self, url: &str) -> Result<String, OidcError> {
        let uri: axum::http::Uri = url
            .parse()
            .map_err(|e| refuse("kid", format!("bad key URL {url}: {e}")))?;
        let response = self
            .client
            .get(uri)
            .await
            .map_err(|e| refuse("kid", format!("fetching {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(refuse(
                "kid",
                format!(
                    "no key for kid in region {} ({url} answered {})",
                    self.config.region,
                    response.status()
                ),
            ));
        }
        let body = Limited::new(response.into_body(), 16 * 1024)
            .collect()
            .await
            .map_err(|e| refuse("kid", format!("reading {url}: {e}")))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| refuse("kid", "key is not text"))
    }
}
