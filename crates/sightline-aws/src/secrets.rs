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
    let client = aws_sdk_secretsmanager::Client::new(&session.config);
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
    let client = aws_sdk_secretsmanager::Client::new(&session.config);
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
