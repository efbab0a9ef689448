//! `sightline compliance`: the shipped frameworks and how their controls
//! map to checks.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use sightline_core::compliance::{framework, frameworks, Assessment};

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// A framework's controls and the checks that decide each (all frameworks without --framework).
    List {
        /// Framework id, e.g. cis-3.0 (see the list without it).
        #[arg(long)]
        framework: Option<String>,
        /// Output: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

pub fn run(command: ComplianceCommand) -> Result<ExitCode> {
    let ComplianceCommand::List {
        framework: wanted,
        format,
    } = command;
    let json = match format.as_str() {
        "table" => false,
        "json" => true,
        other => anyhow::bail!("unknown format {other:?}: expected table or json"),
    };
    let Some(id) = wanted else {
        if json {
            println!("{}", serde_json::to_string_pretty(frameworks())?);
        } else {
            for f in frameworks() {
                let automated = f
                    .controls
                    .iter()
                    .filter(|c| c.assessment == Assessment::Automated)
                    .count();
                println!(
                    "{:<8} {} {}: {} controls, {automated} automated",
                    f.id,
                    f.name,
                    f.version,
                    f.controls.len()
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let f = framework(&id)?;
    if json {
        println!("{}", serde_json::to_string_pretty(f)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {} ({})", f.name, f.version, f.id);
    for c in &f.controls {
        let checks = match c.assessment {
            Assessment::Manual => "manual".to_owned(),
            Assessment::Automated if c.checks.is_empty() => {
                "not evaluated: no check yet".to_owned()
            }
            Assessment::Automated => c
                .check_refs()
                .iter()
                .map(|(check, aspect)| match aspect {
                    Some(aspect) => format!("{check} ({aspect})"),
                    None => (*check).to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        println!("{:<7} L{}  {:<60}  {checks}", c.id, c.level, c.title);
    }
    Ok(ExitCode::SUCCESS)
}
