//! Ask's `bedrock` profile: Claude (or another model) on Amazon Bedrock
//! through the Converse API with tool use, signed by the web task role,
//! which may call `bedrock:InvokeModel` on the configured model only. Like
//! `secrets`, this is Sightline's own use of its own account, never a
//! scanner action: the monitoring role's manifest holds no `bedrock-runtime`
//! action, and the scanner never calls one.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message as BrMessage, StopReason,
    SystemContentBlock, Tool, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;
use sightline_core::llm::{
    Block, ChatRequest, Message, Model, ModelError, ModelFuture, Reply, Role, Stop, ToolCall, Usage,
};

use crate::session::AwsSession;

/// The one action the web task role needs for this, on the model's ARN.
pub const TASK_ROLE_ACTIONS: &[&str] = &["bedrock:InvokeModel"];

#[derive(Debug)]
pub struct Converse {
    client: aws_sdk_bedrockruntime::Client,
    model: String,
    timeout: Duration,
}

impl Converse {
    /// A client in `region` (the model's), with `endpoint` overriding the
    /// regional endpoint (a VPC endpoint's DNS name; the tests' double).
    /// The SDK does not retry: Ask's pipeline decides, within the
    /// question's deadline.
    /// One call may take `timeout` (the session's own per-call timeout, made
    /// for quick control-plane reads, would cut a model's answer short).
    pub fn new(
        session: &AwsSession,
        region: &str,
        endpoint: Option<&str>,
        model: &str,
        timeout: Duration,
    ) -> Self {
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(&session.in_region(region))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .timeout_config(
                aws_smithy_types::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(timeout)
                    .operation_timeout(timeout)
                    .build(),
            );
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        Self {
            client: aws_sdk_bedrockruntime::Client::from_conf(config.build()),
            model: model.to_owned(),
            timeout,
        }
    }
}

pub fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Document::Number(Number::PosInt(u)),
            (_, Some(i), _) => Document::Number(Number::NegInt(i)),
            (_, _, f) => Document::Number(Number::Float(f.unwrap_or(0.0))),
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub fn to_json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Document::Object(o) => {
            // Sorted, so that the same call always prints the same arguments.
            let sorted: std::collections::BTreeMap<_, _> = o.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect(),
            )
        }
    }
}

fn build_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Malformed(format!("building the Converse request: {e}"))
}

fn messages(request: &ChatRequest) -> Result<Vec<BrMessage>, ModelError> {
    request
        .messages
        .iter()
        .map(|m| {
            let mut content = Vec::new();
            for b in &m.blocks {
                match b {
                    Block::Text { text } if text.is_empty() => {}
                    Block::Text { text } => content.push(ContentBlock::Text(text.clone())),
                    Block::ToolUse(c) => content.push(ContentBlock::ToolUse(
                        ToolUseBlock::builder()
                            .tool_use_id(&c.id)
                            .name(&c.name)
                            .input(to_document(
                                &serde_json::from_str(&c.arguments).unwrap_or(Value::Null),
                            ))
                            .build()
                            .map_err(build_error)?,
                    )),
                    Block::ToolResult {
                        id,
                        content: text,
                        is_error,
                    } => content.push(ContentBlock::ToolResult(
                        // No `status`: Converse accepts it for Claude and Nova
                        // only, and refuses the request for other models.
                        ToolResultBlock::builder()
                            .tool_use_id(id)
                            .content(ToolResultContentBlock::Text(if *is_error {
                                format!("error: {text}")
                            } else {
                                text.clone()
                            }))
                            .build()
                            .map_err(build_error)?,
                    )),
                }
            }
            BrMessage::builder()
                .role(match m.role {
                    Role::User => ConversationRole::User,
                    Role::Assistant => ConversationRole::Assistant,
                })
                .set_content(Some(content))
                .build()
                .map_err(build_error)
        })
        .collect()
}

fn tool_config(request: &ChatRequest) -> Result<ToolConfiguration, ModelError> {
    let mut tools = ToolConfiguration::builder();
    for t in &request.tools {
        tools = tools.tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name(t.name)
                .description(t.description)
                .input_schema(ToolInputSchema::Json(to_document(&t.schema)))
                .build()
                .map_err(build_error)?,
        ));
    }
    tools.build().map_err(build_error)
}

