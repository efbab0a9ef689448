//! Bad input is refused before any scanning, with exit 1 and one line that
//! says what was expected and what was found.

mod support;

use support::{run, stderr, Emulator};

fn refused(emulator: &Emulator, args: &[&str], expect: &[&str]) {
    let out = run(emulator.sightline().args(args));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    for needle in expect {
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    }
    assert!(out.stdout.is_empty(), "{args:?} printed a report");
}

#[test]
fn bad_input_is_refused_with_exit_1_and_a_clear_message() {
    let emulator = Emulator::start("empty");
    refused(
        &emulator,
        &["scan", "--checks", "ebs.no_such_check"],
        &["unknown check id \"ebs.no_such_check\"", "expected"],
    );
    refused(
        &emulator,
        &["scan", "--regions", "mars-north-1"],
        &[
            "unknown region \"mars-north-1\"",
            "expected one of",
            "us-east-1",
        ],
    );
    refused(
        &emulator,
        &["scan", "--regions", "not a region"],
        &["malformed region \"not a region\"", "expected"],
    );
    refused(
        &emulator,
        &["scan", "--role-arn", "arn:aws:iam::12:role/x"],
        &[
            "malformed role ARN \"arn:aws:iam::12:role/x\"",
            "expected arn:aws:iam::",
        ],
    );
    refused(
        &emulator,
        &["scan", "--services", "sqs"],
        &["unknown service \"sqs\"", "expected one of"],
    );
    refused(
        &emulator,
        &["scan", "--format", "xml"],
        &["unknown format \"xml\"", "expected one of"],
    );
    refused(
        &emulator,
        &["scan", "--concurrency", "0"],
        &["--concurrency 0", "expected at least 1"],
    );
    refused(
        &emulator,
        &[
            "scan",
            "--role-arn",
            "arn:aws:iam::123456789012:role/x",
            "--session-duration",
            "60",
        ],
        &["session duration 60s", "expected 900 to 43200"],
    );
    refused(&emulator, &["scan", "--external-id", "x"], &["--role-arn"]);

    // An output directory under a regular file cannot be created, even by root.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let bad = file.join("reports");
    refused(
        &emulator,
        &["scan", "--output-dir", bad.to_str().unwrap()],
        &[
            "cannot create output directory",
            "expected a writable directory",
        ],
    );
    assert!(!bad.exists());
}

#[test]
fn unusable_credentials_are_one_clear_line() {
    let emulator = Emulator::start("empty");
    let out = run(emulator
        .sightline()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["scan", "--profile", "no-such-profile"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no usable AWS credentials"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
