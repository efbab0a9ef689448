//! A provider double: a loopback server that speaks each model provider's
//! wire protocol as documented, checks each request as the provider would,
//! and plays a script of answers.
//!
//! - OpenAI Chat Completions (`POST /v1/chat/completions`): `Authorization:
//!   Bearer <key>`, the model, a leading `system` message, tools as
//!   `{"type": "function", "function": {name, description, parameters}}`,
//!   every assistant `tool_calls` id answered by a `tool` message before
//!   anything else, `max_completion_tokens`.
//! - Anthropic Messages (`POST /v1/messages`): `x-api-key`,
//!   `anthropic-version: 2023-06-01`, the model, `max_tokens`, a top-level
//!   `system`, messages that start with `user` and alternate, each
//!   `tool_use` of an assistant message answered by a `tool_result` in the
//!   next user message, tools as `{name, description, input_schema}`.
//! - Bedrock Converse (`POST /model/{modelId}/converse`, reached through
//!   the SDK's endpoint override): a SigV4 `Authorization` for the service
//!   `bedrock`, `X-Amz-Date`, the model in the path, `system` and
//!   `messages` as content-block lists, `toolConfig.tools[].toolSpec` with
//!   `inputSchema.json`, every `toolUse` answered by a `toolResult`,
//!   `inferenceConfig.maxTokens`.
//!
//! A request that breaks its protocol is answered as the provider answers
//! one (400 or 401) and recorded as a violation, which tests assert away.

#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Bedrock,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Tool calls: (tool name, arguments as JSON text, possibly malformed).
    Tools(Vec<(String, String)>),
    /// A final answer.
    Answer(String),
    /// An error status, with `Retry-After` seconds.
    Status(u16, Option<u64>),
    /// Wait, then answer.
    Slow(Duration, Box<Scripted>),
}

impl Scripted {
    pub fn sql(sql: &str) -> Self {
        Scripted::Tools(vec![(
            "run_sql".into(),
            json!({"sql": sql, "purpose": "scripted"}).to_string(),
        )])
    }

    pub fn tool(name: &str, arguments: &str) -> Self {
        Scripted::Tools(vec![(name.into(), arguments.into())])
    }

    pub fn answer(text: &str) -> Self {
        Scripted::Answer(text.into())
    }
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<Scripted>,
    /// Every request body as received, parsed.
    requests: Vec<Value>,
    /// Every request body as received, raw.
    bodies: Vec<String>,
    violations: Vec<String>,
    next_id: u64,
    usage: (u64, u64),
}

#[derive(Clone)]
struct Shared {
    wire: Wire,
    model: String,
    key: Arc<Mutex<String>>,
    inner: Arc<Mutex<Inner>>,
}

pub struct Double {
    /// The base URL to configure: `http://127.0.0.1:PORT/v1` for OpenAI,
    /// `http://127.0.0.1:PORT` for Anthropic and Bedrock.
    pub base_url: String,
    shared: Shared,
}

impl Double {
    pub async fn start(wire: Wire, model: &str, key: &str) -> Double {
        let shared = Shared {
            wire,
            model: model.into(),
            key: Arc::new(Mutex::new(key.into())),
            inner: Arc::new(Mutex::new(Inner {
                usage: (100, 20),
                ..Inner::default()
            })),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/model/{model}/converse", post(bedrock))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let base_url = match wire {
            Wire::OpenAi => format!("http://127.0.0.1:{port}/v1"),
            _ => format!("http://127.0.0.1:{port}"),
        };
        Double { base_url, shared }
    }

    pub fn script(&self, steps: Vec<Scripted>) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.script = steps.into();
    }

    /// Tokens each answer reports (input, output).
    pub fn usage(&self, input: u64, output: u64) {
        self.shared.inner.lock().unwrap().usage = (input, output);
    }

    /// The key the double accepts from now on (a rotation).
    pub fn rotate_key(&self, key: &str) {
        *self.shared.key.lock().unwrap() = key.into();
    }

    pub fn requests(&self) -> Vec<Value> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    pub fn bodies(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().bodies.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().violations.clone()
    }

    pub fn unplayed(&self) -> usize {
        self.shared.inner.lock().unwrap().script.len()
    }

    pub fn clear(&self) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.requests.clear();
        inner.bodies.clear();
        inner.violations.clear();
    }
}

fn refuse(shared: &Shared, status: StatusCode, why: String, body: Value) -> Response {
    shared.inner.lock().unwrap().violations.push(why);
    (status, axum::Json(body)).into_response()
}

