//! `sightline ask`: Ask from the command line, for the workspace named.
//! Profile `none` (the default): the question is matched to the question
//! library and its statement runs as the web page's does
//! (`sightline_store::ask::ask`: the console's whole path, audited by the
//! question's hash). With a model profile (the `--ask-*` flags, as for
//! `sightline serve`), a question in words goes to the model through the
//! same pipeline as the page's (`sightline_store::assistant::ask`), stored
//! and audited as `system:ask-cli`'s; `--id` still runs the library.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use sightline_store::ask::{self, AskFailure};
use sightline_store::console::ConsolePool;
use sightline_store::Store;

use crate::store_cmd::runtime;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, in plain words.
    pub question: Option<String>,
    /// A library entry by id instead of a question.
    #[arg(long, conflicts_with = "question")]
    pub id: Option<String>,
    /// List the question library and exit (no database needed).
    #[arg(long, conflicts_with_all = ["question", "id", "workspace"])]
    pub list: bool,
    /// The workspace to ask about.
    #[arg(long, required_unless_present = "list")]
    pub workspace: Option<String>,
    /// A URL that logs in as `sightline_console`.
    #[arg(long, env = "SIGHTLINE_CONSOLE_DATABASE_URL", hide_env_values = true)]
    pub console_database_url: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// PostgreSQL URL of the database's owner, as for `sightline workspace`
    /// and `sightline audit`: it finds the workspace by name, binds the
    /// console connection to it and appends the audit record.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub model: crate::ask_model::AskModelArgs,
}

pub fn run(args: AskArgs) -> Result<ExitCode> {
    if args.list {
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(ask::LIBRARY)?),
            Format::Table => {
                for e in ask::LIBRARY {
                    println!("{:<26} {}", e.id, e.question);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(workspace), Some(url)) = (args.workspace.as_deref(), args.database_url.as_deref())
    else {
        bail!("expected --workspace and a database (--database-url or DATABASE_URL)");
    };
    let question = args.question.clone().unwrap_or_default();
    // A question refused for its shape needs no database.
    if let Err(e) = ask::check_shape(&question, args.id.as_deref()) {
        bail!("{e}");
    }
    runtime()?.block_on(async {
        let store = Store::connect(url).await?;
        store.ensure_current().await?;
        let ws = store.workspace_by_name(workspace).await?;
        let console = match &args.console_database_url {
            Some(url) => Some(ConsolePool::connect_lazy(url)?.with_binder(store.clone())),
            None => None,
        };
        // Whoever holds the owner's URL: the name is the command's, not one
        // the caller could choose.
        let actor = "system:ask-cli";
        if args.id.is_none() {
            if let Some(model) = args.model.build().await? {
                let answer = sightline_store::assistant::ask(
                    &store,
                    console.as_ref(),
                    &model.assistant,
                    ws.id,
                    actor,
                    None,
                    &question,
                )
                .await;
                let answer = match answer {
                    Ok(a) => a,
                    Err(AskFailure::Store(e)) => return Err(e.into()),
                    Err(e) => bail!("{e}"),
                };
                return print_model_answer(&answer, args.format);
            }
        }
        let outcome = ask::ask(console.as_ref(), ws.id, &question, args.id.as_deref());
        let outcome = match outcome.await {
            Ok(o) => o,
            Err(AskFailure::Store(e)) => return Err(e.into()),
            Err(e) => bail!("{e}"),
        };
        let mut tx = store.begin_workspace_tx(ws.id).await?;
        tx.audit(actor, "ask.question", "inventory", outcome.audit)
            .await?;
        tx.commit().await?;
        let asked = match outcome.asked {
            Ok(a) => a,
            Err(AskFailure::Store(e)) => return Err(e.into()),
            Err(e) => bail!("{e}"),
        };
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&asked)?),
            Format::Table => {
                let m = &asked.matched;
                println!("{}", m.asked);
                println!("{}", m.entry.explanation);
                if !m.defaulted.is_empty() {
                    println!(
                        "(not in the question, so at the library's default: {})",
                        m.defaulted.join(", ")
                    );
                }
                println!();
                let r = &asked.result;
                println!("{}", r.columns.join("\t"));
                for row in &r.rows {
                    let cells: Vec<String> = row
                        .iter()
                        .map(|c| c.as_deref().map_or("NULL".into(), cell))
                        .collect();
                    println!("{}", cells.join("\t"));
                }
                eprintln!("{} rows · ran {}", r.rows.len(), r.sql);
                if let Some(t) = &r.truncated {
                    eprintln!("{t}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A model's answer: its text and each result table; a question that
/// stopped says why and exits 1.
fn print_model_answer(
    a: &sightline_store::assistant::ModelAnswer,
    format: Format,
) -> Result<ExitCode> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(a)?),
        Format::Table => {
            if let Some(text) = &a.answer {
                println!("{text}");
            }
            for t in &a.tables {
                println!();
                println!("{}", t.columns.join("\t"));
                for row in &t.rows {
                    let cells: Vec<String> = row
                        .iter()
                        .map(|c| c.as_deref().map_or("NULL".into(), cell))
                        .collect();
                    println!("{}", cells.join("\t"));
                }
                eprintln!("{} rows · {}", t.rows.len(), t.source);
            }
            eprintln!(
                "{} · {} · data policy {} · {} tokens",
                a.provider,
                a.model,
                a.data_policy.as_str(),
                a.usage.total()
            );
        }
    }
    match a.status {
        sightline_store::assistant::Status::Answered => Ok(ExitCode::SUCCESS),
        sightline_store::assistant::Status::Stopped => {
            eprintln!(
                "stopped: {}",
                a.stopped_because.as_deref().unwrap_or("no answer")
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// A cell on one line of a tab-separated table: tabs, line breaks and
/// other control characters escaped (`--format json` gives them as they are).
fn cell(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
