//! The committed IAM documents, as a security reviewer would deploy them: a
//! monitoring role with exactly `iam-policies/sightline-least-privilege.json`
//! and `iam-policies/sightline-data-plane-deny.json`, trusted with the
//! ExternalId, and the emulator enforcing IAM. A full scan through it reads
//! everything the checks need, and the same role is refused `s3:GetObject`
//! on a seeded object, as is ReadOnlyAccess with the deny policy beside it
//! (ReadOnlyAccess alone reads it).
//!
//! The emulator names four of the scanner's calls differently from AWS's
//! IAM (it authorises by API operation, signing name, or a fallback): the role also gets
//! those spellings, listed in `EMULATOR_SPELLINGS` beside the AWS action
//! each stands for, and nothing else. And the emulator cannot check the
//! signature of Lambda's REST paths once it enforces IAM (botocore's
//! requests fail the same way), so Lambda stays a gap here.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{finding_labels, repo_root, run, stderr, Emulator};

/// (the emulator's spelling, the AWS IAM action in the committed policy).
const EMULATOR_SPELLINGS: &[(&str, &str)] = &[
    ("monitoring:GetMetricData", "cloudwatch:GetMetricData"),
    ("s3:GetPublicAccessBlock", "s3:GetAccountPublicAccessBlock"),
    // The emulator matches the query string to no operation and falls
    // back to ListBucket for this bucket read.
    ("s3:ListBucket", "s3:GetBucketPublicAccessBlock"),
];