/// Record the request, check it with `check`, and take the next scripted step.
async fn take(
    shared: &Shared,
    body: &Bytes,
    check: impl FnOnce(&Value) -> Result<(), String>,
) -> Result<(Scripted, u64, (u64, u64)), String> {
    let text = String::from_utf8_lossy(body).into_owned();
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("body is not JSON: {e}"))?;
    {
        let mut inner = shared.inner.lock().unwrap();
        inner.bodies.push(text);
        inner.requests.push(value.clone());
    }
    check(&value)?;
    let (step, id, usage) = {
        let mut inner = shared.inner.lock().unwrap();
        let step = inner
            .script
            .pop_front()
            .ok_or_else(|| "a request beyond the script".to_owned())?;
        inner.next_id += 1;
        (step, inner.next_id, inner.usage)
    };
    let mut step = step;
    while let Scripted::Slow(wait, next) = step {
        tokio::time::sleep(wait).await;
        step = *next;
    }
    Ok((step, id, usage))
}

fn tool_names(tools: &[Value], name_of: impl Fn(&Value) -> Option<&str>) -> Result<(), String> {
    let names: BTreeSet<&str> = tools.iter().filter_map(&name_of).collect();
    if names != BTreeSet::from(["run_sql", "search_resources"]) || tools.len() != 2 {
        return Err(format!(
            "tools: expected run_sql and search_resources, found {names:?}"
        ));
    }
    Ok(())
}

fn schema_ok(schema: &Value) -> Result<(), String> {
    if schema["type"] != "object" || !schema["properties"].is_object() {
        return Err(format!(
            "a tool schema is not a JSON-schema object: {schema}"
        ));
    }
    Ok(())
}

fn status_response(shared: &Shared, status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    let body = match shared.wire {
        Wire::OpenAi => {
            json!({"error": {"message": "scripted", "type": "server_error", "code": null}})
        }
        Wire::Anthropic => {
            json!({"type": "error", "error": {"type": if status == 429 { "rate_limit_error" } else { "api_error" }, "message": "scripted"}})
        }
        Wire::Bedrock => json!({"message": "scripted"}),
    };
    let mut response = (code, axum::Json(body)).into_response();
    if let Some(s) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    if shared.wire == Wire::Bedrock {
        let kind = match status {
            429 => "ThrottlingException",
            503 => "ServiceUnavailableException",
            _ => "InternalServerException",
        };
        response
            .headers_mut()
            .insert("x-amzn-errortype", kind.parse().unwrap());
    }
    response
}

// ---- OpenAI ----

fn check_openai(
    shared: &Shared,
    headers: &HeaderMap,
    v: &Value,
) -> Result<(), (StatusCode, String)> {
    let key = shared.key.lock().unwrap().clone();
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {key}") {
        return Err((
            StatusCode::UNAUTHORIZED,
            "authorization: not the Bearer key".into(),
        ));
    }
    let bad = |m: String| Err((StatusCode::BAD_REQUEST, m));
    if v["model"] != shared.model.as_str() {
        return Err((StatusCode::NOT_FOUND, format!("model: {}", v["model"])));
    }
    if v["max_completion_tokens"].as_u64().is_none_or(|n| n < 1) {
        return bad("max_completion_tokens: expected a positive integer".into());
    }
    let tools = v["tools"].as_array().cloned().unwrap_or_default();
    for t in &tools {
        if t["type"] != "function" || !t["function"]["description"].is_string() {
            return bad(format!("tool: {t}"));
        }
        schema_ok(&t["function"]["parameters"]).or_else(bad)?;
    }
    tool_names(&tools, |t| t["function"]["name"].as_str()).or_else(bad)?;
    let messages = v["messages"].as_array().cloned().unwrap_or_default();
    if messages.first().map(|m| &m["role"]) != Some(&json!("system")) {
        return bad("messages: expected a system message first".into());
    }
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for (i, m) in messages.iter().enumerate().skip(1) {
        match m["role"].as_str() {
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or("");
                if !pending.remove(id) {
                    return bad(format!(
                        "messages[{i}]: a tool message for no pending call {id:?}"
                    ));
                }
                if !m["content"].is_string() {
                    return bad(format!("messages[{i}]: tool content is not a string"));
                }
            }
            Some(role @ ("user" | "assistant")) => {
                if !pending.is_empty() {
                    return bad(format!(
                        "messages[{i}]: {role} before the tool calls {pending:?} were answered"
                    ));
                }
                if role == "user" && !m["content"].is_string() {
                    return bad(format!("messages[{i}]: user content is not a string"));
                }
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    if c["type"] != "function" || !c["function"]["arguments"].is_string() {
                        return bad(format!(
                            "messages[{i}]: a tool call not in the documented shape: {c}"
                        ));
                    }
                    pending.insert(c["id"].as_str().unwrap_or("").to_owned());
                }
            }
            other => return bad(format!("messages[{i}]: role {other:?}")),
        }
    }
    if !pending.is_empty() {
        return bad(format!("the tool calls {pending:?} were not answered"));
    }
    if messages.last().map(|m| &m["role"]) == Some(&json!("assistant")) {
        return bad("messages: the last is the assistant's".into());
    }
    Ok(())
}