fn service_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
    timeout: Duration,
) -> ModelError {
    if matches!(e, SdkError::TimeoutError(_)) {
        return ModelError::Timeout(timeout);
    }
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_owned();
    let message = e.message().unwrap_or_default().to_owned();
    match (status, code.as_str()) {
        (_, "ThrottlingException") | (Some(429), _) => ModelError::RateLimited {
            status: status.unwrap_or(429),
            retry_after: None,
        },
        (_, "ModelTimeoutException") => ModelError::Timeout(timeout),
        (Some(s), _) if s >= 500 => ModelError::Unavailable {
            status: s,
            retry_after: None,
        },
        // AccessDenied names the task role and its account: not repeated.
        (Some(s @ (401 | 403)), _) => {
            tracing::warn!(
                status = s,
                code,
                "Bedrock refused the Ask model call: {message}"
            );
            ModelError::Refused {
                status: s,
                message: "Bedrock refused the call: the task role may not invoke this model here (see the server log)".into(),
            }
        }
        (Some(s), _) => ModelError::Refused {
            status: s,
            message: sightline_core::llm::clip(&format!("{code}: {message}"), 300),
        },
        (None, _) => ModelError::Transport(sightline_core::llm::clip(
            &crate::session::credentials_failure(&e),
            300,
        )),
    }
}

impl Model for Converse {
    fn profile(&self) -> &'static str {
        "bedrock"
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> ModelFuture<'a> {
        Box::pin(async move {
            let out = self
                .client
                .converse()
                .model_id(&self.model)
                .system(SystemContentBlock::Text(request.system.clone()))
                .set_messages(Some(messages(request)?))
                .tool_config(tool_config(request)?)
                .inference_config(
                    InferenceConfiguration::builder()
                        .max_tokens(i32::try_from(request.max_tokens).unwrap_or(i32::MAX))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| service_error(e, self.timeout))?;
            let message = out
                .output()
                .and_then(|o| o.as_message().ok())
                .ok_or_else(|| {
                    ModelError::Malformed("Converse: expected an output message".into())
                })?;
            let mut blocks = Vec::new();
            for b in message.content() {
                match b {
                    ContentBlock::Text(text) => blocks.push(Block::Text { text: text.clone() }),
                    ContentBlock::ToolUse(u) => blocks.push(Block::ToolUse(ToolCall {
                        id: u.tool_use_id().to_owned(),
                        name: u.name().to_owned(),
                        arguments: to_json(u.input()).to_string(),
                    })),
                    _ => {}
                }
            }
            let stop = match out.stop_reason() {
                StopReason::ToolUse => Stop::ToolUse,
                StopReason::EndTurn | StopReason::StopSequence => Stop::EndTurn,
                StopReason::MaxTokens => Stop::MaxTokens,
                _ => Stop::Other,
            };
            let usage = out.usage().map_or(Usage::default(), |u| Usage {
                input_tokens: u.input_tokens().max(0) as u64,
                output_tokens: u.output_tokens().max(0) as u64,
            });
            Ok(Reply {
                message: Message {
                    role: Role::Assistant,
                    blocks,
                },
                stop,
                usage,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_cut_by_its_timeout_says_so_with_the_configured_time() {
        use aws_sdk_bedrockruntime::operation::converse::ConverseError;
        let cut: SdkError<ConverseError, aws_smithy_runtime_api::http::Response> =
            SdkError::timeout_error("operation attempt timeout");
        assert_eq!(
            service_error(cut, Duration::from_secs(45)),
            ModelError::Timeout(Duration::from_secs(45))
        );
    }

    #[test]
    fn json_and_documents_convert_both_ways() {
        let v = json!({"sql": "SELECT 1", "limit": 5, "neg": -2, "f": 1.5, "ok": true,
                       "none": null, "list": ["a", {"b": 1}]});
        assert_eq!(to_json(&to_document(&v)), v);
    }
}
