//! What looks like a secret: names that suggest one (for Lambda environment
//! variables) and values that look like credentials (for tags). Collectors
//! use this to redact before anything is stored or logged.

/// Placeholder that replaces a redacted value everywhere.
pub const REDACTED: &str = "[redacted]";

const SECRET_NAME_PARTS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
    "credential",
    "auth",
    "conn_str",
    "connection_string",
    "dsn",
];

/// Whether a variable or tag name suggests it holds a secret (`DB_PASSWORD`, `apiToken`).
pub fn name_looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| lower.contains(part))
}

/// Last words of a name that make it a pointer to a secret or a setting
/// about one (`DB_SECRET_ARN`, `TOKEN_TTL`, `AUTH_ISSUER`), not the secret.
const REFERENCE_WORDS: &[&str] = &[
    "arn",
    "ttl",
    "issuer",
    "name",
    "id",
    "region",
    "endpoint",
    "expiry",
    "expiration",
    "timeout",
    "length",
    "version",
    "path",
    "type",
    "enabled",
];

/// The words of a name: split at `_`, `-`, `.` and lower-to-upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a variable's name says it holds a secret itself: it looks secret
/// and does not end in a word that makes it a reference or a setting.
pub fn name_holds_secret(name: &str) -> bool {
    name_looks_secret(name)
        && !words(name)
            .last()
            .is_some_and(|w| REFERENCE_WORDS.contains(&w.as_str()))
}

/// Whether a value looks like a credential: an AWS access key id, a PEM
/// private key, a URL with a password, or a long high-entropy token.
pub fn value_looks_secret(value: &str) -> bool {
    let v = value.trim();
    let aws_key = v.len() == 20
        && (v.starts_with("AKIA") || v.starts_with("ASIA"))
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let pem = v.contains("-----BEGIN") && v.contains("PRIVATE KEY");
    let url_password = v
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    // `Bearer eyJ...` or `Basic dXNlcjpwYXNz`: a credential after its scheme.
    let scheme_credential = ["Bearer ", "Basic ", "Token "]
        .iter()
        .any(|scheme| v.strip_prefix(scheme).is_some_and(|rest| rest.len() >= 8));
    // A JSON Web Token: three base64url parts, the first a JSON header.
    let jwt = v.starts_with("eyJ") && v.split('.').count() == 3 && v.len() >= 32;
    aws_key || pem || url_password || scheme_credential || jwt || looks_like_token(v)
}

/// Long strings mixing letters and digits with no spaces: tokens and keys.
fn looks_like_token(v: &str) -> bool {
    if v.len() < 32 || v.contains(char::is_whitespace) {
        return false;
    }
    let token_chars = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'));
    let has_digit = v.chars().any(|c| c.is_ascii_digit());
    let has_upper = v.chars().any(|c| c.is_ascii_uppercase());
    let has_lower = v.chars().any(|c| c.is_ascii_lowercase());
    token_chars && has_digit && has_upper && has_lower
}

/// A tag value as it may be stored: redacted when the key or value looks secret.
pub fn redact_tag_value(key: &str, value: &str) -> String {
    if name_looks_secret(key) || value_looks_secret(value) {
        REDACTED.to_owned()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised_and_ordinary_names_are_not() {
        for name in [
            "DB_PASSWORD",
            "apiToken",
            "STRIPE_SECRET_KEY",
            "github_token",
            "AWS_ACCESS_KEY_ID",
        ] {
            assert!(name_looks_secret(name), "{name}");
        }
        for name in ["LOG_LEVEL", "REGION", "TABLE_NAME", "PORT"] {
            assert!(!name_looks_secret(name), "{name}");
        }
    }

    #[test]
    fn references_and_settings_of_secrets_do_not_hold_one() {
        for name in [
            "DB_SECRET_ARN",
            "TOKEN_TTL",
            "AUTH_ISSUER",
            "secretArn",
            "ApiKeySecretName",
            "jwt-token-expiry",
        ] {
            assert!(!name_holds_secret(name), "{name}");
        }
        for name in [
            "DB_PASSWORD",
            "STRIPE_SECRET_KEY",
            "githubToken",
            "AUTH_TOKEN",
            "AUTH_HEADER",
        ] {
            assert!(name_holds_secret(name), "{name}");
        }
    }

    #[test]
    fn credential_values_are_recognised() {
        assert!(value_looks_secret("AKIAIOSFODNN7EXAMPLE"));
        assert!(value_looks_secret(
            "postgres://app:hunter2@db.internal:5432/app"
        ));
        assert!(value_looks_secret(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(value_looks_secret("Bearer abcdef0123456789"));
        assert!(value_looks_secret(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        ));
        assert!(!value_looks_secret("production"));
        assert!(!value_looks_secret("Bearer"));
        assert!(!value_looks_secret("https://example.com/path"));
        assert!(!value_looks_secret("team-payments-eu-west-1"));
    }

    #[test]
    fn tag_values_are_redacted_by_key_or_value() {
        assert_eq!(redact_tag_value("db_password", "x"), REDACTED);
        assert_eq!(redact_tag_value("owner", "AKIAIOSFODNN7EXAMPLE"), REDACTED);
        assert_eq!(redact_tag_value("env", "prod"), "prod");
    }
}
