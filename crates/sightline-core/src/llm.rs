//! What Ask says to a language model and what it takes back, whichever
//! provider serves it: a conversation of text, tool calls and tool results,
//! the two tools a model is given, and the check of every tool call's
//! arguments against the tool's JSON schema. The providers' wire formats
//! (OpenAI chat completions, Anthropic messages, Bedrock Converse) are
//! adapters over these types; nothing here does I/O.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// Who said a message. The system prompt is not a message: each provider
/// carries it in its own place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A tool call as the model made it. `arguments` is the JSON text the model
/// wrote (OpenAI sends a string; the others an object, re-serialised), so
/// that malformed JSON reaches the validator as it came.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    ToolUse(ToolCall),
    ToolResult {
        id: String,
        content: String,
        is_error: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: Role,
    pub blocks: Vec<Block>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            blocks: vec![Block::Text { text: text.into() }],
        }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            blocks: vec![Block::Text { text: text.into() }],
        }
    }

    /// The message's text blocks, joined.
    pub fn text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.blocks.iter().filter_map(|b| match b {
            Block::ToolUse(call) => Some(call),
            _ => None,
        })
    }
}

/// A tool as every provider declares it: a name, what it does, and the JSON
/// schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// The most output tokens this call may spend.
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// It wants its tool calls run.
    ToolUse,
    /// It answered.
    EndTurn,
    /// It ran out of output tokens.
    MaxTokens,
    /// Anything else the provider said (a content filter, say).
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub message: Message,
    pub stop: Stop,
    pub usage: Usage,
}

/// What went wrong talking to the provider. Each says what the asker can do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("the model provider is rate-limiting requests (HTTP {status}){}", after(*.retry_after))]
    RateLimited {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the model provider is unavailable (HTTP {status}){}", after(*.retry_after))]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the model provider did not answer within {0:?}")]
    Timeout(Duration),
    /// The provider refused the request itself (4xx other than 429): a bad
    /// key, an unknown model, a request it could not read.
    #[error("the model provider refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// The provider's answer was not in its documented shape.
    #[error("the model provider's answer could not be read: {0}")]
    Malformed(String),
    #[error("the model provider could not be reached: {0}")]
    Transport(String),
    /// The API key could not be read (Secrets Manager, environment).
    #[error("the model's API key could not be read: {0}")]
    Key(String),
}

fn after(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| {
        format!("; it asks to retry after {} s", d.as_secs())
    })
}

impl ModelError {
    /// How long the provider asked us to wait, when it is worth retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::RateLimited { retry_after, .. }
            | ModelError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// 429 and 5xx are worth a retry; everything else is not.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited { .. } | ModelError::Unavailable { .. }
        )
    }
}

pub type ModelFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ModelError>> + Send + 'a>>;

/// A provider serving one model.
pub trait Model: Send + Sync + fmt::Debug {
    /// `bedrock`, `anthropic` or `openai`.
    fn profile(&self) -> &'static str;
    /// The model id requests name.
    fn model_id(&self) -> &str;
    fn complete<'a>(&'a self, request: &'a ChatRequest) -> ModelFuture<'a>;
}

/// An API key, wiped from memory when dropped. Never log or return one.
pub type Secret = zeroize::Zeroizing<String>;

pub type KeyFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret, ModelError>> + Send + 'a>>;

/// Where a provider's API key comes from, read on each call (a source that
/// caches does so for a short while, so rotation takes effect).
pub trait KeySource: Send + Sync + fmt::Debug {
    fn key(&self) -> KeyFuture<'_>;
}

/// The tool that runs one read-only statement through the SQL console.
pub const RUN_SQL: &str = "run_sql";
/// The tool that runs the explorer's search syntax.
pub const SEARCH_RESOURCES: &str = "search_resources";

/// The most characters of SQL a `run_sql` call may carry.
pub const MAX_SQL_CHARS: usize = 4000;
/// The most characters of a `search_resources` query.
pub const MAX_SEARCH_CHARS: usize = 500;

/// The model's tools, and nothing else.
pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: RUN_SQL,
            description: "Run one read-only PostgreSQL SELECT or WITH statement over the views resources, findings, scans and accounts of the asker's workspace. Returns the columns and, where the data policy allows, the rows.",
            schema: json!({
                "type": "object",
                "properties": {
                    "sql": {"type": "string", "minLength": 1, "maxLength": MAX_SQL_CHARS,
                            "description": "One SELECT or WITH statement, no semicolon-separated second statement."},
                    "purpose": {"type": "string", "maxLength": 200,
                                "description": "What this statement finds out, in a few words."}
                },
                "required": ["sql"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: SEARCH_RESOURCES,
            description: "Search the inventory with the explorer's syntax: free words, type:, region:, account:, state:, name:, tag:key=value; a trailing * matches a prefix.",
            schema: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": MAX_SEARCH_CHARS},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        },
    ]
}

/// A tool call that may run, its arguments checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidCall {
    RunSql { sql: String },
    Search { query: String, limit: u32 },
}

/// Why a tool call was not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the model called a tool that does not exist: expected one of run_sql, search_resources, found {0:?}")]
    UnknownTool(String),
    #[error("the model's {tool} arguments are not JSON: {detail}")]
    NotJson { tool: String, detail: String },
    #[error("the model's {tool} arguments do not fit the tool's schema: {detail}")]
    Schema { tool: String, detail: String },
}

