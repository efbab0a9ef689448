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

/// What `sightline audit verify --log-group` needs to read the published
/// head back: the operator's own credentials on Sightline's own log group.
pub const VERIFY_ACTIONS: &[&str] = &["logs:GetLogEvents"];

/// Append `message` to `group`/`stream`, creating both if they do not exist.
pub async fn publish(
    session: &AwsSession,
    group: &str,
    stream: &str,
    message: &str,
) -> Result<(), AwsError> {
    let client = crate::sdk_client!(aws_sdk_cloudwatchlogs, &session.config);
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

/// Pages of one stream read before giving up (10,000 events or 1 MB each).
const MAX_PAGES: usize = 100_000;

/// Every message in `group`/`stream`, oldest first.
pub async fn messages(
    session: &AwsSession,
    group: &str,
    stream: &str,
) -> Result<Vec<String>, AwsError> {
    let client = crate::sdk_client!(aws_sdk_cloudwatchlogs, &session.config);
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::Telemetry {
                group: group.to_owned(),
                detail: classify(&e).1,
            })?;
        out.extend(
            page.events()
                .iter()
                .filter_map(|e| e.message())
                .map(str::to_owned),
        );
        // The end of the stream is where the forward token comes back as
        // sent; an empty page before it is not the end.
        let next = page.next_forward_token().map(str::to_owned);
        if next.is_none() || next == token {
            break;
        }
        pages += 1;
        if pages > MAX_PAGES {
            return Err(AwsError::Telemetry {
                group: group.to_owned(),
                detail: format!(
                    "expected the end of stream {stream} within {MAX_PAGES} pages; found more"
                ),
            });
        }
        token = next;
    }
    Ok(out)
}
