//! Ask's model providers that are reached over HTTPS: an OpenAI-compatible
//! chat-completions server (OpenAI, or vLLM or Ollama inside the
//! customer's VPC) and Anthropic's Messages API. Each is a
//! [`sightline_core::llm::Model`]: it turns Ask's conversation into the
//! provider's documented request, and the provider's answer (or its error:
//! 429 and 5xx with `Retry-After`) back. The wire formats are small and
//! written here, over the same hyper and rustls the server already links;
//! the key comes from a [`KeySource`] on every call, so a rotated key takes
//! effect without a restart, and is never logged or returned.

pub mod anthropic;
mod http;
pub mod openai;

use std::fmt;

pub use sightline_core::llm::{KeyFuture, KeySource};
use zeroize::Zeroizing;

pub use anthropic::Anthropic;
pub use openai::OpenAi;

/// A key given once (development: an environment variable).
pub struct StaticKey(Zeroizing<String>);

impl StaticKey {
    pub fn new(key: String) -> Self {
        Self(Zeroizing::new(key))
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticKey(<redacted>)")
    }
}

impl KeySource for StaticKey {
    fn key(&self) -> KeyFuture<'_> {
        let key = self.0.clone();
        Box::pin(async move { Ok(key) })
    }
}

/// Why a provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("base URL {found:?}: expected https://..., or http:// to a loopback address (127.0.0.1, [::1], localhost)")]
    BaseUrl { found: String },
    #[error("model id: expected 1 to 200 printable characters, found {found:?}")]
    ModelId { found: String },
    #[error("TLS: {0}")]
    Tls(String),
}

/// Check a base URL: HTTPS, or plain HTTP to this machine only (a local
/// model server, the tests' provider double). The key never crosses a
/// network in the clear.
pub fn check_base_url(url: &str) -> Result<String, SetupError> {
    let bad = || SetupError::BaseUrl {
        found: url.chars().take(200).collect(),
    };
    let uri: ::http::Uri = url.parse().map_err(|_| bad())?;
    let host = uri.host().ok_or_else(bad)?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if loopback => {}
        _ => return Err(bad()),
    }
    if uri.query().is_some() {
        return Err(bad());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn check_model(model: &str) -> Result<String, SetupError> {
    if model.is_empty() || model.len() > 200 || model.chars().any(|c| c.is_control()) {
        return Err(SetupError::ModelId {
            found: model.chars().take(200).collect(),
        });
    }
    Ok(model.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_is_https_or_loopback_http() {
        for ok in [
            "https://api.openai.com/v1",
            "https://vllm.internal.example:8443/v1/",
            "http://127.0.0.1:8080/v1",
            "http://[::1]:8080",
            "http://localhost:11434/v1",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.5/v1",
            "http://api.openai.com/v1",
            "ftp://x",
            "api.openai.com",
            "https://x/v1?key=1",
            "",
        ] {
            let e = check_base_url(bad).unwrap_err().to_string();
            assert!(e.contains("expected https://"), "{bad}: {e}");
        }
        assert_eq!(
            check_base_url("https://api.openai.com/v1/").unwrap(),
            "https://api.openai.com/v1"
        );
        assert!(format!("{:?}", StaticKey::new("sk-secret".into())).contains("redacted"));
        assert!(!format!("{:?}", StaticKey::new("sk-secret".into())).contains("sk-secret"));
    }
}
