//! The OpenAPI 3.0 document of the JSON API, built from the permission
//! table so that every API route is described and nothing else is (the
//! web UI's pages are not part of the API).

use serde_json::{json, Map, Value};

use crate::routes::{Access, ROUTES};

fn obj(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

fn nullable(schema: Value) -> Value {
    let mut s = schema;
    s["nullable"] = json!(true);
    s
}

fn string() -> Value {
    json!({ "type": "string" })
}
fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}
fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}
fn integer() -> Value {
    json!({ "type": "integer" })
}

fn schemas() -> Value {
    json!({
        "Error": obj(&["error", "message"], json!({ "error": string(), "message": string() })),
        "Account": obj(&["id", "aws_account_id", "name", "role_arn", "regions", "schedule", "next_scan_at", "source", "created_at"], json!({
            "id": uuid(), "aws_account_id": string(), "name": nullable(string()), "role_arn": nullable(string()),
            "regions": { "type": "array", "items": string() }, "schedule": nullable(string()),
            "next_scan_at": nullable(time()), "source": string(), "created_at": time(),
        })),
        "Scan": { "type": "object", "required": ["id", "account_id", "status", "started_at", "api_calls", "resources", "gaps"], "properties": {
            "id": uuid(), "account_id": uuid(), "status": string(), "started_at": time(), "finished_at": nullable(time()),
            "regions": { "type": "array", "items": string() }, "api_calls": integer(), "resources": integer(), "gaps": integer(),
            "findings_open": integer(), "findings_new": integer(), "findings_resolved": integer(), "findings_regressed": integer(),
            "coverage_gaps": { "type": "array", "items": obj(&["service", "region", "action", "kind", "error"], json!({
                "service": string(), "region": string(), "action": string(), "kind": string(), "error": string() })) },
        }},
        "Finding": { "type": "object", "required": ["id", "account_id", "check_id", "resource_arn", "severity", "status", "evidence_sha256"], "properties": {
            "id": uuid(), "account_id": uuid(), "check_id": string(), "resource_arn": string(), "resource_type": string(),
            "region": string(), "severity": string(), "category": string(), "title": string(), "message": string(),
            "status": string(), "monthly_savings": nullable(json!({ "type": "number" })), "evidence_sha256": string(),
            "first_seen": time(), "last_seen": time(), "evidence": {}, "remediation": {}, "rollback": {},
            "savings_formula": nullable(string()),
        }},
        "User": obj(&["id", "email", "role", "totp_enabled", "locked_until", "created_at", "oidc_bound"], json!({
            "id": uuid(), "email": string(), "role": { "type": "string", "enum": ["owner", "admin", "operator", "viewer"] },
            "totp_enabled": { "type": "boolean" }, "locked_until": nullable(time()), "created_at": time(),
            "oidc_bound": { "type": "boolean" },
        })),
        "ApiKey": { "type": "object", "required": ["id", "name", "prefix", "role", "created_at"], "properties": {
            "id": uuid(), "name": string(), "prefix": string(), "role": string(), "created_by": nullable(uuid()),
            "created_at": time(), "expires_at": nullable(time()),
            "last_used_at": nullable(time()), "revoked_at": nullable(time()), "key": string(),
        }},
        "Session": obj(&["id", "created_at", "last_seen_at", "client_ip", "user_agent", "current"], json!({
            "id": uuid(), "created_at": time(), "last_seen_at": time(), "client_ip": nullable(string()),
            "user_agent": nullable(string()), "current": { "type": "boolean" },
        })),
        "SignInSettings": obj(&["require_mfa_for_admins"], json!({ "require_mfa_for_admins": { "type": "boolean" } })),
        "RecoveryCodes": obj(&["recovery_codes"], json!({ "recovery_codes": { "type": "array", "items": string() } })),
        "AuditRecord": obj(&["sequence", "occurred_at", "actor", "action", "target", "details", "previous_hash", "hash"], json!({
            "sequence": integer(), "occurred_at": time(), "actor": string(), "action": string(), "target": string(),
            "details": {}, "previous_hash": string(), "hash": string(),
        })),
        "Decision": obj(&["id", "finding_id", "kind", "actor", "reason", "snoozed_until", "evidence_sha256", "plan_sha256", "created_at", "resolved_scan_id"], json!({
            "id": uuid(), "finding_id": uuid(), "kind": { "type": "string", "enum": ["approved", "dismissed", "snoozed"] },
            "actor": string(), "reason": nullable(string()), "snoozed_until": nullable(time()), "evidence_sha256": string(),
            "plan_sha256": nullable(string()), "created_at": time(), "resolved_scan_id": nullable(uuid()),
        })),
        "Integration": obj(&["name", "configured", "updated_at"], json!({
            "name": string(), "configured": { "type": "boolean" }, "updated_at": time(),
        })),
    })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": reference(name) })
}

