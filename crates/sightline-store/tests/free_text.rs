//! Free text against a real PostgreSQL (issue 16): `explorer_candidates`
//! answers exactly what the explorer's filter matches (a resource's label,
//! its name and id, or its ARN, matching the pattern), although the ARN's
//! trigram index holds only what follows the ARN's prefix
//! (`arn:partition:service:region:account:`) and the prefixes are found
//! through `resource_arn_prefixes` (migration 20261207000012).

use std::collections::BTreeSet;

use sightline_core::search::like_escape;
use sightline_store::MIGRATOR;
use sqlx::PgPool;
use uuid::Uuid;

const A: &str = "00000000-0000-0000-0000-00000000000a";
const B: &str = "00000000-0000-0000-0000-00000000000b";

/// ARNs of every shape the matching distinguishes, with labels: a prefix
/// with every field, with empty region and account (S3), with no region
/// (IAM), a resource part holding colons (Logs), another partition,
/// Unicode, upper case, fewer than five fields, exactly five.
const RESOURCES: &[(&str, &str, &str, Option<&str>)] = &[
    // (ARN with ACCT for the account, resource id, region, name)
    (
        "arn:aws:ec2:us-east-1:ACCT:volume/vol-0abc",
        "vol-0abc",
        "us-east-1",
        Some("Data_1"),
    ),
    (
        "arn:aws:ec2:eu-west-1:ACCT:instance/i-0ff",
        "i-0ff",
        "eu-west-1",
        None,
    ),
    (
        "arn:aws:s3:::My-Bucket",
        "My-Bucket",
        "us-east-1",
        Some("My-Bucket"),
    ),
    (
        "arn:aws:iam::ACCT:role/Admin:x",
        "AROAXYZ",
        "global",
        Some("Admin"),
    ),
    (
        "arn:aws:logs:us-east-1:ACCT:log-group:/aws/lambda/f:*",
        "/aws/lambda/f",
        "us-east-1",
        Some("50%_off\\x"),
    ),
    (
        "arn:aws-cn:ec2:cn-north-1:ACCT:volume/vol-ÄÖ",
        "vol-äö",
        "cn-north-1",
        Some("Ünïcode"),
    ),
    ("not-an-arn", "odd", "us-east-1", Some("odd")),
    ("a:b:c:d:e", "odd2", "us-east-1", None),
    (
        "ARN:AWS:EC2:US-EAST-1:ACCT:VOLUME/VOL-UP",
        "VOL-UP",
        "us-east-1",
        None,
    ),
];