async fn openai(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut failed = None;
    let taken = take(&shared, &body, |v| {
        check_openai(&shared, &headers, v).map_err(|(status, why)| {
            failed = Some(status);
            why
        })
    })
    .await;
    let (step, id, (input, output)) = match taken {
        Ok(t) => t,
        Err(why) => {
            let status = failed.unwrap_or(StatusCode::BAD_REQUEST);
            return refuse(
                &shared,
                status,
                why.clone(),
                json!({"error": {"message": why, "type": "invalid_request_error"}}),
            );
        }
    };
    let usage = json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output});
    match step {
        Scripted::Tools(calls) => {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(n, (name, args))| json!({"id": format!("call_{id}_{n}"), "type": "function",
                    "function": {"name": name, "arguments": args}}))
                .collect();
            axum::Json(json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion", "model": shared.model,
                "choices": [{"index": 0, "finish_reason": "tool_calls",
                    "message": {"role": "assistant", "content": null, "tool_calls": calls}}],
                "usage": usage})).into_response()
        }
        Scripted::Answer(text) => axum::Json(json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion",
            "model": shared.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": usage})).into_response(),
        Scripted::Status(status, retry) => status_response(&shared, status, retry),
        Scripted::Slow(..) => unreachable!("unwrapped in take"),
    }
}

// ---- Anthropic ----

fn check_anthropic(
    shared: &Shared,
    headers: &HeaderMap,
    v: &Value,
) -> Result<(), (StatusCode, String)> {
    let key = shared.key.lock().unwrap().clone();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if header("x-api-key") != key {
        return Err((StatusCode::UNAUTHORIZED, "x-api-key: not the key".into()));
    }
    let bad = |m: String| Err((StatusCode::BAD_REQUEST, m));
    if header("anthropic-version") != "2023-06-01" {
        return bad("anthropic-version: expected 2023-06-01".into());
    }
    if v["model"] != shared.model.as_str() {
        return Err((StatusCode::NOT_FOUND, format!("model: {}", v["model"])));
    }
    if v["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        return bad("max_tokens: required, a positive integer".into());
    }
    if !v["system"].is_string() {
        return bad("system: expected a string".into());
    }
    let tools = v["tools"].as_array().cloned().unwrap_or_default();
    for t in &tools {
        if !t["description"].is_string() {
            return bad(format!("tool: {t}"));
        }
        schema_ok(&t["input_schema"]).or_else(bad)?;
    }
    tool_names(&tools, |t| t["name"].as_str()).or_else(bad)?;
    let messages = v["messages"].as_array().cloned().unwrap_or_default();
    let mut expected = "user";
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role != expected {
            return bad(format!(
                "messages[{i}]: expected role {expected}, found {role:?}"
            ));
        }
        let content = m["content"].as_array().cloned().unwrap_or_default();
        if content.is_empty() {
            return bad(format!("messages[{i}]: empty content"));
        }
        let mut answered = BTreeSet::new();
        for b in &content {
            match (role, b["type"].as_str()) {
                (_, Some("text")) if b["text"].as_str().is_some_and(|t| !t.is_empty()) => {}
                ("assistant", Some("tool_use")) if b["input"].is_object() => {
                    pending.insert(b["id"].as_str().unwrap_or("").to_owned());
                }
                ("user", Some("tool_result")) => {
                    answered.insert(b["tool_use_id"].as_str().unwrap_or("").to_owned());
                }
                _ => return bad(format!("messages[{i}]: a block not allowed here: {b}")),
            }
        }
        if role == "user" {
            if answered != pending {
                return bad(format!(
                    "messages[{i}]: tool results {answered:?} for tool uses {pending:?}"
                ));
            }
            pending.clear();
        }
        expected = if role == "user" { "assistant" } else { "user" };
    }
    if expected != "assistant" {
        return bad("messages: expected the last to be the user's".into());
    }
    Ok(())
}

