//! Recorded emulator requests as the IAM actions that authorise them, and
//! the credentials that signed them: how the tests prove what a scan sent,
//! and under which STS session.

use serde_json::Value;

/// The signing name in the SigV4 Authorization header, as an IAM prefix.
pub fn iam_prefix(headers: &Value) -> String {
    let auth = headers
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default();
    let scope = auth.split("Credential=").nth(1).unwrap_or_default();
    let service = scope.split('/').nth(3).unwrap_or("unsigned");
    match service {
        "monitoring" => "cloudwatch".to_owned(),
        other => other.to_owned(),
    }
}

pub fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// The S3 operation of a REST request, by method, path and subresource, as
/// the IAM action that authorises it. Unknown shapes come back as
/// `s3:UNRECOGNISED ...` so that the test fails and says what was sent.
pub fn s3_action(method: &str, path: &str, query: &str) -> String {
    let subresource = query
        .split('&')
        .next()
        .unwrap_or("")
        .split('=')
        .next()
        .unwrap_or("");
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let action = match (method, segments.as_slice(), subresource) {
        ("GET", ["v20180820", "configuration", "publicAccessBlock"], _) => {
            "GetAccountPublicAccessBlock"
        }
        ("GET", [], _) => "ListAllMyBuckets",
        ("GET", [_bucket], "location") => "GetBucketLocation",
        ("GET", [_bucket], "acl") => "GetBucketAcl",
        ("GET", [_bucket], "policyStatus") => "GetBucketPolicyStatus",
        ("GET", [_bucket], "policy") => "GetBucketPolicy",
        ("GET", [_bucket], "publicAccessBlock") => "GetBucketPublicAccessBlock",
        ("GET", [_bucket], "encryption") => "GetEncryptionConfiguration",
        ("GET", [_bucket], "versioning") => "GetBucketVersioning",
        ("GET", [_bucket], "logging") => "GetBucketLogging",
        ("GET", [_bucket], "lifecycle") => "GetLifecycleConfiguration",
        ("GET", [_bucket], "tagging") => "GetBucketTagging",
        ("GET", [_bucket, ..], _) => "GetObject",
        _ => return format!("s3:UNRECOGNISED {method} {path}?{query}"),
    };
    format!("s3:{action}")
}

/// The REST operations of the security services, EFS and Bedrock, by method and path.
pub fn rest_action(prefix: &str, method: &str, path: &str) -> Option<String> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let action = match (prefix, method, segments.as_slice()) {
        ("access-analyzer", "GET", ["analyzer"]) => "ListAnalyzers",
        ("securityhub", "GET", ["accounts"]) => "DescribeHub",
        ("guardduty", "GET", ["detector"]) => "ListDetectors",
        ("guardduty", "GET", ["detector", _]) => "GetDetector",
        ("elasticfilesystem", "GET", [_, "file-systems"]) => "DescribeFileSystems",
        ("bedrock", "GET", ["logging", "modelinvocations"]) => {
            "GetModelInvocationLoggingConfiguration"
        }
        (
            "access-analyzer" | "securityhub" | "guardduty" | "elasticfilesystem" | "bedrock",
            _,
            _,
        ) => return Some(format!("{prefix}:UNRECOGNISED {method} {path}")),
        _ => return None,
    };
    Some(format!("{prefix}:{action}"))
}

pub fn lambda_action(method: &str, path: &str) -> String {
    match (method, path.trim_end_matches('/')) {
        ("GET", "/2015-03-31/functions") => "lambda:ListFunctions".to_owned(),
        ("GET", p) if p.starts_with("/2015-03-31/functions/") => "lambda:GetFunction".to_owned(),
        _ => format!("lambda:UNRECOGNISED {method} {path}"),
    }
}

/// The IAM action one recorded request needs.
pub fn action_of(entry: &Value) -> String {
    let headers = &entry["headers"];
    let method = entry["method"].as_str().unwrap();
    let url = entry["url"].as_str().unwrap();
    let after_host = url.splitn(4, '/').nth(3).unwrap_or("");
    let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
    let path = format!("/{path}");
    let prefix = iam_prefix(headers);
    if let Some(target) = header(headers, "x-amz-target") {
        return format!("{prefix}:{}", target.rsplit('.').next().unwrap());
    }
    match prefix.as_str() {
        "s3" => return s3_action(method, &path, query),
        "lambda" => return lambda_action(method, &path),
        _ => {}
    }
    if let Some(action) = rest_action(&prefix, method, &path) {
        return action;
    }
    let body = body(entry);
    let operation = body
        .split('&')
        .chain(query.split('&'))
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("UNRECOGNISED");
    format!("{prefix}:{operation}")
}

/// Standard base64 decoding, enough for recorded request bodies.
pub mod base64_decode {
    pub fn decode(input: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits: u32 = 0;
        let mut count = 0;
        let mut out = Vec::new();
        for c in input.bytes().filter(|c| *c != b'=') {
            let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
                continue;
            };
            bits = (bits << 6) | v as u32;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The access key id in the SigV4 Authorization header (`unsigned` if none).
pub fn access_key_id(headers: &Value) -> String {
    header(headers, "authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').next())
        .unwrap_or("unsigned")
        .to_owned()
}

/// The decoded body of a recorded request.
pub fn body(entry: &Value) -> String {
    match entry["body_encoded"].as_bool() {
        Some(true) => base64_decode::decode(entry["body"].as_str().unwrap_or_default()),
        _ => entry["body"].as_str().unwrap_or_default().to_owned(),
    }
}

/// One parameter of a form-encoded (query protocol) body, percent-decoded.
pub fn form_param(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
