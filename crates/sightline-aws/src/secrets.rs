//! Sightline's own configuration secrets in its own account (database
//! credentials, the key-encryption key, integration keys), read with the
//! task role. Like `telemetry`, this is not a scanner action: the monitoring
//! role's manifest never holds GetSecretValue, and the customer's secrets are
//! never read.

use crate::error::AwsError;
use crate::record::classify;
use crate::session::AwsSession;

/// Actions the task role needs for this, on its own secrets only.
pub const TASK_ROLE_ACTIONS: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
];

/// The string value of `secret_id` (a name or ARN).
pub async fn secret_string(session: &AwsSession, secret_id: &str) -> Result<String, AwsError> {
    let client = crate::sdk_client!(aws_sdk_secretsmanager, &session.config);
    let failed = |detail: String| AwsError::Secret {
        secret_id: secret_id.to_owned(),
        detail,
    };
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| failed(classify(&e).1))?;
    out.secret_string
        .ok_or_else(|| failed("expected a string secret, found a binary one".into()))
}

/// Store a new value of `secret_id` (the bootstrap owner's one-time password).
pub async fn put_secret_string(
    session: &AwsSession,
    secret_id: &str,
    value: &str,
) -> Result<(), AwsError> {
    let client = crate::sdk_client!(aws_sdk_secretsmanager, &session.config);
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| AwsError::Secret {
            secret_id: secret_id.to_owned(),
            detail: classify(&e).1,
        })?;
    Ok(())
}

/// Ask's model API key, read from Sightline's own secret (the stack's
/// `LlmApiKeySecret`, readable by the web task role only) and kept for
/// `ttl`, so that a rotated key takes effect within it. A failure is
/// reported without the value; an empty secret is refused.
pub struct SecretKey {
    session: AwsSession,
    secret_id: String,
    ttl: std::time::Duration,
    cached: tokio::sync::Mutex<Option<(std::time::Instant, sightline_core::llm::Secret)>>,
}

impl SecretKey {
    pub fn new(session: AwsSession, secret_id: String, ttl: std::time::Duration) -> Self {
        Self {
            session,
            secret_id,
            ttl,
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl sightline_core::llm::KeySource for SecretKey {
    fn key(&self) -> sightline_core::llm::KeyFuture<'_> {
        Box::pin(async move {
            use sightline_core::llm::ModelError;
            let mut cached = self.cached.lock().await;
            if let Some((at, key)) = cached.as_ref() {
                if at.elapsed() < self.ttl {
                    return Ok(key.clone());
                }
            }
            let value = zeroize::Zeroizing::new(
                secret_string(&self.session, &self.secret_id)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, "Ask's API key could not be read");
                        ModelError::Key("its secret could not be read (see the server log)".into())
                    })?,
            );
            let key = zeroize::Zeroizing::new(value.trim().to_owned());
            if key.is_empty() {
                return Err(ModelError::Key(
                    "its secret holds an empty value, expected an API key".into(),
                ));
            }
            *cached = Some((std::time::Instant::now(), key.clone()));
            Ok(key)
        })
    }
}
