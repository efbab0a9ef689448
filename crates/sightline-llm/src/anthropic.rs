//! Anthropic's Messages API with tool use (`POST {base}/v1/messages`,
//! `x-api-key`, `anthropic-version: 2023-06-01`), as Anthropic documents
//! it: the system prompt is a top-level field, `max_tokens` is required,
//! messages alternate user and assistant, a tool call is a `tool_use` block
//! whose `input` is an object, and its result a `tool_result` block in the
//! next user message.

use std::sync::Arc;

use serde_json::{json, Value};
use sightline_core::llm::{
    Block, ChatRequest, Message, Model, ModelError, ModelFuture, Reply, Role, Stop, ToolCall, Usage,
};

use crate::http::Http;
use crate::{check_base_url, check_model, KeySource, SetupError};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct Anthropic {
    http: Http,
    base_url: String,
    model: String,
    key: Arc<dyn KeySource>,
}

impl Anthropic {
    pub fn new(base_url: &str, model: &str, key: Arc<dyn KeySource>) -> Result<Self, SetupError> {
        Ok(Self {
            http: Http::new()?,
            base_url: check_base_url(base_url)?,
            model: check_model(model)?,
            key,
        })
    }
}

pub fn body(model: &str, request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let content: Vec<Value> = m
                .blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text } if text.is_empty() => None,
                    Block::Text { text } => Some(json!({"type": "text", "text": text})),
                    Block::ToolUse(c) => Some(json!({
                        "type": "tool_use", "id": c.id, "name": c.name,
                        // Only calls that passed validation are sent back, so
                        // their arguments are an object.
                        "input": serde_json::from_str::<Value>(&c.arguments).unwrap_or_else(|_| json!({})),
                    })),
                    Block::ToolResult {
                        id,
                        content,
                        is_error,
                    } => Some(json!({
                        "type": "tool_result", "tool_use_id": id,
                        "content": content, "is_error": is_error,
                    })),
                })
                .collect();
            json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "assistant" },
                "content": content,
            })
        })
        .collect();
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.schema}))
        .collect();
    json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "messages": messages,
        "tools": tools,
    })
}

pub fn parse(v: &Value) -> Result<Reply, ModelError> {
    let malformed = |what: &str| ModelError::Malformed(format!("message: {what}"));
    let content = v["content"]
        .as_array()
        .ok_or_else(|| malformed("expected a content array"))?;
    let mut blocks = Vec::new();
    for b in content {
        match b["type"].as_str() {
            Some("text") => blocks.push(Block::Text {
                text: b["text"].as_str().unwrap_or_default().into(),
            }),
            Some("tool_use") => blocks.push(Block::ToolUse(ToolCall {
                id: b["id"]
                    .as_str()
                    .ok_or_else(|| malformed("a tool_use without an id"))?
                    .into(),
                name: b["name"]
                    .as_str()
                    .ok_or_else(|| malformed("a tool_use without a name"))?
                    .into(),
                arguments: b["input"].to_string(),
            })),
            // Thinking and other blocks carry nothing Ask uses.
            _ => {}
        }
    }
    let stop = match v["stop_reason"].as_str() {
        Some("tool_use") => Stop::ToolUse,
        Some("end_turn") | Some("stop_sequence") => Stop::EndTurn,
        Some("max_tokens") => Stop::MaxTokens,
        _ => Stop::Other,
    };
    Ok(Reply {
        message: Message {
            role: Role::Assistant,
            blocks,
        },
        stop,
        usage: Usage {
            input_tokens: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
        },
    })
}

impl Model for Anthropic {
    fn profile(&self) -> &'static str {
        "anthropic"
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> ModelFuture<'a> {
        Box::pin(async move {
            let key = self.key.key().await?;
            let body = serde_json::to_vec(&body(&self.model, request))
                .map_err(|e| ModelError::Malformed(e.to_string()))?;
            let answer = self
                .http
                .post_json(
                    &format!("{}/v1/messages", self.base_url),
                    &[("x-api-key", key.as_str()), ("anthropic-version", VERSION)],
                    body,
                )
                .await?;
            parse(&answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::llm::tools;

    #[test]
    fn a_tool_round_trip_is_in_the_documented_shape() {
        let call = ToolCall {
            id: "toolu_1".into(),
            name: "run_sql".into(),
            arguments: r#"{"sql":"SELECT 1"}"#.into(),
        };
        let request = ChatRequest {
            system: "sys".into(),
            messages: vec![
                Message::user("q"),
                Message {
                    role: Role::Assistant,
                    blocks: vec![Block::ToolUse(call.clone())],
                },
                Message {
                    role: Role::User,
                    blocks: vec![Block::ToolResult {
                        id: "toolu_1".into(),
                        content: "{}".into(),
                        is_error: true,
                    }],
                },
            ],
            tools: tools(),
            max_tokens: 100,
        };
        let b = body("claude-x", &request);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["messages"][1]["content"][0]["input"]["sql"], "SELECT 1");
        assert_eq!(b["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(b["messages"][2]["content"][0]["is_error"], true);
        assert_eq!(b["tools"][1]["input_schema"]["type"], "object");
        let reply = parse(&json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_1", "name": "run_sql", "input": {"sql": "SELECT 1"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 7, "output_tokens": 3}
        }))
        .unwrap();
        assert_eq!(reply.stop, Stop::ToolUse);
        assert_eq!(reply.message.text(), "Let me look.");
        assert_eq!(
            reply.message.tool_calls().next().unwrap().arguments,
            r#"{"sql":"SELECT 1"}"#
        );
        assert_eq!(reply.usage.total(), 10);
    }
}
