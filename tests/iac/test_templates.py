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
# Read-only despite their names: one asks IAM to build the credential report
# Sightline then reads; the other is ECR's batch read of repository scanning
# settings (AWS's access level "Read"; never an image).
READ_EXCEPTIONS = {"iam:GenerateCredentialReport", "ecr:BatchGetRepositoryScanningConfiguration"}
# The AWS managed policies a monitoring role may carry, by their real ARNs in
# the aws partition (../shared/data/aws-managed-policies/README.md lists them:
# ViewOnlyAccess is a job-function policy).
MANAGED_POLICY_ARNS = {
    "ReadOnlyAccess": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "ViewOnlyAccess": "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
}


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
    allowed = t["Parameters"]["MonitoringPolicy"]["AllowedValues"]
    assert sorted(allowed) == ["ReadOnlyAccess", "SightlineLeastPrivilege", "ViewOnlyAccess"], f"MonitoringPolicy allows {allowed}"
    assert "Policies" not in role, "the monitoring role has inline policies"


def resolve_managed_policy_arn(t, choice, partition="aws"):
    """The ARN the monitoring role gets for a MonitoringPolicy choice other
    than SightlineLeastPrivilege, evaluated as CloudFormation would."""
    role = t["Resources"]["MonitoringRole"]["Properties"]
    [chosen] = [a for a in role["ManagedPolicyArns"] if isinstance(a, dict) and "Fn::If" in a]
    condition, _least, managed = chosen["Fn::If"]
    assert chosen["Fn::If"][1] == {"Ref": "LeastPrivilegePolicy"}, f"the least-privilege branch is {chosen['Fn::If'][1]}"
    sub = managed["Fn::Sub"]
    template, variables = (sub, {}) if isinstance(sub, str) else sub
    values = {"AWS::Partition": partition, "MonitoringPolicy": choice}
    for name, value in variables.items():
        if isinstance(value, dict) and "Fn::FindInMap" in value:
            table, key, field = value["Fn::FindInMap"]
            assert key == {"Ref": "MonitoringPolicy"}, f"the map is looked up by {key}"
            values[name] = t["Mappings"][table][choice][field]
        else:
            raise AssertionError(f"unexpected variable {name}: {value}")
    arn = template
    for name, value in values.items():
        arn = arn.replace("${" + name + "}", value)
    assert "${" not in arn, f"unresolved {arn}"
    return arn


def check_managed_policy_arns_are_real(t):
    for choice, expected in MANAGED_POLICY_ARNS.items():
        found = resolve_managed_policy_arn(t, choice)
        assert found == expected, f"MonitoringPolicy={choice} attaches {found}, expected {expected}"


def iam_policy_documents(t):
    """(where, document) for every identity policy in the template: managed
    policies and roles' inline policies (not KMS key policies)."""
    for name, policy in resources_of(t, "AWS::IAM::ManagedPolicy").items():
        yield name, policy["Properties"]["PolicyDocument"]
    for name, role in resources_of(t, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            yield f"{name}/{inline['PolicyName']}", inline["PolicyDocument"]


def data_plane_actions():
    deny = policy_file("sightline-data-plane-deny.json")
    return {a.lower() for s in statements(deny) for a in as_list(s["Action"])}


def _matches(pattern, action):
    import fnmatch
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def check_deny_statements_are_unconditional(t):
    for where, document in iam_policy_documents(t):
        for s in statements(document):
            if s["Effect"] == "Deny":
                assert s.get("Resource") == "*", f"{where}: a deny on {s.get('Resource')}, expected Resource \"*\""
                assert "Condition" not in s, f"{where}: a deny with a Condition ({s['Condition']}) can be stepped around"
                assert "NotAction" not in s and "NotResource" not in s, f"{where}: a deny with NotAction/NotResource"


def _names_its_resources(statement):
    """Every resource is the template's own (a Ref or GetAtt, or an Fn::If
    between such), not a pattern."""
    def own(r):
        if isinstance(r, dict) and "Fn::If" in r:
            return all(own(branch) for branch in r["Fn::If"][1:])
        return isinstance(r, dict) and ("Ref" in r or "Fn::GetAtt" in r)
    return all(own(r) for r in as_list(statement.get("Resource", "*")))


def check_no_allow_holds_a_wildcard_or_a_data_action(t):
    """No allow names a wildcard action. The managed policies (what a
    monitoring role may carry) allow no data-plane action at all; a task
    role may read only its own named resources (its secrets) with one."""
    denied = data_plane_actions()
    managed = set(resources_of(t, "AWS::IAM::ManagedPolicy"))
    for where, document in iam_policy_documents(t):
        for s in statements(document):
            if s["Effect"] != "Allow":
                continue
            assert "NotAction" not in s, f"{where}: an allow with NotAction"
            for action in as_list(s["Action"]):
                assert "*" not in action and "?" not in action, f"{where} allows the wildcard {action}"
                hit = sorted(d for d in denied if _matches(d, action))
                if hit and (where in managed or not _names_its_resources(s)):
                    raise AssertionError(f"{where} allows {action} on {s.get('Resource')}, which reads data ({hit[0]} is on the data-plane list)")


def check_trust_is_the_task_role_with_the_external_id(t):
    trust = t["Resources"]["MonitoringRole"]["Properties"]["AssumeRolePolicyDocument"]
    [s] = statements(trust)
    assert s["Effect"] == "Allow" and s["Action"] == "sts:AssumeRole", f"trust statement {s}"
    assert s["Principal"] == {"AWS": {"Ref": "SightlineTaskRoleArn"}}, f"the role trusts {s['Principal']}, expected only the task role"
    assert s.get("Condition") == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}, f"trust condition {s.get('Condition')}"
    assert t["Resources"]["MonitoringRole"]["Properties"]["MaxSessionDuration"] <= 3600, "sessions longer than an hour"