fn request_body(method: &str, path: &str) -> Option<Value> {
    let role = json!({ "type": "string", "enum": ["owner", "admin", "operator", "viewer"] });
    let schema = match (method, path) {
        ("POST", "/api/v1/session") => obj(
            &["email", "password"],
            json!({
            "email": string(), "password": string(), "workspace": string(), "totp_code": string(), "recovery_code": string() }),
        ),
        ("POST", "/api/v1/me/password") => obj(
            &["current_password", "new_password"],
            json!({
            "current_password": string(), "new_password": string() }),
        ),
        ("POST", "/api/v1/me/totp") => obj(
            &["current_password"],
            json!({ "current_password": string() }),
        ),
        ("POST", "/api/v1/me/totp/confirm") => obj(&["code"], json!({ "code": string() })),
        ("DELETE", "/api/v1/me/totp") | ("POST", "/api/v1/me/recovery-codes") => obj(
            &["current_password", "code"],
            json!({ "current_password": string(), "code": string() }),
        ),
        ("PUT", "/api/v1/settings/sign-in") => obj(
            &["require_mfa_for_admins"],
            json!({ "require_mfa_for_admins": { "type": "boolean" } }),
        ),
        ("POST", "/api/v1/accounts") => obj(
            &["aws_account_id", "role_arn"],
            json!({
            "aws_account_id": { "type": "string", "pattern": "^[0-9]{12}$" }, "name": string(), "role_arn": string(),
            "regions": { "type": "array", "items": string() }, "schedule": string() }),
        ),
        ("POST", "/api/v1/users") => obj(
            &["email", "role"],
            json!({ "email": { "type": "string", "format": "email" }, "role": role }),
        ),
        ("PUT", "/api/v1/users/{id}/role") => obj(&["role"], json!({ "role": role })),
        ("POST", "/api/v1/api-keys") => obj(
            &["name", "role"],
            json!({ "name": string(), "role": role,
                    "expires_in_days": { "type": "integer", "minimum": 1, "maximum": 365 } }),
        ),
        ("PUT", "/api/v1/integrations/{name}") => {
            obj(&["credential"], json!({ "credential": string() }))
        }
        ("POST", "/api/v1/console") => obj(&["sql"], json!({ "sql": string() })),
        ("POST", "/api/v1/ask") => obj(
            &[],
            json!({ "question": { "type": "string", "maxLength": 500 }, "id": string(),
                    "session": { "type": "string", "format": "uuid" } }),
        ),
        ("PUT", "/api/v1/ask/settings") => obj(
            &["data_policy", "storage"],
            json!({ "data_policy": { "type": "string", "enum": ["default", "schema-only", "rows"] },
                    "storage": { "type": "boolean" } }),
        ),
        ("POST", "/api/v1/findings/{id}/approve") => obj(
            &["evidence_sha256"],
            json!({ "evidence_sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" } }),
        ),
        ("POST", "/api/v1/findings/{id}/dismiss") => {
            obj(&["reason"], json!({ "reason": string() }))
        }
        ("POST", "/api/v1/findings/{id}/snooze") => obj(
            &["until"],
            json!({ "until": { "type": "string", "format": "date" }, "reason": string() }),
        ),
        _ => return None,
    };
    Some(json!({ "required": true, "content": { "application/json": { "schema": schema } } }))
}

