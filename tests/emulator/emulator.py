"""The AWS emulator for Sightline's tests, demo and benchmarks.

Starts the moto server on a free loopback port, seeds an estate through the
AWS API (boto3 against that port), and prints one JSON line on stdout:

    {"endpoint": "http://127.0.0.1:PORT", "account_id": ..., "scanner": {...}, "expected": [...]}

then serves until stdin closes or it is killed. Moto has no API to age
objects, so the few timestamps a check needs in the past (old access keys,
an old snapshot) are set on moto's models in this same process after the
API created them; everything else goes through the AWS API.

Estates:
  test      one or more of every misconfiguration in the check catalog, next
            to clean resources; `expected` lists (check id, resource label)
  demo      the test estate (what `make demo` scans)
  monitoring  a trail feeding CloudWatch Logs, with the CIS alarm chain
            complete for some activities and broken at each link for others
  bench:N   about N resources of ordinary kinds, for `make bench`
  fleet:N   an Organization of N member accounts reached by AssumeRole,
            a few resources each
  empty     nothing
"""

import argparse
import datetime as dt
import io
import json
import os
import sys
import threading
import urllib.parse
import zipfile

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
import logging  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.ERROR)

# moto 5.2.5's ECS RunTask with awsvpc networking reads an ENI's
# private_dns_name, which its EC2 model sets only on some paths, and answers
# 500 otherwise. Where moto set none, give the name AWS would
# (ip-<address with dashes>.ec2.internal), so RunTask answers as AWS does.
from moto.ec2.models.elastic_network_interfaces import NetworkInterface  # noqa: E402
from moto.ec2.utils import generate_dns_from_ip  # noqa: E402

if not isinstance(getattr(NetworkInterface, "private_dns_name", None), property):
    NetworkInterface.private_dns_name = property(
        lambda eni: eni.__dict__.get("_private_dns_name") or generate_dns_from_ip(eni.private_ip_address),
        lambda eni, name: eni.__dict__.__setitem__("_private_dns_name", name))

# AWS gives a trail created without event selectors the default one (every
# management event, reads and writes); moto 5.2.5 answers GetEventSelectors
# with none. Answer as AWS does.
from moto.cloudtrail.models import Trail as _MotoTrail  # noqa: E402

_moto_get_event_selectors = _MotoTrail.get_event_selectors


def _aws_default_event_selectors(trail):
    basic, advanced = _moto_get_event_selectors(trail)
    if not basic and not advanced:
        basic = [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                  "DataResources": [], "ExcludeManagementEventSources": []}]
    return basic, advanced


_MotoTrail.get_event_selectors = _aws_default_event_selectors

# moto 5.2.5 answers GetTopicAttributes with SubscriptionsConfirmed 0 whatever
# the topic's subscriptions (it lists them all as confirmed). Count them, as
# AWS does: a subscription moto lists is one it delivers to.
from moto.sns.models import Topic as _MotoTopic  # noqa: E402

_MotoTopic.subscriptions_confimed = property(
    lambda topic: sum(1 for s in topic.sns_backend.subscriptions.values() if s.topic is topic),
    lambda topic, value: None)

# moto 5.2.5 has no IAM Access Analyzer, and drops such a request without
# an answer, which an SDK retries until it times out. Answer at once with an
# error, as AWS answers an operation it does not know: the scanner records a
# gap and the checks that need it say "not evaluated".
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402

UNEMULATED = {"access-analyzer": "IAM Access Analyzer"}
_moto_dispatch = DomainDispatcherApplication.__call__


def _issued_sessions():
    """Every STS session the emulator issued, with its access key id, name
    and inline policy, so a test can tell which session signed a recorded
    request. (moto's own /moto-api/data.json answers 500 on this estate.)"""
    from moto.sts.models import sts_backends
    sessions = []
    for account, by_partition in sts_backends.items():
        for backend in by_partition.values():
            for role in backend.assumed_roles:
                sessions.append({"access_key_id": role.access_key_id, "session_name": role.session_name,
                                 "policy": role.policy, "role_arn": role.role_arn, "account_id": account})
    return sessions


# Session names whose AssumeRole STS refuses (AccessDenied), set by a test
# through POST /_sightline/refuse-session: moto evaluates no trust condition
# but the ExternalId, so a refusal of one collector's session is injected here.
REFUSED_SESSIONS = set()
REFUSALS = {}  # session name: how many AssumeRole requests were refused


def _refused_assume_role(environ):
    if environ.get("REQUEST_METHOD") != "POST" or not REFUSED_SESSIONS:
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
    name = form.get("RoleSessionName", [""])[0]
    if form.get("Action") == ["AssumeRole"] and name in REFUSED_SESSIONS:
        REFUSALS[name] = REFUSALS.get(name, 0) + 1
        return name
    return None


def _dispatch(app, environ, start_response):
    if environ.get("PATH_INFO") == "/_sightline/sessions":
        body = json.dumps(_issued_sessions()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if environ.get("PATH_INFO") == "/_sightline/refusals":
        body = json.dumps(REFUSALS).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if environ.get("PATH_INFO") == "/_sightline/refuse-session":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        REFUSED_SESSIONS.add(environ["wsgi.input"].read(length).decode().strip())
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    refused = _refused_assume_role(environ)
    if refused:
        body = ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
                "<Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole "
                f"(session {refused} refused by the test)</Message></Error><RequestId>refused</RequestId></ErrorResponse>").encode()
        start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[1].split("/") if "Credential=" in auth else []
    service = scope[3] if len(scope) > 3 else None
    if service in UNEMULATED:
        body = json.dumps({"message": f"{UNEMULATED[service]} is not emulated (moto 5.2.5)"}).encode()
        start_response("400 Bad Request", [
            ("Content-Type", "application/json"), ("x-amzn-ErrorType", "UnknownOperationException"),
            ("Content-Length", str(len(body)))])
        return [body]
    return _moto_dispatch(app, environ, start_response)


DomainDispatcherApplication.__call__ = _dispatch

# moto 5.2.5 makes the EBS default key (alias/aws/ebs) a customer managed
# key; in AWS it is AWS managed (KeyManager AWS), which no one can rotate by
# hand. Say so, as AWS does.
from moto.ec2.models.elastic_block_store import EBSBackend as _MotoEBS  # noqa: E402

_moto_default_ebs_key = _MotoEBS._create_default_encryption_key


def _aws_managed_default_ebs_key(backend):
    from moto.kms import kms_backends
    arn = _moto_default_ebs_key(backend)
    kms_backends[backend.account_id][backend.region_name].describe_key(arn).key_manager = "AWS"
    return arn


_MotoEBS._create_default_encryption_key = _aws_managed_default_ebs_key

# moto 5.2.5 answers ListServerCertificates with the same Expiration
# (2012-05-08) for every certificate; AWS gives each its own notAfter. Read
# it from the certificate, as AWS does.
from moto.iam.responses import IamResponse as _MotoIam  # noqa: E402

_moto_list_server_certificates = _MotoIam.list_server_certificates


def _list_server_certificates_with_expiry(response):
    from cryptography import x509
    result = _moto_list_server_certificates(response)
    bodies = {c.arn: c.cert_body for c in response.backend.list_server_certificates()}
    for entry in result.result["ServerCertificateMetadataList"]:
        cert = x509.load_pem_x509_certificate(bodies[entry["Arn"]].encode())
        entry["Expiration"] = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


_MotoIam.list_server_certificates = _list_server_certificates_with_expiry

# moto 5.2.5 answers GetBucketVersioning with a GetBucketVersioningResponse
# root where AWS sends VersioningConfiguration, which the SDK cannot parse.
# Answer in AWS's shape (moto keeps no MFA delete setting: S3 then leaves
# MfaDelete out, as it does for a bucket where it was never set).
from moto.s3.responses import S3Response as _MotoS3  # noqa: E402