/// Two workspaces, A with two accounts and B with one, each account holding
/// every resource above (written as the worker would, through the table's
/// triggers; the ARN is first written with a placeholder account and then
/// corrected, so that a stale prefix is left behind too).
async fn seed(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO workspaces (id, name, external_id) VALUES ($1::uuid, 'a', 'x-id-a'), ($2::uuid, 'b', 'x-id-b')",
    )
    .bind(A)
    .bind(B)
    .execute(pool)
    .await
    .unwrap();
    for (workspace, account) in [
        (A, "111111111111"),
        (A, "222222222222"),
        (B, "333333333333"),
    ] {
        let account_id: Uuid = sqlx::query_scalar(
            "INSERT INTO accounts (workspace_id, aws_account_id) VALUES ($1::uuid, $2) RETURNING id",
        )
        .bind(workspace)
        .bind(account)
        .fetch_one(pool)
        .await
        .unwrap();
        let scan_id: Uuid = sqlx::query_scalar(
            "INSERT INTO scans (workspace_id, account_id, status) VALUES ($1::uuid, $2, 'succeeded') RETURNING id",
        )
        .bind(workspace)
        .bind(account_id)
        .fetch_one(pool)
        .await
        .unwrap();
        for (arn, id, region, name) in RESOURCES {
            sqlx::query(
                "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name,
                                        first_seen, last_seen, last_scan_id)
                 VALUES ($1::uuid, $2, $3, 'test.thing', $4, $5, $6, now(), now(), $7)",
            )
            .bind(workspace)
            .bind(account_id)
            .bind(arn)
            .bind(id)
            .bind(region)
            .bind(name)
            .bind(scan_id)
            .execute(pool)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE resources SET arn = replace(arn, 'ACCT', $2) WHERE account_id = $1")
            .bind(account_id)
            .bind(account)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// The patterns the explorer would send for every substring of every ARN
/// and label (both workspaces'), escaped as it escapes them, and patterns
/// no term produces (the function takes any pattern).
async fn patterns(pool: &PgPool) -> Vec<String> {
    let texts: Vec<String> = sqlx::query_scalar(
        "SELECT arn FROM resources UNION SELECT coalesce(name, '') || ' ' || resource_id FROM resources",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut patterns = BTreeSet::new();
    for text in &texts {
        let chars: Vec<char> = text.chars().collect();
        for start in 0..chars.len() {
            for end in start + 1..=chars.len().min(start + 40) {
                let term: String = chars[start..end].iter().collect();
                patterns.insert(format!("%{}%", like_escape(&term)));
            }
        }
    }
    for raw in [
        "%",
        "_",
        "%:%",
        "%_:%",
        "arn:%",
        "arn:aws:ec2%",
        "%vol-0abc",
        "a:b:c:d:e",
        "%e",
        "arn%s3%bucket",
        "%1:_ol%",
        "%1%vol%",
        "%east%vol%",
        "_rn:aws:s3:::my-bucket",
        "%\\:volume%",
        "%1\\:v%",
        "%:%%",
        "%\\%_off%",
        "%\\\\x%",
        "%:::%",
        "%:",
        "%111111111111:",
        "ARN:AWS:S3:::%",
        "not-an-arn",
        // More than nine arms, or no trigram: read through the walk.
        "%:%:%:%:%:%",
        "%a:b:c:d:e:f:g:h:i:j%",
        "%arn:aws:ec2:us-east-1:111111111111:volume/vol-0abc:a:b:c%",
        "%_%_%_%_%_%_%_%_%_%",
    ] {
        patterns.insert(raw.to_owned());
    }
    patterns.into_iter().collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn candidates_are_exactly_the_label_or_arn_matches(pool: PgPool) {
    seed(&pool).await;
    let patterns = patterns(&pool).await;
    assert!(patterns.len() > 10_000, "{}", patterns.len());

    // Each ARN's prefix is listed, and the stale one its placeholder left.
    let prefixes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT prefix FROM resource_arn_prefixes WHERE workspace_id = $1::uuid ORDER BY 1",
    )
    .bind(A)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        prefixes,
        [
            "",
            "ARN:AWS:EC2:US-EAST-1:111111111111:",
            "ARN:AWS:EC2:US-EAST-1:222222222222:",
            "ARN:AWS:EC2:US-EAST-1:ACCT:",
            "arn:aws-cn:ec2:cn-north-1:111111111111:",
            "arn:aws-cn:ec2:cn-north-1:222222222222:",
            "arn:aws-cn:ec2:cn-north-1:ACCT:",
            "arn:aws:ec2:eu-west-1:111111111111:",
            "arn:aws:ec2:eu-west-1:222222222222:",
            "arn:aws:ec2:eu-west-1:ACCT:",
            "arn:aws:ec2:us-east-1:111111111111:",
            "arn:aws:ec2:us-east-1:222222222222:",
            "arn:aws:ec2:us-east-1:ACCT:",
            "arn:aws:iam::111111111111:",
            "arn:aws:iam::222222222222:",
            "arn:aws:iam::ACCT:",
            "arn:aws:logs:us-east-1:111111111111:",
            "arn:aws:logs:us-east-1:222222222222:",
            "arn:aws:logs:us-east-1:ACCT:",
            "arn:aws:s3:::",
        ]
    );

    // In one statement, the patterns whose candidates differ from the
    // filter's matches in workspace A (as a superuser: the workspace is
    // named by hand on this side).
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
        .bind(A)
        .execute(&mut *tx)
        .await
        .unwrap();
    let wrong: Vec<(String, Vec<Uuid>, Vec<Uuid>)> = sqlx::query_as(
        "SELECT p, got, want FROM unnest($1::text[]) p,
         LATERAL (SELECT coalesce(array_agg(c ORDER BY c), '{}') AS got FROM explorer_candidates(NULL, p, 20001) c) g,
         LATERAL (SELECT coalesce(array_agg(r.id ORDER BY r.id), '{}') AS want FROM resources r
                  WHERE r.workspace_id = $2::uuid
                    AND ((coalesce(r.name, '') || ' ' || r.resource_id) ILIKE p OR lower(r.arn) ILIKE p)) w
         WHERE got IS DISTINCT FROM want",
    )
    .bind(&patterns)
    .bind(A)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert!(
        wrong.is_empty(),
        "{} patterns differ: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );

    // The matches that only the prefix table finds are among them, and are
    // not empty: the account id, the partition, the ARN up to its resource.
    for (pattern, matches) in [
        ("%111111111111%", 6),
        ("%aws-cn%", 2),
        ("%east-1:222222222222:%", 3),
        ("arn:aws:s3:::%", 2),
        ("%:iam::%", 2),
    ] {
        let found: i64 =
            sqlx::query_scalar("SELECT count(*) FROM explorer_candidates(NULL, $1, 100)")
                .bind(pattern)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(found, matches, "{pattern}");
    }
    tx.rollback().await.unwrap();
}

/// The triggers skip a row whose account, type and region already list a
/// five-field prefix its ARN starts with: a listed prefix that were not
/// one (`arn:`, which every ARN starts with) would keep the real ones from
/// being listed, and their rows from being found. The table holds only
/// what `arn_prefix` could return.
#[sqlx::test(migrator = "MIGRATOR")]
async fn only_a_whole_arn_prefix_can_be_listed(pool: PgPool) {
    seed(&pool).await;
    for (prefix, refused) in [
        ("arn:", true),
        ("arn:aws:ec2:us-east-1:111111111111", true),
        ("arn:aws:ec2:us-east-1:111111111111:volume/", true),
        ("arn:aws:ec2:ap-south-1:111111111111:", false),
        ("", false),
    ] {
        let result = sqlx::query(
            "INSERT INTO resource_arn_prefixes (workspace_id, account_id, resource_type, region, prefix)
             SELECT workspace_id, account_id, 'other.thing', 'ap-south-1', $1 FROM resources LIMIT 1",
        )
        .bind(prefix)
        .execute(&pool)
        .await;
        match result {
            Err(e) if refused => assert_eq!(
                e.as_database_error().and_then(|d| d.constraint()),
                Some("resource_arn_prefixes_whole"),
                "{prefix}: {e}"
            ),
            Ok(_) if !refused => {}
            other => panic!("{prefix:?}: {other:?}"),
        }
    }
}
