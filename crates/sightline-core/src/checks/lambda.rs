//! Lambda checks. Only variable names exist in the inventory: values were
//! dropped by the collector.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::secrets::name_looks_secret;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&ENV_SECRET_NAME];

pub static ENV_SECRET_NAME: Check = Check {
    id: "lambda.env_secret_name",
    title: "Lambda environment variable whose name looks like a secret",
    category: Category::Security,
    severity: Severity::High,
    service: "lambda",
    required_actions: &["lambda:ListFunctions"],
    cis: &[],
    basis: Basis::Observed,
    risk: "Environment variables are readable by anyone with lambda:GetFunctionConfiguration and end up in logs and tooling; secrets belong in Secrets Manager.",
    evaluate: env_secret_name,
};

fn env_secret_name(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.lambda
        .functions
        .iter()
        .filter_map(|f| {
            let names: Vec<&String> = f.environment_variable_names.iter().filter(|n| name_looks_secret(n)).collect();
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

    #[test]
    fn only_functions_with_secret_like_names_are_flagged() {
        let mut inv = inventory();
        let function = |id: &str, vars: &[&str]| Function {
            meta: meta("lambda.function", id, "us-east-1"),
            runtime: None,
            role: None,
            memory_mb: None,
            last_modified: None,
            environment_variable_names: vars.iter().map(|s| s.to_string()).collect(),
            kms_key_arn: None,
        };
        inv.lambda.functions = vec![
            function("leaky", &["LOG_LEVEL", "DB_PASSWORD"]),
            function("clean", &["LOG_LEVEL"]),
        ];
        assert_eq!(flagged(&ENV_SECRET_NAME, &inv), ["leaky"]);
    }
}
