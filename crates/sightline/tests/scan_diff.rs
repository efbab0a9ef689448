//! The diff between scans, end to end: scan the emulator's estate, fix one
//! misconfiguration, add one and delete a resource, scan again; break the
//! fix again for a regression; and make a partial scan (Lambda denied by
//! the emulator's IAM enforcement) that must resolve nothing for Lambda.

mod support;

use support::db::{sql, TestDatabase};
use support::{run, stderr, Emulator};

fn changes(db: &TestDatabase, scan: usize) -> Vec<String> {
    let q = format!(
        "SELECT coalesce(string_agg(c.change || ' ' || f.check_id || ' ' || coalesce(r.name, f.resource_id), ',' ORDER BY 1), '')
         FROM scan_finding_changes c JOIN findings f ON f.id = c.finding_id LEFT JOIN resources r ON r.arn = f.resource_arn
         WHERE c.change <> 'still_open' AND c.scan_id = (SELECT id FROM scans ORDER BY started_at OFFSET {} LIMIT 1)",
        scan - 1
    );
    let text = sql(&db.url, &q);
    let mut list: Vec<String> = text
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    list.sort();
    list
}

#[test]
fn scans_are_diffed_and_a_partial_scan_resolves_nothing_it_could_not_see() {
    let emulator = Emulator::start("test");
    let db = TestDatabase::create();
    let cli = |extra_env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = emulator.sightline();
        cmd.env("DATABASE_URL", &db.url);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = run(cmd.args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    };
    let scan = |extra_env: &[(&str, &str)]| {
        cli(extra_env, &["enqueue", "--workspace", "acme"]);
        cli(extra_env, &["worker", "--exit-when-idle"]);
    };
    cli(&[], &["migrate"]);
    cli(
        &[],
        &["workspace", "add", "acme", "--external-id", "acme-xid"],
    );
    cli(
        &[],
        &[
            "account",
            "add",
            "--workspace",
            "acme",
            "--account-id",
            "123456789012",
            "--regions",
            "us-east-1",
        ],
    );

    scan(&[]);
    let first = changes(&db, 1);
    assert!(first.iter().all(|c| c.starts_with("new ")), "{first:?}");
    assert!(first.contains(&"new ec2.eip_unassociated eip-free".to_owned()));

    // Fix one misconfiguration, add one, delete one resource.
    emulator.aws(
        "c('s3').put_public_access_block(Bucket='no-block-bucket', PublicAccessBlockConfiguration={'BlockPublicAcls': True, 'IgnorePublicAcls': True, 'BlockPublicPolicy': True, 'RestrictPublicBuckets': True})\n\
         c('ec2').create_volume(AvailabilityZone='us-east-1a', Size=30, VolumeType='gp3', Encrypted=True, TagSpecifications=[{'ResourceType': 'volume', 'Tags': [{'Key': 'Name', 'Value': 'new-unattached'}]}])\n\
         ec2 = c('ec2')\n\
         free = [a for a in ec2.describe_addresses()['Addresses'] if {'Key': 'Name', 'Value': 'eip-free'} in a.get('Tags', [])][0]\n\
         ec2.release_address(AllocationId=free['AllocationId'])",
    );
    scan(&[]);
    assert_eq!(
        changes(&db, 2),
        [
            "new ebs.volume_unattached new-unattached",
            "resolved ec2.eip_unassociated eip-free",
            "resolved s3.bucket_no_public_access_block no-block-bucket",
        ]
    );
    // EC2 was read without a gap: the released address is gone, not deleted.
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM resources WHERE name = 'eip-free' AND gone_at IS NOT NULL"
        ),
        "1"
    );

    // Break the fix again, fix the Lambda secret, then scan as a caller denied Lambda.
    emulator.aws(
        "c('s3').delete_public_access_block(Bucket='no-block-bucket')\n\
         c('lambda').update_function_configuration(FunctionName='fn-leaky', Environment={'Variables': {'LOG_LEVEL': 'info'}})",
    );
    emulator.post("/moto-api/reset-auth", "0");
    let scanner = &emulator.seed["scanner"];
    scan(&[
        (
            "AWS_ACCESS_KEY_ID",
            scanner["no_lambda_access_key_id"].as_str().unwrap(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            scanner["no_lambda_secret_access_key"].as_str().unwrap(),
        ),
    ]);
    assert_eq!(
        changes(&db, 3),
        ["regressed s3.bucket_no_public_access_block no-block-bucket"]
    );
    // Lambda could not be read: its finding stays open and the function is not gone.
    assert_eq!(
        sql(
            &db.url,
            "SELECT status FROM findings WHERE check_id = 'lambda.env_secret_name' AND resource_id = 'fn-leaky'"
        ),
        "open"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM resources WHERE resource_id = 'fn-leaky' AND gone_at IS NULL"
        ),
        "1"
    );
    let gap = "SELECT count(*) FROM coverage_gaps g JOIN scans s ON s.id = g.scan_id WHERE g.action = 'lambda:ListFunctions' AND g.kind = 'AccessDenied'";
    assert_eq!(sql(&db.url, gap), "1");
    assert_eq!(
        sql(
            &db.url,
            "SELECT string_agg(status, ',' ORDER BY started_at) FROM scans"
        ),
        "partial,partial,partial"
    );
}