async fn anthropic(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut failed = None;
    let taken = take(&shared, &body, |v| {
        check_anthropic(&shared, &headers, v).map_err(|(status, why)| {
            failed = Some(status);
            why
        })
    })
    .await;
    let (step, id, (input, output)) = match taken {
        Ok(t) => t,
        Err(why) => {
            let status = failed.unwrap_or(StatusCode::BAD_REQUEST);
            return refuse(
                &shared,
                status,
                why.clone(),
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": why}}),
            );
        }
    };
    let usage = json!({"input_tokens": input, "output_tokens": output});
    let message = |content: Vec<Value>, stop: &str| {
        axum::Json(
            json!({"id": format!("msg_{id}"), "type": "message", "role": "assistant",
            "model": shared.model, "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": usage}),
        )
        .into_response()
    };
    match step {
        Scripted::Tools(calls) => message(
            calls
                .iter()
                .enumerate()
                .map(|(n, (name, args))| json!({"type": "tool_use", "id": format!("toolu_{id}_{n}"),
                    "name": name, "input": serde_json::from_str::<Value>(args).unwrap_or(json!({"raw": args}))}))
                .collect(),
            "tool_use",
        ),
        Scripted::Answer(text) => message(vec![json!({"type": "text", "text": text})], "end_turn"),
        Scripted::Status(status, retry) => status_response(&shared, status, retry),
        Scripted::Slow(..) => unreachable!("unwrapped in take"),
    }
}

// ---- Bedrock Converse ----

fn check_bedrock(
    shared: &Shared,
    model: &str,
    headers: &HeaderMap,
    v: &Value,
) -> Result<(), String> {
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !auth.starts_with("AWS4-HMAC-SHA256 Credential=") || !auth.contains("/bedrock/aws4_request")
    {
        return Err(format!(
            "authorization: not SigV4 for the service bedrock: {auth:?}"
        ));
    }
    if headers.get("x-amz-date").is_none() {
        return Err("x-amz-date: missing".into());
    }
    if model != shared.model {
        return Err(format!("model in the path: {model:?}"));
    }
    if v["inferenceConfig"]["maxTokens"]
        .as_u64()
        .is_none_or(|n| n < 1)
    {
        return Err("inferenceConfig.maxTokens: expected a positive integer".into());
    }
    if !v["system"][0]["text"].is_string() {
        return Err("system: expected [{\"text\": ...}]".into());
    }
    let tools = v["toolConfig"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in &tools {
        schema_ok(&t["toolSpec"]["inputSchema"]["json"])?;
    }
    tool_names(&tools, |t| t["toolSpec"]["name"].as_str())?;
    let messages = v["messages"].as_array().cloned().unwrap_or_default();
    let mut expected = "user";
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role != expected {
            return Err(format!(
                "messages[{i}]: expected role {expected}, found {role:?}"
            ));
        }
        let mut answered = BTreeSet::new();
        for b in m["content"].as_array().into_iter().flatten() {
            if b["text"].is_string() {
                continue;
            }
            if role == "assistant" && b["toolUse"]["input"].is_object() {
                pending.insert(b["toolUse"]["toolUseId"].as_str().unwrap_or("").to_owned());
            } else if role == "user" && b["toolResult"]["content"][0]["text"].is_string() {
                answered.insert(
                    b["toolResult"]["toolUseId"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                );
            } else {
                return Err(format!("messages[{i}]: a block not allowed here: {b}"));
            }
        }
        if role == "user" {
            if answered != pending {
                return Err(format!(
                    "messages[{i}]: tool results {answered:?} for tool uses {pending:?}"
                ));
            }
            pending.clear();
        }
        expected = if role == "user" { "assistant" } else { "user" };
    }
    if expected != "assistant" {
        return Err("messages: expected the last to be the user's".into());
    }
    Ok(())
}

async fn bedrock(
    State(shared): State<Shared>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let taken = take(&shared, &body, |v| {
        check_bedrock(&shared, &model, &headers, v)
    })
    .await;
    let (step, id, (input, output)) = match taken {
        Ok(t) => t,
        Err(why) => {
            let mut r = refuse(
                &shared,
                StatusCode::BAD_REQUEST,
                why.clone(),
                json!({"message": why}),
            );
            r.headers_mut()
                .insert("x-amzn-errortype", "ValidationException".parse().unwrap());
            return r;
        }
    };
    let usage =
        json!({"inputTokens": input, "outputTokens": output, "totalTokens": input + output});
    let message = |content: Vec<Value>, stop: &str| {
        axum::Json(
            json!({"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 5}}),
        )
        .into_response()
    };
    match step {
        Scripted::Tools(calls) => message(
            calls
                .iter()
                .enumerate()
                .map(|(n, (name, args))| json!({"toolUse": {"toolUseId": format!("tooluse_{id}_{n}"),
                    "name": name, "input": serde_json::from_str::<Value>(args).unwrap_or(json!({"raw": args}))}}))
                .collect(),
            "tool_use",
        ),
        Scripted::Answer(text) => message(vec![json!({"text": text})], "end_turn"),
        Scripted::Status(status, retry) => status_response(&shared, status, retry),
        Scripted::Slow(..) => unreachable!("unwrapped in take"),
    }
}
