"""Security properties of the deployment templates, read with cfn-lint's own
CloudFormation YAML loader (intrinsic functions as {"Ref": ...} nodes).

Each property is a function that raises AssertionError naming what is wrong.
The mutation tests change one property in a copy of the template and check
that its function then fails: a property check that cannot fail is no check.
"""

import copy
import json
import pathlib

import pytest
from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MEMBER_ROLE = ROOT / "cloudformation" / "member-role.yaml"
POLICIES = ROOT / "iam-policies"
READ_PREFIXES = ("Describe", "Get", "List")
# Read-only despite its name: it asks IAM to build the credential report Sightline then reads.
READ_EXCEPTIONS = {"iam:GenerateCredentialReport"}


def load(path):
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def policy_file(name):
    return json.loads((POLICIES / name).read_text())


def resources_of(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(document):
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value):
    return value if isinstance(value, list) else [value]


def check_policies_match_the_committed_files(t):
    policies = t["Resources"]
    deny = policies["DataPlaneDenyPolicy"]["Properties"]["PolicyDocument"]
    least = policies["LeastPrivilegePolicy"]["Properties"]["PolicyDocument"]
    assert deny == policy_file("sightline-data-plane-deny.json"), "the deny policy differs from iam-policies/sightline-data-plane-deny.json"
    assert least == policy_file("sightline-least-privilege.json"), "the least-privilege policy differs from iam-policies/sightline-least-privilege.json"


def check_the_deny_policy_is_attached_and_denies_data_reads(t):
    role = t["Resources"]["MonitoringRole"]["Properties"]
    assert {"Ref": "DataPlaneDenyPolicy"} in role["ManagedPolicyArns"], "the data-plane deny policy is not attached to the monitoring role"
    deny = t["Resources"]["DataPlaneDenyPolicy"]["Properties"]["PolicyDocument"]
    denied = {a for s in statements(deny) if s["Effect"] == "Deny" for a in as_list(s["Action"])}
    for action in ["s3:GetObject", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "ssm:GetParameter",
                   "logs:GetLogEvents", "logs:FilterLogEvents", "sqs:ReceiveMessage", "kinesis:GetRecords",
                   "secretsmanager:GetSecretValue", "ec2:GetPasswordData", "ec2:GetConsoleOutput", "lambda:GetFunction"]:
        assert action in denied or any(d.endswith("*") and action.startswith(d[:-1]) for d in denied), f"{action} is not denied"


def check_allowed_actions_are_read_only(t):
    for name, policy in resources_of(t, "AWS::IAM::ManagedPolicy").items():
        for s in statements(policy["Properties"]["PolicyDocument"]):
            if s["Effect"] != "Allow":
                continue
            for action in as_list(s["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{name} allows {action}"
                verb = action.split(":", 1)[1]
                assert verb.startswith(READ_PREFIXES) or action in READ_EXCEPTIONS, f"{name} allows the write action {action}"
    role = t["Resources"]["MonitoringRole"]["Properties"]
    for arn in role["ManagedPolicyArns"]:
        if isinstance(arn, dict) and "Fn::If" in arn:
            aws_managed = arn["Fn::If"][2]["Fn::Sub"]
            assert aws_managed.endswith(":iam::aws:policy/${MonitoringPolicy}"), f"unexpected managed policy {aws_managed}"
    allowed = t["Parameters"]["MonitoringPolicy"]["AllowedValues"]
    assert sorted(allowed) == ["ReadOnlyAccess", "SightlineLeastPrivilege", "ViewOnlyAccess"], f"MonitoringPolicy allows {allowed}"
    assert "Policies" not in role, "the monitoring role has inline policies"


def check_trust_is_the_task_role_with_the_external_id(t):
    trust = t["Resources"]["MonitoringRole"]["Properties"]["AssumeRolePolicyDocument"]
    [s] = statements(trust)
    assert s["Effect"] == "Allow" and s["Action"] == "sts:AssumeRole", f"trust statement {s}"
    assert s["Principal"] == {"AWS": {"Ref": "SightlineTaskRoleArn"}}, f"the role trusts {s['Principal']}, expected only the task role"
    assert s.get("Condition") == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}, f"trust condition {s.get('Condition')}"
    assert t["Resources"]["MonitoringRole"]["Properties"]["MaxSessionDuration"] <= 3600, "sessions longer than an hour"


CHECKS = [
    check_policies_match_the_committed_files,
    check_the_deny_policy_is_attached_and_denies_data_reads,
    check_allowed_actions_are_read_only,
    check_trust_is_the_task_role_with_the_external_id,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_member_role_template_holds(check):
    check(load(MEMBER_ROLE))


def _deny(t):
    return t["Resources"]["DataPlaneDenyPolicy"]["Properties"]["PolicyDocument"]


def _least(t):
    return t["Resources"]["LeastPrivilegePolicy"]["Properties"]["PolicyDocument"]


def _role(t):
    return t["Resources"]["MonitoringRole"]["Properties"]


MUTATIONS = {
    "deny policy detached": (check_the_deny_policy_is_attached_and_denies_data_reads,
                             lambda t: _role(t)["ManagedPolicyArns"].remove({"Ref": "DataPlaneDenyPolicy"})),
    "s3:GetObject no longer denied": (check_the_deny_policy_is_attached_and_denies_data_reads,
                                      lambda t: statements(_deny(t))[0]["Action"].remove("s3:GetObject")),
    "a wildcard action allowed": (check_allowed_actions_are_read_only,
                                  lambda t: statements(_least(t))[0]["Action"].append("*")),
    "a write action allowed": (check_allowed_actions_are_read_only,
                               lambda t: statements(_least(t))[0]["Action"].append("ec2:DeleteVolume")),
    "an inline policy added": (check_allowed_actions_are_read_only,
                               lambda t: _role(t).update(Policies=[{"PolicyName": "x", "PolicyDocument": {}}])),
    "AdministratorAccess offered": (check_allowed_actions_are_read_only,
                                    lambda t: t["Parameters"]["MonitoringPolicy"]["AllowedValues"].append("AdministratorAccess")),
    "least privilege out of date": (check_policies_match_the_committed_files,
                                    lambda t: statements(_least(t))[0]["Action"].pop()),
    "trusts the whole account": (check_trust_is_the_task_role_with_the_external_id,
                                 lambda t: _role(t)["AssumeRolePolicyDocument"]["Statement"][0].update(
                                     Principal={"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}})),
    "no ExternalId condition": (check_trust_is_the_task_role_with_the_external_id,
                                lambda t: _role(t)["AssumeRolePolicyDocument"]["Statement"][0].pop("Condition")),
    "twelve-hour sessions": (check_trust_is_the_task_role_with_the_external_id,
                             lambda t: _role(t).update(MaxSessionDuration=43200)),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_property_check_fails_on_a_mutated_copy(name):
    check, mutate = MUTATIONS[name]
    template = copy.deepcopy(load(MEMBER_ROLE))
    mutate(template)
    with pytest.raises(AssertionError):
        check(template)