fn success(method: &str, path: &str) -> (&'static str, Value) {
    let json_of = |schema: Value| json!({ "application/json": { "schema": schema } });
    let any = json!({ "type": "object" });
    match (method, path) {
        ("GET", "/api/v1/accounts") => ("200", json_of(array_of("Account"))),
        ("GET", "/api/v1/accounts/{id}") => ("200", json_of(reference("Account"))),
        ("POST", "/api/v1/accounts") => ("201", json_of(reference("Account"))),
        ("DELETE", _) if path != "/api/v1/session" => ("204", Value::Null),
        ("POST", "/api/v1/me/totp") => (
            "200",
            json_of(obj(
                &["secret", "otpauth_uri"],
                json!({ "secret": string(), "otpauth_uri": string() }),
            )),
        ),
        ("POST", "/api/v1/me/totp/confirm") | ("POST", "/api/v1/me/recovery-codes") => {
            ("200", json_of(reference("RecoveryCodes")))
        }
        ("GET", "/api/v1/me/sessions") => ("200", json_of(array_of("Session"))),
        ("POST", "/api/v1/users/{id}/unlock") => ("200", json_of(reference("User"))),
        ("GET", "/api/v1/settings/sign-in") | ("PUT", "/api/v1/settings/sign-in") => {
            ("200", json_of(reference("SignInSettings")))
        }
        ("POST", "/api/v1/accounts/{id}/scans") => (
            "202",
            json_of(obj(&["job_id"], json!({ "job_id": uuid() }))),
        ),
        ("GET", "/api/v1/scans") => ("200", json_of(array_of("Scan"))),
        ("GET", "/api/v1/scans/{id}") => ("200", json_of(reference("Scan"))),
        ("GET", "/api/v1/findings") => ("200", json_of(array_of("Finding"))),
        ("GET", "/api/v1/findings/{id}") => ("200", json_of(reference("Finding"))),
        ("GET", "/api/v1/users") => ("200", json_of(array_of("User"))),
        ("POST", "/api/v1/users") => ("201", json_of(any)),
        ("PUT", "/api/v1/users/{id}/role") => ("200", json_of(reference("User"))),
        ("GET", "/api/v1/api-keys") => ("200", json_of(array_of("ApiKey"))),
        ("POST", "/api/v1/api-keys") => ("201", json_of(reference("ApiKey"))),
        ("GET", "/api/v1/audit") => ("200", json_of(array_of("AuditRecord"))),
        ("GET", "/api/v1/audit/export.csv") => {
            ("200", json!({ "text/csv": { "schema": string() } }))
        }
        ("GET", "/api/v1/integrations") => ("200", json_of(array_of("Integration"))),
        ("PUT", "/api/v1/integrations/{name}") => ("200", json_of(reference("Integration"))),
        ("GET", "/api/v1/resources") => (
            "200",
            json_of(obj(
                &["rows", "next"],
                json!({
            "rows": { "type": "array", "items": { "type": "object" } }, "next": nullable(string()) }),
            )),
        ),
        ("GET", "/api/v1/resources/{id}") => ("200", json_of(any)),
        ("GET", "/api/v1/ask/library") => (
            "200",
            json_of(json!({ "type": "array", "items": obj(
            &["id", "question", "keywords", "sql", "explanation", "params"], json!({
            "id": string(), "question": string(), "keywords": { "type": "array", "items": string() },
            "sql": string(), "explanation": string(), "params": { "type": "array", "items": { "type": "object" } } })) })),
        ),
        ("POST", "/api/v1/ask") => {
            let library = obj(
                &[
                    "kind",
                    "question",
                    "entry_id",
                    "answered",
                    "explanation",
                    "params",
                    "defaulted",
                    "also",
                    "result",
                ],
                json!({
            "kind": { "type": "string", "enum": ["library"] },
            "question": string(), "entry_id": string(), "answered": string(), "explanation": string(),
            "params": { "type": "object", "additionalProperties": string() },
            "defaulted": { "type": "array", "items": string() }, "also": { "type": "array", "items": string() },
            "result": { "type": "object" } }),
            );
            let model = obj(
                &[
                    "kind",
                    "question",
                    "status",
                    "stopped_because",
                    "answer",
                    "plan",
                    "tables",
                    "provider",
                    "model",
                    "data_policy",
                    "usage",
                    "latency_ms",
                    "stored",
                    "session_id",
                    "question_id",
                ],
                json!({
            "kind": { "type": "string", "enum": ["model"] },
            "question": string(), "status": { "type": "string", "enum": ["answered", "stopped"] },
            "stopped_because": nullable(string()), "answer": nullable(string()),
            "plan": { "type": "array", "items": { "type": "object" } },
            "tables": { "type": "array", "items": { "type": "object" } },
            "provider": string(), "model": string(),
            "data_policy": { "type": "string", "enum": ["schema-only", "rows"] },
            "usage": obj(&["input_tokens", "output_tokens"], json!({
                "input_tokens": { "type": "integer" }, "output_tokens": { "type": "integer" } })),
            "latency_ms": { "type": "integer" }, "stored": { "type": "boolean" },
            "session_id": nullable(uuid()), "question_id": nullable(uuid()) }),
            );
            ("200", json_of(json!({ "oneOf": [library, model] })))
        }
        ("GET", "/api/v1/ask/sessions") => (
            "200",
            json_of(json!({ "type": "array", "items": obj(
            &["id", "title", "created_at", "updated_at"], json!({
            "id": uuid(), "title": string(), "created_at": string(), "updated_at": string() })) })),
        ),
        ("GET", "/api/v1/ask/sessions/{id}") => (
            "200",
            json_of(json!({ "type": "array", "items": { "type": "object" } })),
        ),
        ("GET", "/api/v1/ask/settings") | ("PUT", "/api/v1/ask/settings") => {
            let policy = json!({ "type": "string", "enum": ["schema-only", "rows"] });
            (
                "200",
                json_of(obj(
                    &[
                        "profile",
                        "model",
                        "data_policy",
                        "data_policy_default",
                        "data_policy_effective",
                        "storage",
                    ],
                    json!({
                "profile": { "type": "string", "enum": ["none", "bedrock", "anthropic", "openai"] },
                "model": nullable(string()), "data_policy": nullable(policy.clone()),
                "data_policy_default": policy.clone(), "data_policy_effective": policy,
                "storage": { "type": "boolean" } }),
                )),
            )
        }
        ("POST", "/api/v1/console") => (
            "200",
            json_of(obj(
                &["columns", "rows", "truncated", "sql"],
                json!({
            "columns": { "type": "array", "items": string() },
            "rows": { "type": "array", "items": { "type": "array", "items": nullable(string()) } },
            "truncated": nullable(string()), "sql": string() }),
            )),
        ),
        ("GET", "/api/v1/findings/export") => (
            "200",
            json!({
            "text/csv": { "schema": string() },
            "application/json": { "schema": {} },
            "application/sarif+json": { "schema": {} } }),
        ),
        ("POST", "/api/v1/findings/{id}/approve")
        | ("POST", "/api/v1/findings/{id}/dismiss")
        | ("POST", "/api/v1/findings/{id}/snooze") => ("201", json_of(reference("Decision"))),
        ("GET", "/api/v1/decisions/{id}/plan") => (
            "200",
            json!({ "text/x-shellscript": { "schema": string() } }),
        ),
        ("GET", "/api/v1/scans/diff") => (
            "200",
            json_of(json!({ "type": "array", "items": obj(
            &["finding_id", "change", "check_id", "title", "severity", "resource_arn"], json!({
            "finding_id": uuid(), "change": { "type": "string", "enum": ["new", "resolved", "regressed"] },
            "check_id": string(), "title": string(), "severity": string(), "resource_arn": string() })) })),
        ),
        _ => ("200", json_of(any)),
    }
}