def check_stackset_skips_the_sightline_account(t):
    role = t["Resources"]["MonitoringRole"]
    assert role.get("Condition") == "CreateRoleHere", f"the role's condition is {role.get('Condition')}"
    conditions = t["Conditions"]
    assert conditions["IsSightlineAccount"] == {"Fn::Equals": [{"Ref": "AWS::AccountId"}, {
        "Fn::Select": [4, {"Fn::Split": [":", {"Ref": "SightlineTaskRoleArn"}]}]}]}, "the Sightline account is not the task role's"
    assert conditions["CreateRoleHere"] == {"Fn::Not": [{"Fn::And": [{"Condition": "IsSightlineAccount"}, {
        "Fn::Equals": [{"Ref": "SightlineAccountHasRole"}, "true"]}]}]}, f"CreateRoleHere is {conditions['CreateRoleHere']}"
    assert t["Parameters"]["SightlineAccountHasRole"]["Default"] == "true", "the guard is off by default"


CHECKS = [
    check_policies_match_the_committed_files,
    check_the_deny_policy_is_attached_and_denies_data_reads,
    check_allowed_actions_are_read_only,
    check_trust_is_the_task_role_with_the_external_id,
    check_managed_policy_arns_are_real,
    check_deny_statements_are_unconditional,
    check_no_allow_holds_a_wildcard_or_a_data_action,
    check_stackset_skips_the_sightline_account,
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
                                      lambda t: statements(_deny(t))[0]["Action"].remove("s3:GetObject*")),
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
    "ViewOnlyAccess at the root path": (check_managed_policy_arns_are_real,
                                        lambda t: t["Mappings"]["ManagedPolicyPaths"]["ViewOnlyAccess"].update(Path="policy/ViewOnlyAccess")),
    "a deny limited to some resources": (check_deny_statements_are_unconditional,
                                         lambda t: statements(_deny(t))[0].update(Resource="arn:aws:s3:::only-this/*")),
    "a deny with a condition": (check_deny_statements_are_unconditional,
                                lambda t: statements(_deny(t))[0].update(Condition={"Bool": {"aws:SecureTransport": "false"}})),
    "a service wildcard allowed": (check_no_allow_holds_a_wildcard_or_a_data_action,
                                   lambda t: statements(_least(t))[0]["Action"].append("s3:Get*")),
    "a data read allowed": (check_no_allow_holds_a_wildcard_or_a_data_action,
                            lambda t: statements(_least(t))[0]["Action"].append("dynamodb:Scan")),
    "the StackSet collides in Sightline's account": (check_stackset_skips_the_sightline_account,
                                                      lambda t: t["Resources"]["MonitoringRole"].pop("Condition")),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_property_check_fails_on_a_mutated_copy(name):
    check, mutate = MUTATIONS[name]
    template = copy.deepcopy(load(MEMBER_ROLE))
    check(template)  # holds before the mutation...
    mutate(template)
    with pytest.raises(AssertionError):
        check(template)  # ...and fails after it
