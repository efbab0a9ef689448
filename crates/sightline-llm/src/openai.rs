//! OpenAI Chat Completions with tools (`POST {base}/chat/completions`,
//! `Authorization: Bearer`), as OpenAI documents it and as OpenAI-compatible
//! servers (vLLM, Ollama) accept it. The system prompt is the first
//! message; a tool call's arguments are a JSON string; each tool result is
//! a `tool` message naming its call's id.

use std::sync::Arc;

use serde_json::{json, Value};
use sightline_core::llm::{
    Block, ChatRequest, Message, Model, ModelError, ModelFuture, Reply, Role, Stop, ToolCall, Usage,
};

use crate::http::Http;
use crate::{check_base_url, check_model, KeySource, SetupError};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

#[derive(Debug)]
pub struct OpenAi {
    http: Http,
    base_url: String,
    model: String,
    key: Arc<dyn KeySource>,
}

impl OpenAi {
    pub fn new(base_url: &str, model: &str, key: Arc<dyn KeySource>) -> Result<Self, SetupError> {
        Ok(Self {
            http: Http::new()?,
            base_url: check_base_url(base_url)?,
            model: check_model(model)?,
            key,
        })
    }
}

/// The request body for `request`.
pub fn body(model: &str, request: &ChatRequest) -> Value {
    let mut messages = vec![json!({"role": "system", "content": request.system})];
    for m in &request.messages {
        match m.role {
            Role::User => {
                let text = m.text();
                if !text.is_empty() {
                    messages.push(json!({"role": "user", "content": text}));
                }
                for b in &m.blocks {
                    if let Block::ToolResult {
                        id,
                        content,
                        is_error,
                    } = b
                    {
                        let content = if *is_error {
                            format!("error: {content}")
                        } else {
                            content.clone()
                        };
                        messages
                            .push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                    }
                }
            }
            Role::Assistant => {
                let text = m.text();
                let calls: Vec<Value> = m
                    .tool_calls()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": c.arguments}})
                    })
                    .collect();
                let mut msg = json!({
                    "role": "assistant",
                    "content": if text.is_empty() { Value::Null } else { json!(text) },
                });
                if !calls.is_empty() {
                    msg["tool_calls"] = json!(calls);
                }
                messages.push(msg);
            }
        }
    }
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|t| {
            json!({"type": "function",
                   "function": {"name": t.name, "description": t.description, "parameters": t.schema}})
        })
        .collect();
    json!({
        "model": model,
        "messages": messages,
        "tools": tools,
        "tool_choice": "auto",
        "max_completion_tokens": request.max_tokens,
    })
}

/// The reply in an answer.
pub fn parse(v: &Value) -> Result<Reply, ModelError> {
    let malformed = |what: &str| ModelError::Malformed(format!("chat completion: {what}"));
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| malformed("expected choices[0]"))?;
    let message = &choice["message"];
    let mut blocks = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        blocks.push(Block::Text { text: text.into() });
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let function = &call["function"];
        let arguments = match &function["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => return Err(malformed("a tool call without arguments")),
            // Some compatible servers send the object itself.
            other => other.to_string(),
        };
        blocks.push(Block::ToolUse(ToolCall {
            id: call["id"]
                .as_str()
                .ok_or_else(|| malformed("a tool call without an id"))?
                .into(),
            name: function["name"]
                .as_str()
                .ok_or_else(|| malformed("a tool call without a name"))?
                .into(),
            arguments,
        }));
    }
    let stop = match choice["finish_reason"].as_str() {
        Some("tool_calls") => Stop::ToolUse,
        Some("stop") => Stop::EndTurn,
        Some("length") => Stop::MaxTokens,
        _ => Stop::Other,
    };
    Ok(Reply {
        message: Message {
            role: Role::Assistant,
            blocks,
        },
        stop,
        usage: Usage {
            input_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        },
    })
}

impl Model for OpenAi {
    fn profile(&self) -> &'static str {
        "openai"
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn complete<'a>(&'a self, request: &'a ChatRequest) -> ModelFuture<'a> {
        Box::pin(async move {
            let key = self.key.key().await?;
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", key.as_str()));
            let body = serde_json::to_vec(&body(&self.model, request))
                .map_err(|e| ModelError::Malformed(e.to_string()))?;
            let answer = self
                .http
                .post_json(
                    &format!("{}/chat/completions", self.base_url),
                    &[("authorization", bearer.as_str())],
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
            id: "call_1".into(),
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
                        id: "call_1".into(),
                        content: "{}".into(),
                        is_error: false,
                    }],
                },
            ],
            tools: tools(),
            max_tokens: 100,
        };
        let b = body("gpt-x", &request);
        let roles: Vec<&str> = b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"]);
        assert_eq!(b["messages"][2]["content"], Value::Null);
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"sql":"SELECT 1"}"#
        );
        assert_eq!(b["messages"][3]["tool_call_id"], "call_1");
        assert_eq!(b["tools"][0]["function"]["name"], "run_sql");
        let reply = parse(&json!({
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "run_sql", "arguments": "{\"sql\":\"SELECT 1\"}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }))
        .unwrap();
        assert_eq!(reply.stop, Stop::ToolUse);
        assert_eq!(reply.message.tool_calls().next(), Some(&call));
        assert_eq!(reply.usage.total(), 15);
        assert!(matches!(
            parse(&json!({"choices": []})),
            Err(ModelError::Malformed(_))
        ));
    }
}