def _aws_bucket_versioning(response):
    status = response.backend.get_bucket_versioning(response.bucket_name)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            + (f"<Status>{status}</Status>" if status else "")
            + "</VersioningConfiguration>")
    return 200, {"Content-Type": "application/xml"}, body


_MotoS3.get_bucket_versioning = _aws_bucket_versioning

# AWS's credential report always starts with the root user's row; moto 5.2.5
# leaves it out. Add it as AWS writes it: the root user signed in to the
# console three days ago, has no MFA, and holds the access key the account
# summary says it has.
from moto.iam.models import IAMBackend as _MotoIAM  # noqa: E402

_moto_credential_report = _MotoIAM.get_credential_report


def _credential_report_with_root(backend):
    header, _, users = _moto_credential_report(backend).partition("\n")
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    created = (NOW - dt.timedelta(days=900)).strftime(fmt)
    used = (NOW - dt.timedelta(days=3)).strftime(fmt)
    key = bool(backend.account_summary._account_access_keys_present)
    root = ",".join([
        "<root_account>", f"arn:aws:iam::{backend.account_id}:root", created, "not_supported", used,
        "not_supported", "not_supported", "false", "true" if key else "false", created if key else "N/A",
        "N/A", "N/A", "N/A", "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"])
    return f"{header}\n{root}\n{users}"


_MotoIAM.get_credential_report = _credential_report_with_root

# moto 5.2.5 lists buckets without BucketRegion; AWS gives each bucket's
# region when the request carries a parameter (max-buckets, prefix, ...), so
# a scanner needs GetBucketLocation only for a listing without it.
from moto.s3.responses import S3Response as _MotoS3Response  # noqa: E402

_moto_all_buckets = _MotoS3Response.all_buckets


def _all_buckets_with_region(response):
    status, headers, body = _moto_all_buckets(response)
    params = ("prefix", "bucket-region", "max-buckets", "continuation-token")
    if any(response._get_param(p) for p in params) and isinstance(body, (str, bytes)):
        text = body.decode() if isinstance(body, bytes) else body
        for bucket in response.backend.buckets.values():
            name = f"<Name>{bucket.name}</Name>"
            text = text.replace(name, f"{name}<BucketRegion>{bucket.region_name}</BucketRegion>", 1)
        body = text
    return status, headers, body


_MotoS3Response.all_buckets = _all_buckets_with_region

# moto 5.2.5 ignores DescribeSnapshots' OwnerIds and RestorableByUserIds:
# asked for the account's snapshots anyone may restore, it lists every
# snapshot. Filter as AWS does.
from moto.ec2.responses.elastic_block_store import ElasticBlockStore as _MotoEBSResponse  # noqa: E402

_moto_describe_snapshots = _MotoEBSResponse.describe_snapshots


def _describe_snapshots_filtered(response):
    owners = response._get_param("OwnerIds", [])
    restorable = response._get_param("RestorableByUserIds", [])
    if not owners and not restorable:
        return _moto_describe_snapshots(response)
    from moto.core.responses import ActionResult
    account = response.current_account

    def keep(snap):
        if owners and not any(o == snap.owner_id or (o == "self" and snap.owner_id == account) for o in owners):
            return False
        if restorable and not any(
            r in snap.create_volume_permission_userids
            or (r == "all" and "all" in snap.create_volume_permission_groups)
            or (r == "self" and snap.owner_id == account)
            for r in restorable
        ):
            return False
        return True

    snapshots = response.ec2_backend.describe_snapshots(
        snapshot_ids=response._get_param("SnapshotIds", []), filters=response._filters_from_querystring())
    return ActionResult({"Snapshots": [s for s in snapshots if keep(s)]})


_MotoEBSResponse.describe_snapshots = _describe_snapshots_filtered

ACCOUNT = "123456789012"
R1 = "us-east-1"
R2 = "eu-west-1"
NOW = dt.datetime.now(dt.timezone.utc)
PLANTED_SECRET = "planted-lambda-secret-5d41402abc4b2a76"
# Data inside resources, which no scan may read: a secret's value and a
# table item's. Neither may appear in any output, log or database row.
CANARIES = ["canary-secret-value-c4ca4238a0b92382", "canary-item-value-c81e728d9d4c2f63",
            "canary-oidc-client-secret-eccbc87e4b5ce2fe"]
EXTERNAL_ID = "sightline-test-external-id"


class Estate:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.expected = []
        self.counts = None  # what a bench estate holds, for `make bench`'s minimum

    def client(self, service, region=R1):
        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint, config=cfg)

    def expect(self, check_id, label):
        self.expected.append([check_id, label])


def tags(name, **extra):
    pairs = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in extra.items()]
    return pairs


def tag_spec(kind, name, **extra):
    return [{"ResourceType": kind, "Tags": tags(name, **extra)}]


def daily_points(days, value):
    """One point at noon on each of the last `days` days."""
    base = NOW.replace(hour=12, minute=0, second=0, microsecond=0)
    return [(base - dt.timedelta(days=d), value) for d in range(1, days + 1)]


def put_series(cw, namespace, metric, dim_name, dim_value, points):
    data = [
        {"MetricName": metric, "Dimensions": [{"Name": dim_name, "Value": dim_value}], "Timestamp": t, "Value": v}
        for t, v in points
    ]
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 500])


def run_instance(ec2, name, image_id, subnet_id, instance_type="t3.micro", tokens="required", sg_ids=None, profile="app-instance-profile"):
    kwargs = dict(
        ImageId=image_id,
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        SubnetId=subnet_id,
        MetadataOptions={"HttpTokens": tokens, "HttpEndpoint": "enabled"},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        TagSpecifications=tag_spec("instance", name),
    )
    if sg_ids:
        kwargs["SecurityGroupIds"] = sg_ids
    if profile:
        kwargs["IamInstanceProfile"] = {"Name": profile}
    instance = ec2.run_instances(**kwargs)["Instances"][0]
    iid = instance["InstanceId"]
    vol = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"][0]["VolumeId"]
    ec2.create_tags(Resources=[vol], Tags=tags(f"{name}-root"))
    return iid, vol


def default_network(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    subnets.sort(key=lambda s: s["AvailabilityZone"])
    return vpc, subnets


def name_default_acls(estate, ec2, prefix):
    """EC2's default network ACLs admit everything from anywhere: each is a
    finding. Named, so the expectation can say which."""
    for acl in ec2.describe_network_acls()["NetworkAcls"]:
        if acl["IsDefault"]:
            name = f"{prefix}-{acl['VpcId']}"
            ec2.create_tags(Resources=[acl["NetworkAclId"]], Tags=tags(name))
            estate.expect("ec2.nacl_open_admin_ports", name)


def name_default_groups(estate, ec2, prefix, clean_vpc=None):
    """Each VPC's default security group lets its members talk to each other
    and out to anywhere, as EC2 makes it: a finding, named. The one of
    `clean_vpc` has its rules revoked (the clean twin)."""
    for group in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]:
        if group["VpcId"] == clean_vpc:
            if group["IpPermissions"]:
                ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
            if group["IpPermissionsEgress"]:
                ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
            ec2.create_tags(Resources=[group["GroupId"]], Tags=tags(f"{prefix}-locked"))
            continue
        name = f"{prefix}-{group['VpcId']}"
        ec2.create_tags(Resources=[group["GroupId"]], Tags=tags(name))
        estate.expect("ec2.default_sg_allows_traffic", name)