#[test]
fn the_committed_least_privilege_role_scans_everything_and_reads_no_data() {
    let emulator = Emulator::start("test");
    let scanner = &emulator.seed["scanner"];
    let external_id = scanner["external_id"].as_str().unwrap();
    let policies = repo_root().join("iam-policies");
    let granted = std::fs::read_to_string(policies.join("sightline-least-privilege.json")).unwrap();
    for (_, aws) in EMULATOR_SPELLINGS {
        assert!(
            granted.contains(aws),
            "{aws} is not in the committed policy"
        );
    }
    let spellings: Vec<&str> = EMULATOR_SPELLINGS.iter().map(|(moto, _)| *moto).collect();
    let role_arn = emulator
        .aws(&format!(
            "iam = c('iam')\n\
             read = lambda name: open('{dir}/' + name).read()\n\
             least = iam.create_policy(PolicyName='SightlineLeastPrivilege', PolicyDocument=read('sightline-least-privilege.json'))['Policy']['Arn']\n\
             deny = iam.create_policy(PolicyName='SightlineDataPlaneDeny', PolicyDocument=read('sightline-data-plane-deny.json'))['Policy']['Arn']\n\
             trust = {{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 'sts:AssumeRole',\n\
                 'Principal': {{'AWS': 'arn:aws:iam::{account}:user/sightline-scanner'}},\n\
                 'Condition': {{'StringEquals': {{'sts:ExternalId': '{external_id}'}}}}}}]}}\n\
             role = iam.create_role(RoleName='SightlineMonitoring', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']\n\
             iam.attach_role_policy(RoleName='SightlineMonitoring', PolicyArn=least)\n\
             iam.attach_role_policy(RoleName='SightlineMonitoring', PolicyArn=deny)\n\
             spelled = iam.create_policy(PolicyName='EmulatorSpellings', PolicyDocument=json.dumps({{'Version': '2012-10-17',\n\
                 'Statement': [{{'Effect': 'Allow', 'Action': {spellings:?}, 'Resource': '*'}}]}}))['Policy']['Arn']\n\
             iam.attach_role_policy(RoleName='SightlineMonitoring', PolicyArn=spelled)\n\
             ro = 'arn:aws:iam::aws:policy/ReadOnlyAccess'\n\
             iam.create_role(RoleName='ReadOnlyWithDeny', AssumeRolePolicyDocument=json.dumps(trust))\n\
             iam.attach_role_policy(RoleName='ReadOnlyWithDeny', PolicyArn=ro)\n\
             iam.attach_role_policy(RoleName='ReadOnlyWithDeny', PolicyArn=deny)\n\
             iam.create_role(RoleName='ReadOnlyAlone', AssumeRolePolicyDocument=json.dumps(trust))\n\
             iam.attach_role_policy(RoleName='ReadOnlyAlone', PolicyArn=ro)\n\
             print(role, end='')\n",
            dir = policies.display(),
            account = emulator.account_id,
        ))
        .trim()
        .to_owned();
    // From now on every request is authorised against IAM policies.
    emulator.post("/moto-api/reset-auth", "0");

    let key = scanner["access_key_id"].as_str().unwrap();
    let secret = scanner["secret_access_key"].as_str().unwrap();
    let out = run(emulator
        .sightline_as_scanner()
        .args([
            "scan",
            "--regions",
            "us-east-1",
            "--format",
            "json",
            "--role-arn",
            &role_arn,
        ])
        .args(["--external-id", external_id]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Nothing the policy governs was refused. What is left are the
    // emulator's own limits: its signature check under enforcement, which
    // refuses the
    // REST-JSON calls of Lambda, GuardDuty, Security Hub, EFS and Bedrock whatever the
    // policy (boto3 gets SignatureDoesNotMatch for GuardDuty as well); and
    // IAM Access Analyzer, which it does not emulate at all.
    let gaps: BTreeSet<(String, String)> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["action"].as_str().unwrap().to_owned(),
                g["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        gaps,
        BTreeSet::from([
            ("lambda:ListFunctions".to_owned(), "AccessDenied".to_owned()),
            (
                "guardduty:ListDetectors".to_owned(),
                "AccessDenied".to_owned()
            ),
            (
                "elasticfilesystem:DescribeFileSystems".to_owned(),
                "AccessDenied".to_owned()
            ),
            (
                "securityhub:DescribeHub".to_owned(),
                "AccessDenied".to_owned()
            ),
            (
                "bedrock:GetModelInvocationLoggingConfiguration".to_owned(),
                "AccessDenied".to_owned()
            ),
            (
                "access-analyzer:ListAnalyzers".to_owned(),
                "Unsupported".to_owned()
            ),
        ]),
        "{:#?}",
        report["gaps"]
    );
    // Every seeded us-east-1 misconfiguration is found, as with unrestricted credentials.
    let found = finding_labels(&report);
    let expected_here: BTreeSet<_> = emulator
        .expected()
        .into_iter()
        .filter(|(check, label)| {
            !(label.starts_with("eu-")
                || label.ends_with("/eu-west-1")
                || check.starts_with("lambda.")
                || check.starts_with("efs."))
        })
        .collect();
    let missing: Vec<_> = expected_here.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "not found through the least-privilege role: {missing:#?}"
    );

    // The same role may not read the object a customer keeps in a bucket.
    let get_object_as = |role_arn: &str| {
        let code = [
            format!("sts = boto3.client('sts', region_name='us-east-1', endpoint_url='{}', aws_access_key_id='{key}', aws_secret_access_key='{secret}')", emulator.endpoint),
            format!("creds = sts.assume_role(RoleArn='{role_arn}', RoleSessionName='reviewer', ExternalId='{external_id}')['Credentials']"),
            format!("s3 = boto3.client('s3', region_name='us-east-1', endpoint_url='{}', aws_access_key_id=creds['AccessKeyId'], aws_secret_access_key=creds['SecretAccessKey'], aws_session_token=creds['SessionToken'], config=Config(s3={{'addressing_style': 'path'}}))", emulator.endpoint),
            "try:".to_owned(),
            "    s3.get_object(Bucket='sightline-logs-clean', Key='customer-data.txt')".to_owned(),
            "    print('READ', end='')".to_owned(),
            "except Exception as e:".to_owned(),
            "    print(e.response['Error']['Code'], end='')".to_owned(),
        ]
        .join("\n");
        emulator.aws(&code)
    };
    assert_eq!(get_object_as(&role_arn), "AccessDenied");
    // ReadOnlyAccess alone reads the object; with the deny policy beside it, it cannot.
    let account = &emulator.account_id;
    assert_eq!(
        get_object_as(&format!("arn:aws:iam::{account}:role/ReadOnlyAlone")),
        "READ"
    );
    assert_eq!(
        get_object_as(&format!("arn:aws:iam::{account}:role/ReadOnlyWithDeny")),
        "AccessDenied"
    );
}
