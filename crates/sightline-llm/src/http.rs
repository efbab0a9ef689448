//! One JSON POST to a provider, and its status read the way every provider
//! documents it: 2xx is an answer, 429 is rate limiting, 5xx (and
//! Anthropic's 529) is unavailability, both with an optional `Retry-After`
//! in seconds; any other status is a refusal whose message is the
//! provider's `error.message`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sightline_core::llm::{clip, ModelError};

use crate::SetupError;

/// The most bytes of a provider's answer read.
const MAX_ANSWER_BYTES: usize = 4 << 20;

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Http {
    pub(crate) fn new() -> Result<Self, SetupError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| {
                SetupError::Tls(format!("cannot load the system's root certificates: {e}"))
            })?
            // Plain HTTP only reaches loopback: `check_base_url` refuses the rest.
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// POST `body` to `url` with `headers`; the answer's JSON, or the error
    /// its status means.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Value, ModelError> {
        let mut request = ::http::Request::post(url).header("content-type", "application/json");
        for (name, value) in headers {
            // Marked sensitive: never printed, never compressed into a table.
            let mut value = ::http::HeaderValue::from_str(value).map_err(|_| {
                ModelError::Key("the API key holds a character a header cannot".into())
            })?;
            value.set_sensitive(true);
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ModelError::Transport(format!("building the request: {e}")))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ModelError::Transport(transport(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| ModelError::Malformed(format!("reading the answer: {e}")))?
            .to_bytes();
        match status {
            200..=299 => serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::Malformed(format!("not JSON: {e}"))),
            429 => Err(ModelError::RateLimited {
                status,
                retry_after,
            }),
            500..=599 => Err(ModelError::Unavailable {
                status,
                retry_after,
            }),
            // The provider's words about a refused key can quote part of it
            // (OpenAI echoes its prefix and last characters): not repeated.
            401 | 403 => Err(ModelError::Refused {
                status,
                message:
                    "the provider did not accept the API key, or does not allow this model for it"
                        .into(),
            }),
            _ => Err(ModelError::Refused {
                status,
                message: error_message(&bytes),
            }),
        }
    }
}

/// The provider's `error.message` (both providers nest it so), clipped.
fn error_message(bytes: &[u8]) -> String {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let message = v["error"]["message"]
        .as_str()
        .or_else(|| v["message"].as_str())
        .unwrap_or("(no message)");
    clip(message, 300)
}

/// The transport error and its causes, without the request (whose headers
/// hold the key).
fn transport(e: &hyper_util::client::legacy::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    clip(&out, 300)
}