def self_signed(name, days):
    """A self-signed certificate for `name` that expires `days` from now
    (in the past when negative), and its key, in PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.example.com")])
    not_after = NOW + dt.timedelta(days=days)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - dt.timedelta(days=400)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def seed_test(estate):
    s3 = estate.client("s3")
    iam = estate.client("iam")

    # --- S3 -----------------------------------------------------------------
    block_all = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    s3.create_bucket(Bucket="sightline-logs-clean")
    s3.put_public_access_block(Bucket="sightline-logs-clean", PublicAccessBlockConfiguration=block_all)
    s3.put_bucket_encryption(
        Bucket="sightline-logs-clean",
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    s3.put_object(Bucket="sightline-logs-clean", Key="customer-data.txt", Body=b"object contents Sightline never reads")
    # No clean twin for s3.bucket_allows_http here: the emulator speaks plain
    # HTTP and enforces such a deny, so a TLS-only bucket would refuse the
    # scanner itself. The unit tests of denies_insecure_transport hold the twins.
    estate.expect("s3.bucket_allows_http", "sightline-logs-clean")

    s3.create_bucket(Bucket="public-acl-bucket")
    s3.put_bucket_acl(Bucket="public-acl-bucket", ACL="public-read")
    estate.expect("s3.bucket_public_acl", "public-acl-bucket")
    estate.expect("s3.bucket_no_public_access_block", "public-acl-bucket")
    estate.expect("s3.bucket_allows_http", "public-acl-bucket")  # no policy at all

    s3.create_bucket(Bucket="public-policy-bucket")
    s3.put_bucket_policy(
        Bucket="public-policy-bucket",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public-policy-bucket/*"}]}),
    )
    estate.expect("s3.bucket_public_policy", "public-policy-bucket")
    estate.expect("s3.bucket_no_public_access_block", "public-policy-bucket")
    estate.expect("s3.bucket_allows_http", "public-policy-bucket")  # a policy, without the deny

    s3.create_bucket(Bucket="no-block-bucket")
    estate.expect("s3.bucket_no_public_access_block", "no-block-bucket")
    estate.expect("s3.bucket_allows_http", "no-block-bucket")
    # The account-level block is left unset.
    estate.expect("s3.account_public_access_block_off", ACCOUNT)

    # --- IAM ----------------------------------------------------------------
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireSymbols=True, RequireNumbers=True)
    estate.expect("iam.password_policy_weak", ACCOUNT)
    estate.expect("iam.root_no_mfa", ACCOUNT)  # moto's root user has no MFA
    estate.expect("iam.root_access_keys", ACCOUNT)  # set on the model below
    # The credential report's root row (added above, as AWS writes it): a
    # console sign-in three days ago, and no MFA device at all.
    estate.expect("iam.root_used_recently", ACCOUNT)
    estate.expect("iam.root_no_hardware_mfa", ACCOUNT)

    iam.create_user(UserName="console-no-mfa")
    iam.create_login_profile(UserName="console-no-mfa", Password="Correct-Horse-9!")
    estate.expect("iam.user_console_no_mfa", "console-no-mfa")
    # A password set 100 days ago (below) and never used; console-no-mfa's,
    # set today and not used yet, is the twin.
    iam.create_user(UserName="stale-console")
    iam.create_login_profile(UserName="stale-console", Password="Correct-Horse-9!")
    estate.expect("iam.user_console_no_mfa", "stale-console")
    estate.expect("iam.credentials_unused_45_days", "stale-console")
    # A console user given a key "just in case", never used.
    iam.create_user(UserName="console-with-key")
    iam.create_login_profile(UserName="console-with-key", Password="Correct-Horse-9!")
    iam.create_access_key(UserName="console-with-key")
    estate.expect("iam.user_console_no_mfa", "console-with-key")
    estate.expect("iam.console_user_unused_key", "console-with-key")

    iam.create_user(UserName="old-key-user")
    iam.create_access_key(UserName="old-key-user")
    estate.expect("iam.access_key_old", "old-key-user")

    iam.create_user(UserName="unused-key-user")
    iam.create_access_key(UserName="unused-key-user")
    estate.expect("iam.access_key_old", "unused-key-user")
    estate.expect("iam.access_key_unused", "unused-key-user")
    estate.expect("iam.credentials_unused_45_days", "unused-key-user")

    iam.create_user(UserName="ci-deployer")
    iam.create_access_key(UserName="ci-deployer")

    iam.create_user(UserName="two-key-user")
    iam.create_access_key(UserName="two-key-user")
    iam.create_access_key(UserName="two-key-user")
    estate.expect("iam.user_two_active_keys", "two-key-user")
    # A key rotation done right: the old key deactivated, not left live.
    iam.create_user(UserName="rotated-user")
    iam.create_access_key(UserName="rotated-user")
    retired = iam.create_access_key(UserName="rotated-user")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="rotated-user", AccessKeyId=retired, Status="Inactive")

    # Two certificates in IAM: one expired forty days ago, one good for a year.
    for name, days in (("old-site", -40), ("current-site", 365)):
        body, key = self_signed(name, days)
        iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=body, PrivateKey=key)
    estate.expect("iam.server_certificate_expired", "old-site")

    # No role holds AWSSupportAccess (a twin would clear the account-wide finding).
    estate.expect("iam.no_support_role", ACCOUNT)

    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.create_policy(PolicyName="admin-star", PolicyDocument=json.dumps(admin))
    estate.expect("iam.policy_admin_wildcard", "admin-star")
    scoped = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": "*"}]}
    iam.create_policy(PolicyName="s3-location-only", PolicyDocument=json.dumps(scoped))

    open_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="open-trust", AssumeRolePolicyDocument=json.dumps(open_trust))
    estate.expect("iam.role_trust_open", "open-trust")
    ec2_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="app-instance-role", AssumeRolePolicyDocument=json.dumps(ec2_trust))
    iam.create_role(RoleName="break-glass-admin", AssumeRolePolicyDocument=json.dumps(ec2_trust))
    iam.attach_role_policy(RoleName="break-glass-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    estate.expect("iam.admin_access_attached", "break-glass-admin")
    iam.create_instance_profile(InstanceProfileName="app-instance-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="app-instance-profile", RoleName="app-instance-role")

    # The caller and monitoring role the IAM-enforcement test scans through.
    iam.create_user(UserName="sightline-scanner")
    key = iam.create_access_key(UserName="sightline-scanner")["AccessKey"]
    scanner_arn = f"arn:aws:iam::{ACCOUNT}:user/sightline-scanner"
    iam.put_user_policy(
        UserName="sightline-scanner",
        PolicyName="assume-monitoring-role",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}),
    )
    estate.expect("iam.user_direct_policies", "sightline-scanner")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": scanner_arn}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}],
    }
    role = iam.create_role(RoleName="SightlineViewOnly", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.attach_role_policy(RoleName="SightlineViewOnly", PolicyArn="arn:aws:iam::aws:policy/job-function/ViewOnlyAccess")

    def partial_caller(name, denied):
        """A user allowed everything but `denied`: partial scans under IAM enforcement.
        Allow * on * (even with a Deny beside it) is an admin grant, and Sightline says so."""
        iam.create_user(UserName=name)
        access_key = iam.create_access_key(UserName=name)["AccessKey"]
        iam.put_user_policy(
            UserName=name,
            PolicyName="all-but-some",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": denied, "Resource": "*"},
            ]}),
        )
        estate.expect("iam.policy_admin_wildcard", name)
        estate.expect("iam.user_direct_policies", name)
        return access_key

    partial_key = partial_caller("no-lambda-scanner", "lambda:*")
    # Refused CloudWatch metrics, the idle checks must find nothing (moto's IAM
    # enforcement names the action monitoring:GetMetricData).
    no_metrics_key = partial_caller("no-metrics-scanner", ["cloudwatch:GetMetricData", "monitoring:GetMetricData"])
    scanner = {
        "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"], "role_arn": role["Arn"], "external_id": EXTERNAL_ID,
        "no_lambda_access_key_id": partial_key["AccessKeyId"], "no_lambda_secret_access_key": partial_key["SecretAccessKey"],
        "no_metrics_access_key_id": no_metrics_key["AccessKeyId"], "no_metrics_secret_access_key": no_metrics_key["SecretAccessKey"],
    }

    # --- EC2, us-east-1 -----------------------------------------------------
    ec2 = estate.client("ec2")
    vpc, subnets = default_network(ec2)
    ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3", LogDestination="arn:aws:s3:::sightline-logs-clean")
    dark = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tag_spec("vpc", "vpc-dark"))["Vpc"]["VpcId"]
    estate.expect("ec2.vpc_no_flow_logs", "vpc-dark")
    name_default_acls(estate, ec2, "default-acl")
    name_default_groups(estate, ec2, "default-sg", clean_vpc=dark)
    # The clean twin: HTTPS from anywhere, SSH from the office only.
    locked = ec2.create_network_acl(VpcId=vpc, TagSpecifications=tag_spec("network-acl", "nacl-locked"))["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=locked, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 443, "To": 443})
    ec2.create_network_acl_entry(NetworkAclId=locked, RuleNumber=110, Protocol="6", RuleAction="allow", Egress=False, CidrBlock="203.0.113.0/24", PortRange={"From": 22, "To": 22})
    ec2.enable_ebs_encryption_by_default()

    web_sg = ec2.create_security_group(GroupName="web", Description="https", VpcId=vpc, TagSpecifications=tag_spec("security-group", "sg-web"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ssh_sg = ec2.create_security_group(GroupName="ssh-world", Description="ssh", VpcId=vpc, TagSpecifications=tag_spec("security-group", "sg-ssh-world"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ssh_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    estate.expect("ec2.sg_open_admin_ports", "sg-ssh-world")
    db_sg = ec2.create_security_group(GroupName="db-world", Description="pg", VpcId=vpc, TagSpecifications=tag_spec("security-group", "sg-db-world"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    estate.expect("ec2.sg_open_database_ports", "sg-db-world")
    smb_sg = ec2.create_security_group(GroupName="smb-world", Description="file shares", VpcId=vpc, TagSpecifications=tag_spec("security-group", "sg-smb-world"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=smb_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 445, "ToPort": 445, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    estate.expect("ec2.sg_open_cifs", "sg-smb-world")
    # Its twin: SMB from the private network only.
    smb_private = ec2.create_security_group(GroupName="smb-private", Description="file shares", VpcId=vpc, TagSpecifications=tag_spec("security-group", "sg-smb-private"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=smb_private, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 445, "ToPort": 445, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    office_sg = ec2.create_security_group(GroupName="ssh-office", Description="ssh from office", VpcId=vpc, TagSpecifications=tag_spec("security-group", "sg-ssh-office"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=office_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}])

    subnet_a, subnet_b = subnets[0]["SubnetId"], subnets[1]["SubnetId"]
    builder, builder_vol = run_instance(ec2, "ami-builder", "ami-00000000000000001", subnet_a)
    golden = ec2.create_image(InstanceId=builder, Name="golden-shared")["ImageId"]
    ec2.create_tags(Resources=[golden], Tags=tags("golden-shared"))
    ec2.modify_image_attribute(ImageId=golden, LaunchPermission={"Add": [{"Group": "all"}]})
    estate.expect("ec2.ami_public", "golden-shared")
    old_build = ec2.create_image(InstanceId=builder, Name="old-build")["ImageId"]
    ec2.create_tags(Resources=[old_build], Tags=tags("old-build"))
    estate.expect("ec2.ami_unused", "old-build")
    private_used = ec2.create_image(InstanceId=builder, Name="app-current")["ImageId"]
    ec2.create_tags(Resources=[private_used], Tags=tags("app-current"))

    web, web_vol = run_instance(ec2, "web-clean", golden, subnet_a, sg_ids=[web_sg])
    idle, idle_vol = run_instance(ec2, "idle-box", private_used, subnet_a)
    estate.expect("ec2.instance_idle", "idle-box")
    legacy, legacy_vol = run_instance(ec2, "legacy-m4", private_used, subnet_a, instance_type="m4.large")
    estate.expect("ec2.instance_previous_generation", "legacy-m4")
    imds, imds_vol = run_instance(ec2, "imds-v1", private_used, subnet_a, tokens="optional", profile=None)
    estate.expect("ec2.instance_imdsv2_not_required", "imds-v1")
    estate.expect("ec2.instance_no_profile", "imds-v1")
    stopped, stopped_vol = run_instance(ec2, "stopped-box", private_used, subnet_a)
    ec2.stop_instances(InstanceIds=[stopped])
    estate.expect("ec2.instance_stopped_with_volumes", "stopped-box")  # stopped 45 days ago: age_models
    # Its clean twin: stopped today, a pause, not yet forgotten.
    paused, paused_vol = run_instance(ec2, "paused-box", private_used, subnet_a)
    ec2.stop_instances(InstanceIds=[paused])
    nobackup, nobackup_vol = run_instance(ec2, "no-backup", private_used, subnet_a)
    estate.expect("ebs.volume_no_recent_snapshot", "no-backup-root")
    # The builder produced the AMIs and is done: terminated, so its volume goes too.
    ec2.terminate_instances(InstanceIds=[builder])

    def volume(name, kind="gp3", encrypted=True, size=20):
        return ec2.create_volume(AvailabilityZone=subnets[0]["AvailabilityZone"], Size=size, VolumeType=kind, Encrypted=encrypted, TagSpecifications=tag_spec("volume", name))["VolumeId"]

    volume("unattached-gp3", size=100)
    estate.expect("ebs.volume_unattached", "unattached-gp3")
    gp2 = volume("gp2-data", kind="gp2")
    ec2.attach_volume(VolumeId=gp2, InstanceId=web, Device="/dev/sdf")
    estate.expect("ebs.volume_gp2", "gp2-data")
    plain = volume("unencrypted-data", encrypted=False)
    ec2.attach_volume(VolumeId=plain, InstanceId=web, Device="/dev/sdg")
    estate.expect("ebs.volume_unencrypted", "unencrypted-data")

    def snapshot(volume_id, name):
        return ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=tag_spec("snapshot", name))["SnapshotId"]

    for vol, name in [(web_vol, "web-root-daily"), (gp2, "gp2-data-daily"), (plain, "unencrypted-data-daily"), (idle_vol, "idle-root-daily"), (legacy_vol, "legacy-root-daily"), (imds_vol, "imds-root-daily")]:
        snapshot(vol, name)
    old_snap = snapshot(gp2, "snap-old")
    estate.expect("ebs.snapshot_stale", "snap-old")
    public_snap = snapshot(web_vol, "snap-public")
    ec2.modify_snapshot_attribute(SnapshotId=public_snap, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"])
    estate.expect("ebs.snapshot_public", "snap-public")
    doomed = volume("doomed")
    snapshot(doomed, "snap-orphan")
    ec2.delete_volume(VolumeId=doomed)
    estate.expect("ebs.snapshot_stale", "snap-orphan")

    free = ec2.allocate_address(Domain="vpc", TagSpecifications=tag_spec("elastic-ip", "eip-free"))
    estate.expect("ec2.eip_unassociated", "eip-free")
    used = ec2.allocate_address(Domain="vpc", TagSpecifications=tag_spec("elastic-ip", "eip-web"))
    ec2.associate_address(AllocationId=used["AllocationId"], InstanceId=web)

    nat_eips = [ec2.allocate_address(Domain="vpc", TagSpecifications=tag_spec("elastic-ip", f"eip-{n}"))["AllocationId"] for n in ("nat-idle", "nat-busy")]
    nat_idle = ec2.create_nat_gateway(SubnetId=subnet_a, AllocationId=nat_eips[0], TagSpecifications=tag_spec("natgateway", "nat-idle"))["NatGateway"]["NatGatewayId"]
    nat_busy = ec2.create_nat_gateway(SubnetId=subnet_b, AllocationId=nat_eips[1], TagSpecifications=tag_spec("natgateway", "nat-busy"))["NatGateway"]["NatGatewayId"]
    estate.expect("ec2.nat_gateway_idle", "nat-idle")

    cw = estate.client("cloudwatch")
    put_series(cw, "AWS/EC2", "CPUUtilization", "InstanceId", idle, daily_points(14, 1.5))
    put_series(cw, "AWS/EC2", "NetworkIn", "InstanceId", idle, daily_points(14, 200_000.0))
    put_series(cw, "AWS/EC2", "NetworkOut", "InstanceId", idle, daily_points(14, 100_000.0))
    put_series(cw, "AWS/EC2", "CPUUtilization", "InstanceId", web, daily_points(14, 55.0))
    put_series(cw, "AWS/EC2", "NetworkIn", "InstanceId", web, daily_points(14, 9e9))
    put_series(cw, "AWS/EC2", "NetworkOut", "InstanceId", web, daily_points(14, 9e9))
    for metric in ("BytesOutToDestination", "BytesInFromSource"):
        put_series(cw, "AWS/NATGateway", metric, "NatGatewayId", nat_idle, daily_points(14, 0.0))
        put_series(cw, "AWS/NATGateway", metric, "NatGatewayId", nat_busy, daily_points(14, 5e8))

    # --- EC2, eu-west-1: encryption by default stays off --------------------
    ec2_eu = estate.client("ec2", R2)
    eu_vpc, eu_subnets = default_network(ec2_eu)
    name_default_acls(estate, ec2_eu, "eu-default-acl")
    name_default_groups(estate, ec2_eu, "eu-default-sg")
    ec2_eu.create_flow_logs(ResourceIds=[eu_vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3", LogDestination="arn:aws:s3:::sightline-logs-clean")
    estate.expect("ebs.encryption_by_default_off", f"{ACCOUNT}/{R2}")
    ec2_eu.create_volume(AvailabilityZone=eu_subnets[0]["AvailabilityZone"], Size=50, VolumeType="gp3", Encrypted=True, TagSpecifications=tag_spec("volume", "eu-unattached"))
    estate.expect("ebs.volume_unattached", "eu-unattached")

    # --- RDS ----------------------------------------------------------------
    rds = estate.client("rds")

    def db(name, **overrides):
        settings = dict(
            DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="app",
            MasterUserPassword="not-a-real-password-1", AllocatedStorage=20, MultiAZ=True, PubliclyAccessible=False,
            StorageEncrypted=True, BackupRetentionPeriod=7, DeletionProtection=True, AutoMinorVersionUpgrade=True,
        )
        settings.update(overrides)
        rds.create_db_instance(**settings)

    db("db-clean")
    db("db-public", PubliclyAccessible=True)
    estate.expect("rds.instance_public", "db-public")
    db("db-plain", StorageEncrypted=False)
    estate.expect("rds.instance_unencrypted", "db-plain")
    db("db-single-az", MultiAZ=False)
    estate.expect("rds.instance_single_az", "db-single-az")
    db("db-short-backup", BackupRetentionPeriod=1)
    estate.expect("rds.backup_retention_short", "db-short-backup")
    db("db-unprotected", DeletionProtection=False)
    estate.expect("rds.deletion_protection_off", "db-unprotected")
    db("db-no-minor-upgrades", AutoMinorVersionUpgrade=False)
    estate.expect("rds.minor_version_upgrade_off", "db-no-minor-upgrades")
    db("db-idle")
    estate.expect("rds.instance_idle", "db-idle")
    put_series(cw, "AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "db-idle", daily_points(14, 0.0))
    put_series(cw, "AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "db-clean", daily_points(14, 12.0))
    rds.create_db_snapshot(DBInstanceIdentifier="db-clean", DBSnapshotIdentifier="db-clean-shared")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="db-clean-shared", AttributeName="restore", ValuesToAdd=["all"])
    estate.expect("rds.snapshot_public", "db-clean-shared")
    rds.create_db_snapshot(DBInstanceIdentifier="db-clean", DBSnapshotIdentifier="db-clean-private")

    # --- ELBv2 --------------------------------------------------------------
    elb = estate.client("elbv2")

    def load_balancer(name, subnet_ids, kind="application"):
        return elb.create_load_balancer(Name=name, Subnets=subnet_ids, Type=kind, Scheme="internet-facing")["LoadBalancers"][0]["LoadBalancerArn"]

    def target_group(name, lb_arn, targets, protocol="HTTP", listen=True):
        tg = elb.create_target_group(Name=name, Protocol=protocol, Port=80, VpcId=vpc, TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        if listen:
            elb.create_listener(LoadBalancerArn=lb_arn, Protocol=protocol, Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        if targets:
            elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": t, "Port": 80} for t in targets])
        return tg

    site_certificate = f"arn:aws:iam::{ACCOUNT}:server-certificate/current-site"

    def https_listener(lb_arn, tg, policy):
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443, SslPolicy=policy,
                            Certificates=[{"CertificateArn": site_certificate}],
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])

    both = [subnet_a, subnet_b]
    # Listeners: port 80 forwarding in clear is a finding (plain HTTP), and
    # so is an HTTPS listener whose policy still takes TLS 1.0 and 1.1.
    empty = load_balancer("alb-no-healthy", both)
    target_group("tg-empty", empty, [])
    estate.expect("elb.no_healthy_targets", "alb-no-healthy")
    estate.expect("elb.listener_insecure", "alb-no-healthy:80")
    quiet = load_balancer("alb-idle", both)
    tg_quiet = target_group("tg-quiet", quiet, [web])
    estate.expect("elb.idle", "alb-idle")
    estate.expect("elb.listener_insecure", "alb-idle:80")
    https_listener(quiet, tg_quiet, "ELBSecurityPolicy-2016-08")
    estate.expect("elb.listener_insecure", "alb-idle:443")
    # The clean twin: port 80 only redirects, 443 speaks TLS 1.2 and 1.3.
    busy = load_balancer("alb-busy", both)
    tg_busy = target_group("tg-busy", busy, [web], listen=False)
    elb.create_listener(LoadBalancerArn=busy, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    # Its 443 signs users in with OIDC first: the action holds a client
    # secret (a canary), which the listener's description hands back.
    elb.create_listener(LoadBalancerArn=busy, Protocol="HTTPS", Port=443, SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                        Certificates=[{"CertificateArn": site_certificate}], DefaultActions=[
                            {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
                                "Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/authorize",
                                "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/userinfo",
                                "ClientId": "sightline-estate", "ClientSecret": CANARIES[2]}},
                            {"Type": "forward", "Order": 2, "TargetGroupArn": tg_busy}])
    single = load_balancer("nlb-single-az", [subnet_a], kind="network")
    target_group("tg-single", single, [web], protocol="TCP")
    estate.expect("elb.single_az", "nlb-single-az")
    for arn, namespace, metric, per_day in [
        (quiet, "AWS/ApplicationELB", "RequestCount", 3.0),
        (busy, "AWS/ApplicationELB", "RequestCount", 250_000.0),
        (single, "AWS/NetworkELB", "NewFlowCount", 90_000.0),
    ]:
        put_series(cw, namespace, metric, "LoadBalancer", arn.split(":loadbalancer/")[1], daily_points(14, per_day))

    # --- Classic Load Balancers ----------------------------------------------
    clb = estate.client("elb")
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]

    def classic(name, listeners, zones=zones, instances=(), negotiation=None):
        clb.create_load_balancer(LoadBalancerName=name, Listeners=listeners, AvailabilityZones=list(zones),
                                 Tags=tags(name))
        if instances:
            clb.register_instances_with_load_balancer(LoadBalancerName=name,
                                                      Instances=[{"InstanceId": i} for i in instances])
        if negotiation:
            # A policy as AWS describes one: the predefined policy it was made
            # from, and each protocol on or off.
            reference, protocols = negotiation
            attributes = [{"AttributeName": "Reference-Security-Policy", "AttributeValue": reference}] + [
                {"AttributeName": f"Protocol-{p}", "AttributeValue": "true" if p in protocols else "false"}
                for p in ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")
            ]
            clb.create_load_balancer_policy(LoadBalancerName=name, PolicyName=f"{name}-tls",
                                            PolicyTypeName="SSLNegotiationPolicyType", PolicyAttributes=attributes)
            clb.create_lb_cookie_stickiness_policy(LoadBalancerName=name, PolicyName=f"{name}-sticky",
                                                   CookieExpirationPeriod=300)
            clb.set_load_balancer_policies_of_listener(LoadBalancerName=name, LoadBalancerPort=443,
                                                       PolicyNames=[f"{name}-tls", f"{name}-sticky"])

    http = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}
    https = {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 80,
             "SSLCertificateId": site_certificate}
    tcp = {"Protocol": "TCP", "LoadBalancerPort": 443, "InstanceProtocol": "TCP", "InstancePort": 443}
    # Nothing registered, and port 80 in clear (a Classic cannot redirect).
    classic("clb-empty", [http])
    estate.expect("elb.no_healthy_targets", "clb-empty")
    estate.expect("elb.listener_insecure", "clb-empty")
    # HTTPS whose negotiation policy still enables TLS 1.0.
    classic("clb-old-tls", [https], instances=[web],
            negotiation=("ELBSecurityPolicy-2016-08", {"TLSv1", "TLSv1.1", "TLSv1.2"}))
    estate.expect("elb.listener_insecure", "clb-old-tls")
    # One zone, and three requests a day (TCP passes through: not judged).
    classic("clb-idle-one-zone", [tcp], zones=zones[:1], instances=[web])
    estate.expect("elb.single_az", "clb-idle-one-zone")
    estate.expect("elb.idle", "clb-idle-one-zone")
    # The clean twin: two zones, an instance in service, TLS 1.2 only, busy.
    classic("clb-sound", [https], instances=[web],
            negotiation=("ELBSecurityPolicy-TLS-1-2-2017-01", {"TLSv1.2"}))
    for name, per_day in [("clb-idle-one-zone", 3.0), ("clb-old-tls", 40_000.0), ("clb-sound", 40_000.0)]:
        put_series(cw, "AWS/ELB", "RequestCount", "LoadBalancerName", name, daily_points(14, per_day))

    # --- Bedrock ------------------------------------------------------------
    # us-east-1 logs its model invocations to CloudWatch Logs; eu-west-1
    # logs them nowhere.
    bedrock_logs = estate.client("logs")
    bedrock_logs.create_log_group(logGroupName="/bedrock/invocations")
    bedrock_logs.put_retention_policy(logGroupName="/bedrock/invocations", retentionInDays=365)
    estate.client("bedrock").put_model_invocation_logging_configuration(loggingConfig={
        "cloudWatchConfig": {"logGroupName": "/bedrock/invocations",
                             "roleArn": f"arn:aws:iam::{ACCOUNT}:role/bedrock-invocation-logging"},
        "textDataDeliveryEnabled": True, "imageDataDeliveryEnabled": True, "embeddingDataDeliveryEnabled": True})
    estate.expect("bedrock.invocation_logging_off", f"{ACCOUNT}/{R2}")

    # --- Lambda -------------------------------------------------------------
    lam = estate.client("lambda")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return 'ok'\n")
    for name, env in [
        ("fn-leaky", {"DB_PASSWORD": PLANTED_SECRET, "LOG_LEVEL": "info"}),
        ("fn-clean", {"LOG_LEVEL": "info", "TABLE_NAME": "orders"}),
        # A secret under an innocent name, found by its value (which must never leave the collector)...
        ("fn-secret-value", {"UPSTREAM": f"postgres://app:{PLANTED_SECRET}@db.internal:5432/app", "LOG_LEVEL": "info"}),
        # ...and its clean twin: names that point at secrets, values that are not ones.
        ("fn-secret-references", {"DB_SECRET_ARN": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf",
                                  "TOKEN_TTL": "3600", "AUTH_ISSUER": "https://issuer.example.com"}),
    ]:
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=f"arn:aws:iam::{ACCOUNT}:role/app-instance-role",
            Handler="handler.handler", Code={"ZipFile": code.getvalue()}, Environment={"Variables": env},
        )
    estate.expect("lambda.env_secret_name", "fn-leaky")
    estate.expect("lambda.env_secret_name", "fn-secret-value")

    # --- Security services: on in us-east-1, off in eu-west-1 ---------------
    # (IAM Access Analyzer is not in moto: a gap in both regions, the check
    # "not evaluated", and the scan test says so.)
    cfg = estate.client("config")
    cfg.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-config",
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}})
    cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "sightline-logs-clean"})
    cfg.start_configuration_recorder(ConfigurationRecorderName="default")
    estate.client("securityhub").enable_security_hub()
    estate.client("guardduty").create_detector(Enable=True)
    for check in ("security.config_off", "security.security_hub_off", "security.guardduty_off"):
        estate.expect(check, f"{ACCOUNT}/{R2}")

    # --- CloudTrail: single-region trails only, one without validation -------
    ct = estate.client("cloudtrail")
    trail_key = estate.client("kms").create_key(Description="trail logs")["KeyMetadata"]["Arn"]
    ct.create_trail(Name="trail-regional", S3BucketName="sightline-logs-clean", EnableLogFileValidation=True,
                    KmsKeyId=trail_key)
    ct.start_logging(Name="trail-regional")
    # trail-regional's bucket logs access to itself (into no-block-bucket);
    # trail-unvalidated's does not.
    s3.put_bucket_acl(Bucket="no-block-bucket", ACL="log-delivery-write")
    s3.put_bucket_logging(Bucket="sightline-logs-clean", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "no-block-bucket", "TargetPrefix": "sightline-logs-clean/"}})
    ct.create_trail(Name="trail-unvalidated", S3BucketName="public-policy-bucket", EnableLogFileValidation=False)
    ct.start_logging(Name="trail-unvalidated")
    estate.expect("cloudtrail.log_validation_off", "trail-unvalidated")

    # --- KMS: the trail's key rotates (the twin), another does not, a third
    # is scheduled for deletion --------------------------------------------
    kms = estate.client("kms")
    kms.enable_key_rotation(KeyId=trail_key)
    still = kms.create_key(Description="never rotated")["KeyMetadata"]["KeyId"]
    estate.expect("kms.rotation_off", still)
    doomed = kms.create_key(Description="on its way out")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    estate.expect("kms.key_pending_deletion", doomed)
    # Key policies: one lets any account decrypt; its twin lets anyone in
    # this account, through EBS only (AWS's own pattern). Both rotate.
    admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:*", "Resource": "*"}
    for name, extra in (
        ("shared with anyone", {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
        ("through EBS", {"Sid": "ThroughEbs", "Effect": "Allow", "Principal": {"AWS": "*"},
                         "Action": ["kms:Decrypt", "kms:CreateGrant"], "Resource": "*",
                         "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": f"ec2.{R1}.amazonaws.com"}}}),
    ):
        policy = json.dumps({"Version": "2012-10-17", "Statement": [admin, extra]})
        key = kms.create_key(Description=name, Policy=policy)["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key)
        if name == "shared with anyone":
            estate.expect("kms.key_policy_public", key)

    # --- EFS: one file system encrypted at rest, one not --------------------
    efs = estate.client("efs")
    efs.create_file_system(CreationToken="plain", Encrypted=False, Tags=tags("efs-plain"))
    efs.create_file_system(CreationToken="sealed", Encrypted=True, Tags=tags("efs-sealed"))
    estate.expect("efs.unencrypted", "efs-plain")
    estate.expect("cloudtrail.not_kms_encrypted", "trail-unvalidated")
    estate.expect("cloudtrail.bucket_logging_off", "trail-unvalidated")
    # No multi-region trail: nothing records every region, S3 object events
    # or feeds an alarm (the monitoring estate holds the chain itself).
    estate.expect("cloudtrail.not_multi_region", ACCOUNT)
    estate.expect("cloudtrail.s3_object_events_unlogged", ACCOUNT)
    estate.expect("cloudtrail.events_unalarmed", ACCOUNT)

    # No bucket has MFA delete (moto keeps no such setting; the unit tests
    # hold the twin).
    for bucket in s3.list_buckets()["Buckets"]:
        estate.expect("s3.bucket_mfa_delete_off", bucket["Name"])

    # --- Secrets Manager: one secret rotates, two do not; one of those is
    # replicated to eu-west-1, where rotation is the primary's to run ---------
    sm = estate.client("secretsmanager")
    sm.create_secret(Name="app/api-token", SecretString=CANARIES[0])
    estate.expect("secretsmanager.rotation_off", "app/api-token")
    sm.create_secret(Name="app/replicated", SecretString=CANARIES[0], AddReplicaRegions=[{"Region": R2}])
    estate.expect("secretsmanager.rotation_off", "app/replicated")
    sm.create_secret(Name="app/db-rotating", SecretString=CANARIES[0])
    sm.rotate_secret(SecretId="app/db-rotating", RotationRules={"AutomaticallyAfterDays": 30})

    # --- DynamoDB: one table with point-in-time recovery, one without (and
    # an item whose value no scan may read) ---------------------------------
    ddb = estate.client("dynamodb")
    for table in ("orders", "ledger"):
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="orders", Item={"id": {"S": "1"}, "card": {"S": CANARIES[1]}})
    ddb.update_continuous_backups(TableName="ledger", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    estate.expect("dynamodb.pitr_off", "orders")

    # --- ECR: the registry scans team-* on push; app-unscanned is outside
    # it and has mutable tags; app-pinned has fixed tags and only the
    # deprecated per-repository flag, which AWS overrides with the registry's
    # rules (no rule matches: manual scanning) ------------------------------
    ecr = estate.client("ecr")
    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "team-*", "filterType": "WILDCARD"}]}])
    ecr.create_repository(repositoryName="app-unscanned")
    estate.expect("ecr.scan_on_push_off", "app-unscanned")
    estate.expect("ecr.tags_mutable", "app-unscanned")
    ecr.create_repository(repositoryName="app-pinned", imageTagMutability="IMMUTABLE",
                          imageScanningConfiguration={"scanOnPush": True})
    estate.expect("ecr.scan_on_push_off", "app-pinned")
    ecr.create_repository(repositoryName="team-web", imageTagMutability="IMMUTABLE")

    # --- CloudWatch Logs: a group kept forever (two years old, 50 GiB:
    # aged below), and one kept for a month --------------------------------
    logs = estate.client("logs")
    logs.create_log_group(logGroupName="/app/forever")
    logs.create_log_stream(logGroupName="/app/forever", logStreamName="app")
    estate.expect("logs.group_never_expires", "/app/forever")
    logs.create_log_group(logGroupName="/app/kept-a-month")
    logs.put_retention_policy(logGroupName="/app/kept-a-month", retentionInDays=30)

    age_models(old_snapshot=old_snap, long_stopped=stopped)
    return scanner


def age_models(old_snapshot, long_stopped):
    """Set the timestamps moto's API cannot set: key and snapshot ages, root
    keys, and how long ago an instance was stopped."""
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends

    iam_backend = iam_backends[ACCOUNT]["global"]
    old = NOW - dt.timedelta(days=120)
    for user, created, used in [("old-key-user", old, NOW - dt.timedelta(days=1)), ("unused-key-user", NOW - dt.timedelta(days=200), None), ("ci-deployer", NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=1))]:
        key = iam_backend.users[user].access_keys[0]
        key.create_date = created.replace(tzinfo=None)
        key.last_used = used and used.replace(tzinfo=None)
    iam_backend.account_summary._account_access_keys_present = 1
    # The credential report gives a user's creation as password_last_changed.
    iam_backend.users["stale-console"].create_date = (NOW - dt.timedelta(days=100)).replace(tzinfo=None)
    ec2_backends[ACCOUNT][R1].snapshots[old_snapshot].start_time = (NOW - dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stopped_at = (NOW - dt.timedelta(days=45)).strftime("%Y-%m-%d %H:%M:%S GMT")
    ec2_backends[ACCOUNT][R1].get_instance(long_stopped)._reason = f"User initiated ({stopped_at})"
    from moto.logs.models import logs_backends

    forever = logs_backends[ACCOUNT][R1].groups["/app/forever"]
    forever.creation_time = (NOW - dt.timedelta(days=730)).replace(tzinfo=None)
    forever.streams["app"].stored_bytes = 50 << 30


def seed_monitoring(estate):
    """A multi-region trail delivering to CloudWatch Logs, with the CIS
    monitoring chain complete for two activities and broken at each link
    for others:

      CloudTrail changes   the benchmark's filter, an alarm, a subscribed topic
      IAM policy changes   the same events in another order and quoting
      security groups      alarm on a topic nobody subscribes to
      root use             a filter, no alarm
      NACL changes         an alarm with no action
      everything           a filter matching every event, alarmed: counts for none
    """
    logs = estate.client("logs")
    logs.create_log_group(logGroupName="cloudtrail/main")
    group_arn = f"arn:aws:logs:{R1}:{ACCOUNT}:log-group:cloudtrail/main:*"
    s3 = estate.client("s3")
    s3.create_bucket(Bucket="monitoring-trail-logs")
    key = estate.client("kms").create_key(Description="trail logs")["KeyMetadata"]["Arn"]
    ct = estate.client("cloudtrail")
    ct.create_trail(Name="main", S3BucketName="monitoring-trail-logs", IsMultiRegionTrail=True,
                    EnableLogFileValidation=True, KmsKeyId=key, CloudWatchLogsLogGroupArn=group_arn,
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-logs")
    ct.start_logging(Name="main")
    estate.expect("cloudtrail.bucket_logging_off", "main")
    # Every management event, and S3 object writes (not reads).
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "s3 writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "readOnly", "Equals": ["false"]}]},
    ])
    estate.expect("cloudtrail.s3_object_events_unlogged", ACCOUNT)

    sns = estate.client("sns")
    sqs = estate.client("sqs")
    heard = sns.create_topic(Name="security-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="security-pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=heard, Protocol="sqs", Endpoint=queue_arn)
    unheard = sns.create_topic(Name="nobody-listens")["TopicArn"]

    cw = estate.client("cloudwatch")

    def watch(name, pattern, actions=None, alarm=True):
        logs.put_metric_filter(logGroupName="cloudtrail/main", filterName=name, filterPattern=pattern,
                               metricTransformations=[{"metricName": name, "metricNamespace": "Security",
                                                       "metricValue": "1"}])
        if alarm:
            cw.put_metric_alarm(AlarmName=f"{name}-alarm", MetricName=name, Namespace="Security",
                                Statistic="Sum", Period=300, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold",
                                AlarmActions=actions or [], ActionsEnabled=True)

    watch("trail-changes", "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || "
          "($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging) }", [heard])
    iam_events = ["DetachGroupPolicy", "AttachGroupPolicy", "DetachUserPolicy", "AttachUserPolicy",
                  "DetachRolePolicy", "AttachRolePolicy", "DeletePolicyVersion", "CreatePolicyVersion",
                  "DeletePolicy", "CreatePolicy", "PutUserPolicy", "PutRolePolicy", "PutGroupPolicy",
                  "DeleteUserPolicy", "DeleteRolePolicy", "DeleteGroupPolicy"]
    watch("iam-policy", '{($.eventSource="iam.amazonaws.com")&&(' +
          "||".join(f'($.eventName="{e}")' for e in iam_events) + ")}", [heard])
    watch("sg-changes", "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || "
          "($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || "
          "($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }", [unheard])
    watch("root", '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
          '$.eventType != "AwsServiceEvent" }', alarm=False)
    watch("nacl", "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || "
          "($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || "
          "($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }", [])
    watch("everything", '{ $.eventName = "*" }', [heard])
    estate.expect("cloudtrail.events_unalarmed", ACCOUNT)


def seed_bench(estate, size):
    """About `size` resources spread over two regions: instances with their
    volumes, extra volumes, snapshots, security groups and buckets."""
    per_region = size // 2
    s3 = estate.client("s3")
    for region in (R1, R2):
        ec2 = estate.client("ec2", region)
        vpc, subnets = default_network(ec2)
        instances = per_region // 5  # each brings a root volume and a snapshot
        for start in range(0, instances, 100):
            count = min(100, instances - start)
            out = ec2.run_instances(ImageId="ami-00000000000000001", MinCount=count, MaxCount=count, InstanceType="t3.micro", SubnetId=subnets[0]["SubnetId"], MetadataOptions={"HttpTokens": "required"}, BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp2", "Encrypted": True}}])
        vols = [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
        for v in vols:
            ec2.create_snapshot(VolumeId=v)
        for i in range(per_region // 5):
            ec2.create_volume(AvailabilityZone=subnets[0]["AvailabilityZone"], Size=10, VolumeType="gp2")
        for i in range(per_region // 10):
            ec2.create_security_group(GroupName=f"bench-{i}", Description="bench", VpcId=vpc)
        del out
    for i in range(size // 20):
        s3.create_bucket(Bucket=f"bench-bucket-{i:05d}")
    estate.counts = {"buckets": len(s3.list_buckets()["Buckets"]), "regions": {}}
    for region in (R1, R2):
        ec2 = estate.client("ec2", region)

        def count(operation, key, **kw):
            return sum(len(page[key]) for page in ec2.get_paginator(operation).paginate(**kw))

        reservations = ec2.get_paginator("describe_instances").paginate()
        estate.counts["regions"][region] = {
            "instances": sum(len(r["Instances"]) for page in reservations for r in page["Reservations"]),
            "volumes": count("describe_volumes", "Volumes"),
            "snapshots": count("describe_snapshots", "Snapshots", OwnerIds=["self"]),
            "security_groups": count("describe_security_groups", "SecurityGroups"),
        }


def seed_fleet(estate, accounts):
    """An AWS Organization of `accounts` member accounts (ids are moto's, random),
    each seeded the way Sightline reaches it: by assuming its monitoring role.
    Each holds an unattached volume, a second one and an SSH-open security
    group, named fleet-<i>-*. The management account holds the organization
    and nothing else."""
    org = estate.client("organizations")
    org.create_organization(FeatureSet="ALL")
    sts = estate.client("sts")
    members = []
    for i in range(1, accounts + 1):
        status = org.create_account(Email=f"fleet-{i}@example.com", AccountName=f"fleet-{i}")["CreateAccountStatus"]
        account = status["AccountId"]
        role = f"arn:aws:iam::{account}:role/SightlineMonitoring"
        creds = sts.assume_role(RoleArn=role, RoleSessionName="seed", ExternalId=EXTERNAL_ID)["Credentials"]
        ec2 = boto3.client(
            "ec2", region_name=R1, endpoint_url=estate.endpoint, aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
        )
        vpc, subnets = default_network(ec2)
        zone = subnets[0]["AvailabilityZone"]
        for name in (f"fleet-{i}-spare", f"fleet-{i}-data"):
            ec2.create_volume(AvailabilityZone=zone, Size=10, VolumeType="gp3", Encrypted=True, TagSpecifications=tag_spec("volume", name))
        sg = ec2.create_security_group(GroupName=f"fleet-{i}-ssh", Description="ssh", VpcId=vpc, TagSpecifications=tag_spec("security-group", f"fleet-{i}-ssh"))["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        members.append({"account_id": account, "role_arn": role, "name": f"fleet-{i}"})
    return members


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estate", default="test")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (docker-compose: 0.0.0.0 inside its network)")
    parser.add_argument("--forever", action="store_true", help="serve until killed, not until stdin closes")
    parser.add_argument("--faults", help="put a fault-injecting proxy in front (tests/emulator/faults.py), e.g. throttle=0.3,error=0.05,seed=7; `endpoint` is the proxy's, `direct_endpoint` moto's")
    parser.add_argument("--ready-file", help="write the endpoint line here once the estate is seeded (a container health check)")
    args = parser.parse_args()

    if args.ready_file and os.path.exists(args.ready_file):
        os.remove(args.ready_file)  # a restarted container's: not ready until seeded again
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    estate = Estate(endpoint)
    scanner = None
    members = []
    if args.estate in ("test", "demo"):
        scanner = seed_test(estate)
    elif args.estate == "monitoring":
        seed_monitoring(estate)
    elif args.estate.startswith("fleet:"):
        # Every account's IAM would load AWS's ~1,300 managed policies when
        # first touched: 1.3 s and megabytes per account, which a fleet of
        # hundreds cannot afford and whose checks do not need.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"
        members = seed_fleet(estate, int(args.estate.split(":", 1)[1]))
    elif args.estate.startswith("bench:"):
        seed_bench(estate, int(args.estate.split(":", 1)[1]))
    elif args.estate != "empty":
        parser.error(f"unknown estate {args.estate!r}: expected test, demo, monitoring, bench:N, fleet:N or empty")

    direct = endpoint
    if args.faults:
        from faults import FaultProxy
        try:
            proxy = FaultProxy(host, port, args.faults, host=args.host)
        except ValueError as e:
            parser.error(str(e))
        endpoint = proxy.endpoint
    line = json.dumps({"endpoint": endpoint, "direct_endpoint": direct, "account_id": ACCOUNT, "scanner": scanner, "expected": estate.expected, "planted_secret": PLANTED_SECRET, "canaries": CANARIES, "members": members, "external_id": EXTERNAL_ID, "counts": estate.counts})
    print(line, flush=True)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(line + "\n")
    try:
        if args.forever:
            threading.Event().wait()
        else:
            sys.stdin.read()  # serve until our parent closes stdin or kills us
    finally:
        server.stop()


if __name__ == "__main__":
    main()
