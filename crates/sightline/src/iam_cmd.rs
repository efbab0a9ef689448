//! `sightline iam`: the least-privilege policy generated from the action
//! manifest, the data-plane deny policy, and the check × policy coverage table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use sightline_aws::coverage::{
    coverage, data_plane_grants, derive_facts, render_data_access, render_markdown,
    ManagedPolicyFacts,
};
use sightline_aws::manifest::ActionManifest;
use sightline_aws::policy::{data_plane_deny_policy, least_privilege_policy};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyKind {
    /// Exactly the actions the scanner calls.
    LeastPrivilege,
    /// Explicit deny of every action that reads data inside resources.
    DataPlaneDeny,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CoverageFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum IamCommand {
    /// Print an IAM policy document.
    Policy {
        #[arg(long, value_enum, default_value = "least-privilege")]
        kind: PolicyKind,
    },
    /// For each check: does it run under ReadOnlyAccess, ViewOnlyAccess, SecurityAudit, SightlineLeastPrivilege?
    Coverage {
        #[arg(long, value_enum, default_value = "markdown")]
        format: CoverageFormat,
    },
    /// Print the action manifest, one action per line.
    Actions,
    /// Which data-reading actions each AWS managed policy grants (what the deny policy closes).
    DataAccess,
    /// Rebuild data/managed-policy-facts.json from AWS's published policy documents.
    DeriveFacts {
        /// Directory holding ReadOnlyAccess.json, ViewOnlyAccess.json, SecurityAudit.json.
        #[arg(long)]
        from: PathBuf,
    },
}

pub fn run(command: IamCommand) -> Result<ExitCode> {
    match command {
        IamCommand::Policy { kind } => {
            let policy = match kind {
                PolicyKind::LeastPrivilege => least_privilege_policy(&ActionManifest::full()),
                PolicyKind::DataPlaneDeny => data_plane_deny_policy(),
            };
            println!("{}", serde_json::to_string_pretty(&policy)?);
        }
        IamCommand::Coverage { format } => {
            let rows = coverage(&sightline_core::catalog(), &ManagedPolicyFacts::shipped());
            match format {
                CoverageFormat::Markdown => print!("{}", render_markdown(&rows)),
                CoverageFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
            }
        }
        IamCommand::Actions => {
            for action in ActionManifest::full().actions() {
                println!("{action}");
            }
        }
        IamCommand::DataAccess => {
            print!(
                "{}",
                render_data_access(&data_plane_grants(&ManagedPolicyFacts::shipped()))
            );
        }
        IamCommand::DeriveFacts { from } => {
            println!("{}", serde_json::to_string_pretty(&derive_facts(&from)?)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
