//! Lambda checks. Only variable names exist in the inventory, with the
//! collector's verdict on each value (secret-looking or not): values were
//! dropped by the collector.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::secrets::name_holds_secret;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&ENV_SECRET_NAME];

pub static ENV_SECRET_NAME: Check = Check {
    id: "lambda.env_secret_name",
    title: "Lambda environment variable that holds a secret (by its name or its value)",
    category: Category::Security,
    severity: Severity::High,
    service: "lambda",
    required_actions: &["lambda:ListFunctions"],
    basis: Basis::Observed,
    risk: "Environment variables are readable by anyone with lambda:GetFunctionConfiguration and end up in logs and tooling; secrets belong in Secrets Manager.",
    evaluate: env_secret_name,
};

fn env_secret_name(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.lambda
        .functions
        .iter()
        .filter_map(|f| {
            let names: Vec<&String> = f
                .environment_variable_names
                .iter()
                .filter(|n| name_holds_secret(n) || f.secret_looking_values.contains(n))
                .collect();
            if names.is_empty() {
                return None;
            }
            let region = &f.meta.region;
            let function = f.meta.name.as_deref().unwrap_or(&f.meta.id);
            Some(
                Violation::new(&f.meta, format!("Plaintext secret-like variable(s): {}", names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")))
                    .evidence("variable_names", &names)
                    .remediation(
                        Command::aws("secretsmanager", "create-secret")
                            .region(region)
                            .placeholder("--name", "secret name")
                            .placeholder("--secret-string", "value")
                            .note(&format!("e.g. {function}/VARIABLE; then read it at run time and drop the variable:")),
                    )
                    .remediation(
                        Command::aws("lambda", "update-function-configuration")
                            .region(region)
                            .arg("--function-name", function)
                            .placeholder("--environment", "Variables={the remaining variables}"),
                    )
                    .rollback(
                        Command::aws("lambda", "update-function-configuration")
                            .region(region)
                            .arg("--function-name", function)
                            .placeholder("--environment", "Variables={the previous variables}"),
                    ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{flagged, inventory, meta};
    use crate::inventory::lambda::Function;

    /// A function with these variables, `by_value` those whose value the
    /// collector judged secret-looking.
    fn function(id: &str, vars: &[&str], by_value: &[&str]) -> Function {
        Function {
            meta: meta("lambda.function", id, "us-east-1"),
            runtime: None,
            role: None,
            memory_mb: None,
            last_modified: None,
            environment_variable_names: vars.iter().map(|s| s.to_string()).collect(),
            secret_looking_values: by_value.iter().map(|s| s.to_string()).collect(),
            kms_key_arn: None,
        }
    }

    #[test]
    fn only_functions_with_secret_like_names_are_flagged() {
        let mut inv = inventory();
        inv.lambda.functions = vec![
            function("leaky", &["LOG_LEVEL", "DB_PASSWORD"], &[]),
            function("clean", &["LOG_LEVEL"], &[]),
        ];
        assert_eq!(flagged(&ENV_SECRET_NAME, &inv), ["leaky"]);
    }

    /// A name that points at a secret, or says how long a token lives, is
    /// not a secret; a value the collector found secret-looking is, whatever
    /// its name.
    #[test]
    fn references_to_secrets_pass_and_secret_looking_values_are_flagged() {
        let mut inv = inventory();
        inv.lambda.functions = vec![
            function(
                "references",
                &[
                    "DB_SECRET_ARN",
                    "TOKEN_TTL",
                    "AUTH_ISSUER",
                    "secretArn",
                    "API_KEY_SECRET_NAME",
                    "JWT_TOKEN_EXPIRY",
                ],
                &[],
            ),
            function("by-value", &["LOG_LEVEL", "UPSTREAM"], &["UPSTREAM"]),
            function("by-name", &["STRIPE_SECRET_KEY", "TOKEN_TTL"], &[]),
        ];
        assert_eq!(flagged(&ENV_SECRET_NAME, &inv), ["by-name", "by-value"]);
        let found = (ENV_SECRET_NAME.evaluate)(&inv, &crate::checks::test_support::ctx());
        let by_value = found.iter().find(|v| v.resource.id == "by-value").unwrap();
        assert_eq!(
            by_value.evidence["variable_names"],
            serde_json::json!(["UPSTREAM"])
        );
        let by_name = found.iter().find(|v| v.resource.id == "by-name").unwrap();
        assert_eq!(
            by_name.evidence["variable_names"],
            serde_json::json!(["STRIPE_SECRET_KEY"])
        );
    }
}
