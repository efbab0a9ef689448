//! Sightline's own telemetry in its own account: the audit chain head,
//! written to a CloudWatch Logs stream so that rewriting the database is
//! detectable from outside it. These are writes to Sightline's log group
//! with the task role; they are not scanner actions and are not in the
//! monitoring role's manifest, which stays read-only.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use crate::error::AwsError;
use crate::record::classify;
use crate::session::AwsSession;

/// Actions the task role needs for this, documented for the deployment templates.
pub const TASK_ROLE_ACTIONS: &[&str] = &[
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
];

/// Append `message` to `group`/`stream`, creating both if they do not exist.
pub async fn publish(
    session: &AwsSession,
    group: &str,
    stream: &str,
    message: &str,
) -> Result<(), AwsError> {
    let client = aws_sdk_cloudwatchlogs::Client::new(&session.config);
    let telemetry = |e: String| AwsError::Telemetry {
        group: group.to_owned(),
        detail: e,
    };
    match client.create_log_group().log_group_name(group).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
        Err(e) => return Err(telemetry(classify(&e).1)),
    }
    match client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
        Err(e) => return Err(telemetry(classify(&e).1)),
    }
    let event = InputLogEvent::builder()
        .timestamp(chrono::Utc::now().timestamp_millis())
        .message(message)
        .build()
        .map_err(|e| telemetry(e.to_string()))?;
    client
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .log_events(event)
        .send()
        .await
        .map_err(|e| telemetry(classify(&e).1))?;
    Ok(())
}