/// Check a call against its tool's schema, then read it.
pub fn validate_call(call: &ToolCall) -> Result<ValidCall, CallError> {
    let spec = tools()
        .into_iter()
        .find(|t| t.name == call.name)
        .ok_or_else(|| CallError::UnknownTool(clip(&call.name, 64)))?;
    let args: Value = serde_json::from_str(&call.arguments).map_err(|e| CallError::NotJson {
        tool: spec.name.into(),
        detail: e.to_string(),
    })?;
    check_schema(&spec.schema, &args, "arguments").map_err(|detail| CallError::Schema {
        tool: spec.name.into(),
        detail,
    })?;
    let text = |k: &str| args[k].as_str().unwrap_or_default().to_owned();
    Ok(match spec.name {
        RUN_SQL => ValidCall::RunSql { sql: text("sql") },
        _ => ValidCall::Search {
            query: text("query"),
            limit: args["limit"].as_u64().unwrap_or(20) as u32,
        },
    })
}

/// The JSON-schema keywords the tools use: `type` (object, string,
/// integer), `properties`, `required`, `additionalProperties: false`,
/// `minLength`, `maxLength`, `minimum`, `maximum`. A schema keyword outside
/// these is a bug in `tools()`, caught by this module's tests.
pub fn check_schema(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let expected = schema["type"].as_str().unwrap_or("any");
    let found = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if expected != found {
        return Err(format!("{at}: expected {expected}, found {found}"));
    }
    match value {
        Value::Object(map) => check_object(schema, map, at),
        Value::String(s) => {
            let n = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64().filter(|&m| n < m) {
                return Err(format!(
                    "{at}: expected at least {min} characters, found {n}"
                ));
            }
            if let Some(max) = schema["maxLength"].as_u64().filter(|&m| n > m) {
                return Err(format!(
                    "{at}: expected at most {max} characters, found {n}"
                ));
            }
            Ok(())
        }
        Value::Number(n) => {
            let v = n.as_i64().unwrap_or(i64::MAX);
            match (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
                (Some(min), _) if v < min => {
                    Err(format!("{at}: expected at least {min}, found {n}"))
                }
                (_, Some(max)) if v > max => {
                    Err(format!("{at}: expected at most {max}, found {n}"))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn check_object(schema: &Value, map: &Map<String, Value>, at: &str) -> Result<(), String> {
    let properties = schema["properties"].as_object();
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        if !map.contains_key(name) {
            return Err(format!("{at}: expected a {name:?} field, found none"));
        }
    }
    for (key, v) in map {
        match properties.and_then(|p| p.get(key)) {
            Some(sub) => check_schema(sub, v, &format!("{at}.{}", clip(key, 40)))?,
            None if schema["additionalProperties"] == Value::Bool(false) => {
                return Err(format!(
                    "{at}: expected only the fields {}, found {:?}",
                    properties
                        .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default(),
                    clip(key, 40)
                ))
            }
            None => {}
        }
    }
    Ok(())
}

/// At most `n` characters of `s`, for messages that quote what a model wrote.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: "t1".into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn the_tools_use_only_the_schema_keywords_the_validator_knows() {
        fn walk(v: &Value, path: &str) {
            let known = [
                "type",
                "properties",
                "required",
                "additionalProperties",
                "minLength",
                "maxLength",
                "minimum",
                "maximum",
                "description",
            ];
            for (k, sub) in v.as_object().unwrap() {
                assert!(known.contains(&k.as_str()), "{path}: {k}");
                if k == "properties" {
                    for (name, s) in sub.as_object().unwrap() {
                        walk(s, &format!("{path}.{name}"));
                    }
                }
            }
        }
        for t in tools() {
            walk(&t.schema, t.name);
            assert_eq!(t.schema["additionalProperties"], false, "{}", t.name);
        }
    }

    #[test]
    fn calls_are_read_only_after_their_schema_holds() {
        assert_eq!(
            validate_call(&call("run_sql", r#"{"sql":"SELECT 1","purpose":"x"}"#)),
            Ok(ValidCall::RunSql {
                sql: "SELECT 1".into()
            })
        );
        assert_eq!(
            validate_call(&call("search_resources", r#"{"query":"type:s3.bucket"}"#)),
            Ok(ValidCall::Search {
                query: "type:s3.bucket".into(),
                limit: 20
            })
        );
        for (name, args, expect) in [
            ("drop_table", "{}", "does not exist"),
            ("run_sql", r#"{"sql": "SELECT 1""#, "not JSON"),
            (
                "run_sql",
                r#"{"sql": 1}"#,
                "arguments.sql: expected string, found integer",
            ),
            (
                "run_sql",
                r#"{"query": "SELECT 1"}"#,
                "expected a \"sql\" field",
            ),
            (
                "run_sql",
                r#"{"sql": "SELECT 1", "role": "admin"}"#,
                "expected only the fields",
            ),
            ("run_sql", r#"{"sql": ""}"#, "at least 1 characters"),
            ("run_sql", r#"["SELECT 1"]"#, "expected object, found array"),
            (
                "search_resources",
                r#"{"query": "x", "limit": 51}"#,
                "at most 50",
            ),
            (
                "search_resources",
                r#"{"query": "x", "limit": 1.5}"#,
                "expected integer, found number",
            ),
        ] {
            let err = validate_call(&call(name, args)).unwrap_err().to_string();
            assert!(err.contains(expect), "{name} {args}: {err}");
        }
        let long = format!(r#"{{"sql": "{}"}}"#, "x".repeat(MAX_SQL_CHARS + 1));
        assert!(validate_call(&call("run_sql", &long))
            .unwrap_err()
            .to_string()
            .contains("at most 4000 characters"));
    }

    #[test]
    fn provider_errors_say_whether_to_retry_and_when() {
        let e = ModelError::RateLimited {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert!(e.retryable());
        assert_eq!(
            e.to_string(),
            "the model provider is rate-limiting requests (HTTP 429); it asks to retry after 7 s"
        );
        assert!(!ModelError::Refused {
            status: 401,
            message: "bad key".into()
        }
        .retryable());
    }
}