fn query_parameters(path: &str) -> Vec<Value> {
    let q = |name: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "schema": schema });
    let limit = |max: i64| {
        q(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": max }),
        )
    };
    match path {
        "/api/v1/scans" => vec![limit(1000)],
        "/api/v1/findings" => vec![
            q(
                "status",
                json!({ "type": "string", "enum": ["open", "resolved"] }),
            ),
            q(
                "severity",
                json!({ "type": "string", "enum": ["critical", "high", "medium", "low", "info"] }),
            ),
            q("check_id", string()),
            q("account_id", uuid()),
            json!({ "name": "after", "in": "query", "required": false, "schema": string(),
                    "description": "Where the page starts: opaque, from the previous page's Link header" }),
            limit(1000),
        ],
        "/api/v1/resources" => vec![q("q", string()), q("after", string()), limit(1000)],
        "/api/v1/findings/export" => vec![
            q(
                "format",
                json!({ "type": "string", "enum": ["csv", "json", "ocsf", "sarif"] }),
            ),
            q(
                "state",
                json!({ "type": "string", "enum": ["open", "snoozed", "dismissed", "approved", "resolved"] }),
            ),
            q(
                "severity",
                json!({ "type": "string", "enum": ["critical", "high", "medium", "low", "info"] }),
            ),
            q(
                "category",
                json!({ "type": "string", "enum": ["cost", "security", "reliability"] }),
            ),
            q("check_id", string()),
            q(
                "account",
                json!({ "type": "string", "pattern": "^[0-9]{12}$" }),
            ),
            q("region", string()),
        ],
        "/api/v1/scans/diff" => vec![
            json!({ "name": "from", "in": "query", "required": true, "schema": uuid() }),
            json!({ "name": "to", "in": "query", "required": true, "schema": uuid() }),
            q(
                "change",
                json!({ "type": "string", "enum": ["new", "resolved", "regressed"] }),
            ),
            q("after", uuid()),
            limit(1000),
        ],
        "/api/v1/audit" | "/api/v1/audit/export.csv" => vec![
            q("actor", string()),
            q("action", string()),
            q("since", time()),
            q("until", time()),
            limit(10_000),
        ],
        _ => vec![],
    }
}

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES.iter().filter(|r| !crate::routes::is_page(r.path)) {
        let (method, path) = (route.method, route.path);
        let mut parameters = query_parameters(path);
        if path.contains("{id}") {
            parameters
                .push(json!({ "name": "id", "in": "path", "required": true, "schema": uuid() }));
        }
        if path.contains("{name}") {
            parameters.push(json!({ "name": "name", "in": "path", "required": true,
                "schema": { "type": "string", "pattern": "^[a-z][a-z0-9_-]{0,39}$" } }));
        }
        let (status, content) = success(method, path);
        let mut ok = json!({ "description": "Success" });
        if !content.is_null() {
            ok["content"] = content;
        }
        if path == "/api/v1/scans/diff" || path == "/api/v1/findings" {
            ok["headers"] = json!({ "Link": { "description":
                "While more entries remain: `<the next page>; rel=\"next\"` (RFC 8288)", "schema": string() } });
        }
        let error = json!({ "description": "An error, with what was expected and what was found",
            "content": { "application/json": { "schema": reference("Error") } } });
        let mut responses = Map::new();
        responses.insert(status.to_owned(), ok);
        for code in [
            "400", "401", "403", "404", "405", "409", "413", "415", "429", "503",
        ] {
            responses.insert(code.to_owned(), error.clone());
        }
        responses["429"]["headers"] = json!({ "Retry-After": { "description":
            "Whole seconds until the limit that refused the request would serve it",
            "schema": { "type": "integer", "minimum": 1 } } });
        let mut operation = json!({
            "summary": route.summary,
            "operationId": format!("{}{}", method.to_lowercase(), path.replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": parameters,
            "responses": responses,
        });
        match route.access {
            Access::Public => operation["security"] = json!([]),
            Access::Role(role) => operation["x-least-role"] = json!(role),
        }
        if let Some(body) = request_body(method, path) {
            operation["requestBody"] = body;
        }
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        item[method.to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Sightline API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Read-only AWS infrastructure intelligence. Every route names its least role in x-least-role." },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "A Sightline API key, slk_…" },
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-sl_session" },
            },
        },
        "security": [{ "apiKey": [] }, { "session": [] }],
    })
}
