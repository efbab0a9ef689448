//! The question library against a real scan: the seeded emulator estate is
//! scanned by the real worker into PostgreSQL, and every library question
//! that lists open findings of named checks is asked through
//! `sightline ask`. Each must return exactly the estate's planted resources
//! for its checks (the seed's expected list), no more and no fewer.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::db::TestDatabase;
use support::{run, stderr, Emulator};

fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

/// The check ids an entry's statement names.
fn checks_named(sql: &str) -> BTreeSet<String> {
    let catalog: BTreeSet<&str> = sightline_core::catalog().iter().map(|c| c.id).collect();
    sql.split('\'')
        .skip(1)
        .step_by(2)
        .filter(|l| catalog.contains(l))
        .map(str::to_owned)
        .collect()
}

#[test]
fn library_questions_return_exactly_the_estates_planted_resources() {
    let emulator = Emulator::start("test");
    let db = TestDatabase::create();
    let cli = |args: &[&str]| emulator.succeed(&db.url, args);
    cli(&["migrate"]);
    cli(&[
        "workspace",
        "add",
        "acme",
        "--external-id",
        "acme-external-id",
    ]);
    cli(&[
        "account",
        "add",
        "--workspace",
        "acme",
        "--account-id",
        &emulator.account_id,
        "--regions",
        "us-east-1,eu-west-1",
    ]);
    cli(&["enqueue", "--workspace", "acme"]);
    cli(&["worker", "--exit-when-idle", "--name", "ask-estate"]);

    // The label the seed names each planted resource by: its name, else its
    // id (a finding on an account or a region setting has no resource row).
    let labels: BTreeMap<String, String> = support::db::sql(
        &db.url,
        "SELECT jsonb_object_agg(f.check_id || ' ' || f.resource_arn, coalesce(r.name, f.resource_id))
         FROM findings f LEFT JOIN resources r ON r.account_id = f.account_id AND r.arn = f.resource_arn",
    )
    .parse::<Value>()
    .unwrap()
    .as_object()
    .unwrap()
    .iter()
    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
    .collect();
    let expected = emulator.expected();

    let listed = run(emulator
        .sightline()
        .args(["ask", "--list", "--format", "json"]));
    let library: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let console = as_role(&db.url, "sightline_console");
    let mut asked = Vec::new();
    let mut wrong = Vec::new();
    for entry in &library {
        let checks = checks_named(entry["sql"].as_str().unwrap());
        let lists_findings = entry["sql"]
            .as_str()
            .unwrap()
            .contains("FROM findings WHERE status = 'open'")
            && entry["params"].as_array().unwrap().is_empty();
        if checks.is_empty() || !lists_findings {
            continue;
        }
        let id = entry["id"].as_str().unwrap();
        let out = run(emulator
            .sightline()
            .env("DATABASE_URL", &db.url)
            .env("SIGHTLINE_CONSOLE_DATABASE_URL", &console)
            .args(["ask", "--id", id, "--workspace", "acme", "--format", "json"]));
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stderr(&out));
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        let columns: Vec<&str> = answer["result"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let Some(arn_at) = columns.iter().position(|c| *c == "resource_arn") else {
            continue;
        };
        let check_at = columns.iter().position(|c| *c == "check_id");
        assert!(
            answer["result"]["truncated"].is_null(),
            "{id}: the result was cut"
        );
        let only_check = (checks.len() == 1).then(|| checks.iter().next().unwrap().clone());
        let found: BTreeSet<(String, String)> = answer["result"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let arn = row[arn_at].as_str().unwrap();
                let check = match check_at {
                    Some(i) => row[i].as_str().unwrap().to_owned(),
                    None => only_check
                        .clone()
                        .unwrap_or_else(|| panic!("{id}: which check?")),
                };
                let label = labels
                    .get(&format!("{check} {arn}"))
                    .cloned()
                    .unwrap_or_else(|| arn.to_owned());
                (check, label)
            })
            .collect();
        let want: BTreeSet<(String, String)> = expected
            .iter()
            .filter(|(check, _)| checks.contains(check))
            .cloned()
            .collect();
        if found != want {
            wrong.push(format!(
                "{id}: extra {:?}, missing {:?}",
                found.difference(&want).collect::<Vec<_>>(),
                want.difference(&found).collect::<Vec<_>>()
            ));
        }
        asked.push((id.to_owned(), want.len()));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        asked.len() >= 10,
        "only {} library questions were checked: {asked:?}",
        asked.len()
    );
    // Each checked question found something planted: none passed by being empty.
    let empty: Vec<&String> = asked
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(id, _)| id)
        .collect();
    assert!(
        asked.len() - empty.len() >= 10,
        "questions with nothing planted: {empty:?}"
    );
}
