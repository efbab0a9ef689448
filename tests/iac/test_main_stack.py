"""Security properties of cloudformation/sightline.yaml, the main stack, each
with a mutation that breaks it in a copy of the template and must make its
check fail (see test_templates.py for the member-role template and helpers).
"""

import copy
import json

import pytest

from test_templates import (ROOT, as_list, check_allowed_actions_are_read_only,
                            check_deny_statements_are_unconditional,
                            check_managed_policy_arns_are_real,
                            check_no_allow_holds_a_wildcard_or_a_data_action,
                            check_policies_match_the_committed_files,
                            check_the_deny_policy_is_attached_and_denies_data_reads, load,
                            resources_of, statements)

MAIN = ROOT / "cloudformation" / "sightline.yaml"
NON_ROOT_USER = "65532:65532"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
STACK_UUID = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


def ref(name):
    return {"Ref": name}


def getatt(name, attr):
    return {"Fn::GetAtt": [name, attr]}


def res(t, name):
    return t["Resources"][name]["Properties"]


def containers(t):
    for name, td in resources_of(t, "AWS::ECS::TaskDefinition").items():
        for c in td["Properties"]["ContainerDefinitions"]:
            yield name, c


def env(c):
    return {e["Name"]: e["Value"] for e in c.get("Environment", []) if isinstance(e, dict) and "Name" in e}


# ------------------------------------------------------------------ properties

def check_encryption(t):
    key = res(t, "Key")
    assert key["EnableKeyRotation"] is True, "the KMS key does not rotate"
    db = res(t, "DatabaseCluster")
    assert db["StorageEncrypted"] is True, "the database storage is not encrypted"
    assert db["KmsKeyId"] == getatt("Key", "Arn"), "the database is not encrypted with the stack's key"
    assert db["ManageMasterUserPassword"] is True and "MasterUserPassword" not in db, "the master password is not managed by Secrets Manager"
    for name, secret in resources_of(t, "AWS::SecretsManager::Secret").items():
        assert secret["Properties"].get("KmsKeyId") == ref("Key"), f"secret {name} is not encrypted with the stack's key"
    for name, group in resources_of(t, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("KmsKeyId") == getatt("Key", "Arn"), f"log group {name} is not encrypted"
    for name in ["DatabaseWriter", "DatabaseReader"]:
        assert res(t, name)["PerformanceInsightsKMSKeyId"] == getatt("Key", "Arn"), f"{name}: Performance Insights unencrypted"


def check_log_retention(t):
    groups = resources_of(t, "AWS::Logs::LogGroup")
    assert {"WebLogGroup", "WorkerLogGroup", "AuditLogGroup"} <= set(groups), f"log groups {sorted(groups)}"
    for name, group in groups.items():
        retention = group["Properties"].get("RetentionInDays")
        assert retention in (ref("LogRetentionDays"), ref("AuditLogRetentionDays")), f"log group {name} keeps logs for {retention}"
    for param in ["LogRetentionDays", "AuditLogRetentionDays"]:
        assert min(t["Parameters"][param]["AllowedValues"]) >= 90, f"{param} allows less than 90 days"
    for name, c in containers(t):
        options = c["LogConfiguration"]["Options"]
        assert c["LogConfiguration"]["LogDriver"] == "awslogs" and options["awslogs-group"] in (ref("WebLogGroup"), ref("WorkerLogGroup")), \
            f"{name}/{c['Name']} does not log to the stack's log groups"


def check_containers_are_locked_down(t):
    seen = set()
    for name, c in containers(t):
        where = f"{name}/{c['Name']}"
        seen.add(c["Name"])
        assert c.get("ReadonlyRootFilesystem") is True, f"{where}: the root filesystem is writable"
        assert c.get("User") == NON_ROOT_USER, f"{where}: runs as {c.get('User')!r}, expected {NON_ROOT_USER}"
        assert c.get("Privileged") is False, f"{where}: privileged"
        caps = c.get("LinuxParameters", {}).get("Capabilities", {})
        assert caps.get("Drop") == ["ALL"] and not caps.get("Add"), f"{where}: capabilities {caps}"
        # A long-running essential container has the binary as its health
        # check; the one-off setup task's container runs to its exit code.
        if c.get("Essential", True) and name != "SetupTaskDefinition":
            check = c.get("HealthCheck", {}).get("Command", [])
            assert check[:3] == ["CMD", "/usr/local/bin/sightline", "healthcheck"], f"{where}: health check {check}"
    assert seen == {"web", "setup", "worker"}, f"containers {seen}"
    tasks = {n: [c["Name"] for c in td["Properties"]["ContainerDefinitions"]] for n, td in resources_of(t, "AWS::ECS::TaskDefinition").items()}
    assert tasks == {"WebTaskDefinition": ["web"], "WorkerTaskDefinition": ["worker"], "SetupTaskDefinition": ["setup"]}, f"containers {tasks}"
    assert "SetupRun" in as_list(t["Resources"]["WorkerService"].get("DependsOn", [])), "the workers start without a successful setup"
    for service in resources_of(t, "AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED", "a service's tasks get public addresses"


def check_the_database_is_private_and_verified(t):
    for name in ["DatabaseWriter", "DatabaseReader"]:
        assert res(t, name)["PubliclyAccessible"] is False, f"{name} is publicly accessible"
    assert res(t, "DatabaseSubnetGroup")["SubnetIds"] == {
        "Fn::If": ["CreateVpc", [ref("PrivateSubnetA"), ref("PrivateSubnetB")], ref("PrivateSubnetIds")]}, "the database is not in the private subnets"
    db = res(t, "DatabaseCluster")
    assert db["DeletionProtection"] == ref("DatabaseDeletionProtection"), "deletion protection is not the parameter"
    assert t["Parameters"]["DatabaseDeletionProtection"]["Default"] == "true", "deletion protection is off by default"
    assert db["EngineVersion"] == ref("DatabaseEngineVersion"), "the engine version is not a parameter"
    assert t["Resources"]["DatabaseCluster"].get("DeletionPolicy") == "Snapshot", "deleting the stack drops the data without a snapshot"
    assert t["Parameters"]["BackupRetentionDays"]["MinValue"] >= 7 and db["BackupRetentionPeriod"] == ref("BackupRetentionDays"), "backups kept under 7 days"
    assert res(t, "DatabaseParameters")["Parameters"]["rds.force_ssl"] == "1", "the database accepts connections without TLS"
    for name, c in containers(t):
        e = env(c)
        if "SIGHTLINE_DATABASE_SECRET_ID" in e:
            assert e.get("SIGHTLINE_DATABASE_SSLMODE") == "verify-full", f"{name}/{c['Name']} does not verify the database's certificate"
            assert e.get("SIGHTLINE_DATABASE_SSLROOTCERT") == "/etc/sightline/rds-ca.pem", f"{name}/{c['Name']} has no CA bundle"


def _ingress(t):
    """(group, protocol, from, to, source) for every ingress rule, inline or not."""
    rules = set()
    for name, sg in resources_of(t, "AWS::EC2::SecurityGroup").items():
        for r in sg["Properties"].get("SecurityGroupIngress", []):
            source = r.get("CidrIp") or r.get("CidrIpv6") or r.get("SourceSecurityGroupId", {}).get("Ref") or r.get("SourcePrefixListId")
            rules.add((name, r["IpProtocol"], r.get("FromPort"), r.get("ToPort"), str(source)))
    for r in resources_of(t, "AWS::EC2::SecurityGroupIngress").values():
        p = r["Properties"]
        source = p.get("CidrIp") or p.get("CidrIpv6") or p.get("SourceSecurityGroupId", {}).get("Ref") or p.get("SourcePrefixListId")
        rules.add((p["GroupId"]["Ref"], p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), str(source)))
    return rules


def check_security_group_ingress_sources(t):
    expected = {
        ("LoadBalancerSecurityGroup", "tcp", 443, 443, str(ref("AllowedCidr"))),
        ("LoadBalancerSecurityGroup", "tcp", 80, 80, str(ref("AllowedCidr"))),
        ("WebSecurityGroup", "tcp", 8080, 8080, "LoadBalancerSecurityGroup"),
        ("DatabaseSecurityGroup", "tcp", 5432, 5432, "WebSecurityGroup"),
        ("DatabaseSecurityGroup", "tcp", 5432, 5432, "WorkerSecurityGroup"),
        ("EndpointSecurityGroup", "tcp", 443, 443, "WebSecurityGroup"),
        ("EndpointSecurityGroup", "tcp", 443, 443, "WorkerSecurityGroup"),
    }
    found = _ingress(t)
    assert found == expected, f"unexpected ingress {sorted(found - expected)}, missing {sorted(expected - found)}"
    services = {n: s["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
                for n, s in resources_of(t, "AWS::ECS::Service").items()}
    assert services == {"WebService": [ref("WebSecurityGroup")], "WorkerService": [ref("WorkerSecurityGroup")]}, f"service groups {services}"
    assert res(t, "DatabaseCluster")["VpcSecurityGroupIds"] == [ref("DatabaseSecurityGroup")], "the database's security groups"


def check_the_load_balancer_serves_only_tls(t):
    https = res(t, "HttpsListener")
    assert https["Protocol"] == "HTTPS" and https["Port"] == 443, "no HTTPS listener on 443"
    assert https["Certificates"] == [{"CertificateArn": ref("CertificateArn")}], "the listener does not use CertificateArn"
    assert https["SslPolicy"] == TLS_POLICY, f"TLS policy {https['SslPolicy']}, expected {TLS_POLICY}"
    listeners = resources_of(t, "AWS::ElasticLoadBalancingV2::Listener")
    for name, listener in listeners.items():
        p = listener["Properties"]
        if p["Protocol"] != "HTTPS":
            [action] = p["DefaultActions"]
            assert action["Type"] == "redirect" and action["RedirectConfig"]["Protocol"] == "HTTPS", f"{name} serves plain HTTP"
    attributes = {a["Key"]: a["Value"] for a in res(t, "LoadBalancer")["LoadBalancerAttributes"] if "Key" in a}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true", "invalid headers are passed on"


WEB_PERMISSIONS = [
    ("secretsmanager:GetSecretValue", (ref("AppDatabaseSecret"), ref("ConsoleDatabaseSecret"), ref("KekSecret"),
                                       {"Fn::If": ["HasLlmKey", ref("LlmApiKeySecret"), ref("AWS::NoValue")]})),
    ("kms:Decrypt", (getatt("Key", "Arn"),)),
]
WORKER_PERMISSIONS = [
    ("sts:AssumeRole", ({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MonitoringRoleName}"},)),
    ("secretsmanager:GetSecretValue", (ref("WorkerDatabaseSecret"),)),
    ("kms:Decrypt", (getatt("Key", "Arn"),)),
    ("logs:CreateLogGroup", None), ("logs:CreateLogStream", None), ("logs:PutLogEvents", None),
]
SETUP_PERMISSIONS = [
    ("secretsmanager:GetSecretValue", (getatt("DatabaseCluster", "MasterUserSecret.SecretArn"), ref("AppDatabaseSecret"),
                                       ref("WorkerDatabaseSecret"), ref("ConsoleDatabaseSecret"), ref("OwnerPasswordSecret"))),
    ("kms:Decrypt", (getatt("Key", "Arn"),)),
]
AUDIT_GROUP = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${AuditLogGroup}"}


def _permissions(role):
    found = set()
    for policy in role.get("Policies", []):
        for s in statements(policy["PolicyDocument"]):
            assert s["Effect"] == "Allow", f"unexpected {s['Effect']}"
            resources = tuple(json_key(r) for r in as_list(s["Resource"]))
            for action in as_list(s["Action"]):
                if action.startswith("logs:"):
                    assert resources == (json_key(AUDIT_GROUP), json_key({"Fn::Sub": AUDIT_GROUP["Fn::Sub"] + ":log-stream:*"})), \
                        f"{action} on {resources}, expected the audit log group only"
                    found.add((action, None))
                else:
                    if action == "kms:Decrypt":
                        assert s.get("Condition") == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}}, \
                            "kms:Decrypt is not limited to Secrets Manager"
                    found.add((action, resources))
    return found


def json_key(value):
    return json.dumps(value, sort_keys=True)


def _keyed(permissions):
    return {(a, None if r is None else tuple(json_key(x) for x in r)) for a, r in permissions}


def check_task_roles_have_exactly_their_permissions(t):
    for name, expected in [("WebTaskRole", WEB_PERMISSIONS), ("WorkerTaskRole", WORKER_PERMISSIONS), ("SetupTaskRole", SETUP_PERMISSIONS)]:
        role = res(t, name)
        assert not role.get("ManagedPolicyArns"), f"{name} has managed policies"
        [trust] = statements(role["AssumeRolePolicyDocument"])
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}, f"{name} trusts {trust['Principal']}"
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ref("AWS::AccountId")}, f"{name}: no confused-deputy guard"
        found = _permissions(role)
        assert found == _keyed(expected), f"{name}: extra {sorted(found - _keyed(expected))}, missing {sorted(_keyed(expected) - found)}"
    for name, td in resources_of(t, "AWS::ECS::TaskDefinition").items():
        assert td["Properties"]["TaskRoleArn"] != td["Properties"]["ExecutionRoleArn"], f"{name}: task and execution roles are one"
    roles = {n: td["Properties"]["TaskRoleArn"] for n, td in resources_of(t, "AWS::ECS::TaskDefinition").items()}
    assert roles == {"WebTaskDefinition": getatt("WebTaskRole", "Arn"), "WorkerTaskDefinition": getatt("WorkerTaskRole", "Arn"),
                     "SetupTaskDefinition": getatt("SetupTaskRole", "Arn")}, f"task roles {roles}"


def check_monitoring_trust_is_the_worker_with_the_external_id(t):
    role = res(t, "MonitoringRole")
    [s] = statements(role["AssumeRolePolicyDocument"])
    assert s["Effect"] == "Allow" and s["Action"] == "sts:AssumeRole", f"trust statement {s}"
    assert s["Principal"] == {"AWS": getatt("WorkerTaskRole", "Arn")}, f"the role trusts {s['Principal']}, expected only the worker task role"
    assert s.get("Condition") == {"StringEquals": {"sts:ExternalId": ref("ExternalId")}}, f"trust condition {s.get('Condition')}"
    assert role["MaxSessionDuration"] <= 3600, "sessions longer than an hour"
    assert t["Resources"]["MonitoringRole"].get("Condition") == "CreateRole", "the monitoring role is not optional"


def _port_of(address):
    return int(str(address).rsplit(":", 1)[1].split("/", 1)[0])


def check_ports_agree(t):
    target = res(t, "WebTargetGroup")["Port"]
    web = _container(t, "web")
    command = web["Command"]
    listen = _port_of(command[command.index("--listen") + 1])
    [mapping] = web["PortMappings"]
    [lb] = res(t, "WebService")["LoadBalancers"]
    health = _port_of(web["HealthCheck"]["Command"][-1])
    ingress = res(t, "WebFromLoadBalancer")
    egress = res(t, "LoadBalancerToWeb")
    ports = {"target group": target, "--listen": listen, "container port": mapping["ContainerPort"],
             "service's container port": lb["ContainerPort"], "health check": health,
             "web ingress": ingress["FromPort"], "web ingress (to)": ingress["ToPort"],
             "load balancer egress": egress["FromPort"], "load balancer egress (to)": egress["ToPort"]}
    assert len(set(ports.values())) == 1, f"the web port disagrees: {ports}"
    assert lb["ContainerName"] == "web", f"the service sends traffic to {lb['ContainerName']}"


def check_the_key_lets_cloudwatch_logs_use_it(t):
    key = res(t, "Key")["KeyPolicy"]
    logs = [s for s in statements(key) if s.get("Principal") == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}]
    assert len(logs) == 1, "the key policy does not let CloudWatch Logs use the key"
    [s] = logs
    actions = set(as_list(s["Action"]))
    for needed in ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:Describe*"]:
        assert needed in actions, f"CloudWatch Logs may not {needed}"
    patterns = [p["Fn::Sub"] for p in as_list(s["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])]
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    import fnmatch
    for name, group in resources_of(t, "AWS::Logs::LogGroup").items():
        given = group["Properties"]["LogGroupName"]
        literal = given["Fn::Sub"] if isinstance(given["Fn::Sub"], str) else given["Fn::Sub"][0]
        # Stand-ins for the variables, then each pattern must admit the group.
        concrete = literal.replace("${AWS::StackName}", "stack").replace("${StackUuid}", "uuid").replace("${DatabaseCluster}", "cluster-1")
        admitted = [p for p in patterns if fnmatch.fnmatchcase(prefix + concrete,
                    p.replace("${AWS::StackName}", "stack").replace("${AWS::Partition}", "${AWS::Partition}"))]
        assert admitted, f"log group {name} ({literal}) is not covered by the key policy for CloudWatch Logs"


def check_retained_names_carry_the_stack_id(t):
    retained = {n for n, r in t["Resources"].items() if r.get("DeletionPolicy") == "Retain"}
    assert {"Key", "KekSecret", "AuditLogGroup"} <= retained, f"retained: {sorted(retained)}"
    for name in sorted(retained):
        r = t["Resources"][name]
        assert r.get("UpdateReplacePolicy") == "Retain", f"{name} is retained on delete but not on replacement"
        props = r["Properties"]
        for field in ("LogGroupName", "Name", "RoleName", "BucketName", "AliasName", "TableName"):
            if field in props:
                value = props[field]
                assert isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], list), \
                    f"{name}.{field} is {value}: a retained name must carry the stack's id"
                literal, variables = value["Fn::Sub"]
                carries = [v for v, x in variables.items() if x == STACK_UUID and "${" + v + "}" in literal]
                assert carries, f"{name}.{field} ({literal}) does not carry the stack's id"


def check_logs_reach_cloudwatch_as_json(t):
    for name, c in containers(t):
        e = env(c)
        assert e.get("SIGHTLINE_LOG") == "info", f"{name}/{c['Name']}: SIGHTLINE_LOG is {e.get('SIGHTLINE_LOG')!r}, expected 'info'"
        assert e.get("SIGHTLINE_LOG_FORMAT") == "json", f"{name}/{c['Name']}: logs are not JSON"


def check_the_external_id_is_a_secret(t):
    for name, c in containers(t):
        text = json.dumps(c.get("Environment", []))
        assert json.dumps(ref("ExternalId")) not in text, f"{name}/{c['Name']}: the ExternalId is a plain environment value"
    setup = _container(t, "setup")
    secrets = {s["Name"]: s["ValueFrom"] for s in setup.get("Secrets", [])}
    assert secrets.get("SIGHTLINE_EXTERNAL_ID") == ref("ExternalIdSecret"), f"setup's secrets {secrets}"
    assert res(t, "ExternalIdSecret")["SecretString"] == ref("ExternalId")


def check_api_keys_work_behind_oidc(t):
    rule = t["Resources"]["ApiWithoutOidc"]
    assert rule["Condition"] == "UseOidc", "the /api/* rule is not tied to OIDC"
    p = rule["Properties"]
    assert p["ListenerArn"] == ref("HttpsListener")
    assert p["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}},
                               {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "Authorization", "Values": ["Bearer slk_*"]}}], \
        f"rule conditions {p['Conditions']}: only API-key requests may skip the OIDC action"
    assert [a["Type"] for a in p["Actions"]] == ["forward"], f"/api/* goes through {[a['Type'] for a in p['Actions']]}"


def check_services_wait_for_the_network(t):
    for name, service in resources_of(t, "AWS::ECS::Service").items():
        assert "NetworkReady" in as_list(service.get("DependsOn", [])), f"{name} may start before the private routes exist"
    metadata = t["Resources"]["NetworkReady"]["Metadata"]
    waited = {v["Fn::If"][1]["Ref"] for v in metadata.values()}
    routes = {n for n in resources_of(t, "AWS::EC2::Route") if n.startswith("PrivateDefaultRoute")}
    assert routes and routes <= waited, f"NetworkReady waits for {sorted(waited)}, not for {sorted(routes - waited)}"
    nats = {r["Properties"]["NatGatewayId"]["Ref"] for n, r in resources_of(t, "AWS::EC2::Route").items() if n in routes}
    assert len(nats) == 2, f"the private subnets share NAT gateways {sorted(nats)}: one per AZ expected"


INTERFACE_ENDPOINTS = {"sts", "secretsmanager", "logs", "ecr.api", "ecr.dkr", "bedrock-runtime"}
# Endpoints that exist only with a feature, and the condition that says so.
FEATURE_ENDPOINTS = {"BedrockRuntimeEndpoint": "UseBedrockEndpoint"}


def _service_of(endpoint):
    return endpoint["Properties"]["ServiceName"]["Fn::Sub"].removeprefix("com.amazonaws.${AWS::Region}.")


def check_private_endpoints_leave_the_web_no_way_out(t):
    """With PrivateEndpoints: the tasks' own AWS services answer inside the VPC,
    only the tasks reach them, and the web tasks sit where no route leads out."""
    conditions = t["Conditions"]
    assert conditions["UsePrivateEndpoints"] == {"Fn::And": [{"Condition": "CreateVpc"}, {"Fn::Equals": [ref("PrivateEndpoints"), "true"]}]}, \
        f"UsePrivateEndpoints is {conditions['UsePrivateEndpoints']}"
    # Isolated only where the image's registry is (ImageUri: us-east-1): an
    # endpoint serves its own region, so elsewhere the task could not pull.
    assert "709825985650\\.dkr\\.ecr\\.us-east-1\\." in t["Parameters"]["ImageUri"]["AllowedPattern"], "the image moved region"
    assert conditions["IsolateWeb"] == {"Fn::And": [{"Condition": "UsePrivateEndpoints"}, {"Fn::Not": [{"Condition": "UseOidc"}]},
                                                    {"Fn::Not": [{"Condition": "UseExternalModel"}]},
                                                    {"Fn::Equals": [ref("AWS::Region"), "us-east-1"]}]}, f"IsolateWeb is {conditions['IsolateWeb']}"
    endpoints = resources_of(t, "AWS::EC2::VPCEndpoint")
    for name, e in endpoints.items():
        assert e.get("Condition") == FEATURE_ENDPOINTS.get(name, "UsePrivateEndpoints"), f"{name} exists without PrivateEndpoints"
    assert conditions["UseBedrockEndpoint"] == {"Fn::And": [{"Condition": "UsePrivateEndpoints"}, {"Condition": "UseBedrock"}]}, \
        "the Bedrock runtime endpoint outside PrivateEndpoints"
    interface = {_service_of(e): (n, e["Properties"]) for n, e in endpoints.items() if e["Properties"]["VpcEndpointType"] == "Interface"}
    assert set(interface) == INTERFACE_ENDPOINTS, f"interface endpoints for {sorted(interface)}, expected {sorted(INTERFACE_ENDPOINTS)}"
    for service, (name, p) in interface.items():
        assert p.get("PrivateDnsEnabled") is True, f"{name}: without private DNS the tasks still go through the NAT"
        assert p["SecurityGroupIds"] == [ref("EndpointSecurityGroup")], f"{name} is guarded by {p['SecurityGroupIds']}"
        assert p["SubnetIds"] == [ref("IsolatedSubnetA"), ref("IsolatedSubnetB")], f"{name} is in {p['SubnetIds']}"
    for service, (name, p) in interface.items():
        policy = p.get("PolicyDocument")
        assert policy and policy["Fn::If"][0] == "HasOrganization" and policy["Fn::If"][2] == ref("AWS::NoValue"), \
            f"{name}: with OrganizationId only the organization's principals may use it, found {policy}"
        condition = policy["Fn::If"][1]["Statement"][0]["Condition"]
        assert condition == {"StringEquals": {"aws:PrincipalOrgID": ref("OrganizationId")}}, f"{name}: {condition}"
    gateways = {n: e["Properties"] for n, e in endpoints.items() if e["Properties"]["VpcEndpointType"] == "Gateway"}
    assert {_service_of({"Properties": g}) for g in gateways.values()} == {"s3"}, "S3 gateway endpoints only"
    tables = {n: {r["Ref"] for r in g["RouteTableIds"]} for n, g in gateways.items()}
    isolated = [n for n, ts in tables.items() if "IsolatedRouteTable" in ts]
    assert len(isolated) == 1 and tables[isolated[0]] == {"IsolatedRouteTable"}, f"the isolated table shares an S3 gateway: {tables}"
    # From the isolated subnets S3 reaches ECR's layer bucket only, and reads it only.
    statements_ = gateways[isolated[0]].get("PolicyDocument", {}).get("Statement", "AWS's default: every bucket, every action")
    assert statements_ == [{"Sid": "EcrImageLayersOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"}}], \
        f"the isolated subnets' S3 gateway allows {statements_}"
    assert set().union(*tables.values()) >= {"PrivateRouteTable", "PrivateRouteTableB"}, f"the private tables lack an S3 gateway: {tables}"
    # Only the tasks reach the endpoints (the ingress set is pinned by
    # check_security_group_ingress_sources); nothing leaves them.
    egress = res(t, "EndpointSecurityGroup").get("SecurityGroupEgress", "AWS's default, anywhere")
    assert [e.get("CidrIp") for e in as_list(egress) if isinstance(e, dict)] == ["127.0.0.1/32"], f"the endpoints' group may send to {egress}"
    # The isolated subnets have no way out: no route in their table but the VPC's own.
    routes = [n for n, r in resources_of(t, "AWS::EC2::Route").items() if r["Properties"]["RouteTableId"] == ref("IsolatedRouteTable")]
    assert not routes, f"the isolated route table has routes {routes}"
    associations = {r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]
                    for r in resources_of(t, "AWS::EC2::SubnetRouteTableAssociation").values()}
    for subnet in ("IsolatedSubnetA", "IsolatedSubnetB"):
        assert associations.get(subnet) == ref("IsolatedRouteTable"), f"{subnet} routes through {associations.get(subnet)}"
    subnets = res(t, "WebService")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert subnets["Fn::If"][:2] == ["IsolateWeb", [ref("IsolatedSubnetA"), ref("IsolatedSubnetB")]], \
        f"with IsolateWeb the web tasks run in {subnets}"
    worker = res(t, "WorkerService")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert "IsolatedSubnetA" not in json.dumps(worker), "the workers need their NAT to read every region's APIs"
    # The services wait for the endpoints, as they wait for the routes.
    waited = {v["Fn::If"][1]["Ref"] for v in t["Resources"]["NetworkReady"]["Metadata"].values()}
    missing = (set(endpoints) | {"IsolatedSubnetARoutes", "IsolatedSubnetBRoutes"}) - waited
    assert not missing, f"the services may start before {sorted(missing)}"
    # Endpoints in a VPC the stack did not create are refused, not half-built.
    rule = t["Rules"]["PrivateEndpointsNeedTheStacksVpc"]
    assert rule["RuleCondition"] == {"Fn::Equals": [ref("PrivateEndpoints"), "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [ref("VpcId"), ""]}


def check_ask_reaches_only_its_model(t):
    """Ask: the provider's key is read by the web tasks alone; with Bedrock the
    web task role may invoke the configured model in this region and nothing
    else; the web tasks are told the profile, model, base URL, region, default
    policy and the key's secret; a provider outside AWS takes the web tasks
    off the isolated subnets (IsolateWeb, checked with the endpoints)."""
    params = t["Parameters"]
    assert params["AskProfile"]["AllowedValues"] == ["none", "bedrock", "anthropic", "openai"]
    assert params["AskProfile"]["Default"] == "none", "a model by default"
    assert params["AskDataPolicy"]["AllowedValues"] == ["profile-default", "schema-only", "rows"]
    assert params["LlmApiKey"].get("NoEcho") is True, "the key is echoed"
    assert "*" not in params["AskModelId"]["AllowedPattern"], "a model id may be a wildcard"
    assert params["AskBaseUrl"]["AllowedPattern"].startswith("^(https://"), "a plain-HTTP base URL is allowed"
    conditions = t["Conditions"]
    assert conditions["UseBedrock"] == {"Fn::Equals": [ref("AskProfile"), "bedrock"]}
    assert conditions["UseExternalModel"] == {"Fn::Or": [{"Fn::Equals": [ref("AskProfile"), "anthropic"]},
                                                         {"Fn::Equals": [ref("AskProfile"), "openai"]}]}
    # The key's secret: only the web task role names it.
    for name, r in t["Resources"].items():
        if r["Type"] in ("AWS::IAM::Role", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy") and name != "WebTaskRole":
            assert "LlmApiKeySecret" not in json.dumps(r), f"{name} may read the LLM key"
    for task, c in containers(t):
        if task != "WebTaskDefinition":
            assert "LlmApiKey" not in json.dumps(c), f"{task} is given the LLM key"
    assert res(t, "LlmApiKeySecret")["KmsKeyId"] == ref("Key")
    # Bedrock: one action on one model ARN, on the web task role only.
    policies = {n: r for n, r in resources_of(t, "AWS::IAM::RolePolicy").items() if "bedrock" in json.dumps(r)}
    assert list(policies) == ["WebAskModelPolicy"], f"Bedrock permissions in {sorted(policies)}"
    policy = policies["WebAskModelPolicy"]
    assert policy.get("Condition") == "UseBedrock", "the Bedrock permission exists without profile bedrock"
    assert policy["Properties"]["RoleName"] == ref("WebTaskRole")
    profile_arn = {"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/${AskModelId}"}
    direct, through = statements(policy["Properties"]["PolicyDocument"])
    for s_ in (direct, through):
        assert s_["Effect"] == "Allow" and as_list(s_["Action"]) == ["bedrock:InvokeModel"], f"Bedrock actions {s_['Action']}"
    assert as_list(direct["Resource"]) == [{"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${AskModelId}"},
                                           profile_arn], f"InvokeModel on {direct['Resource']}"
    assert "Condition" not in direct
    # Any foundation model only when reached through the configured profile.
    assert through["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/*"}, through["Resource"]
    assert through.get("Condition") == {"StringEquals": {"bedrock:InferenceProfileArn": profile_arn}}, \
        f"foundation models reachable without the profile: {through.get('Condition')}"
    assert params["AskModelId"]["AllowedPattern"].startswith("^(?!arn:)"), "an ARN as the model id"
    assert t["Resources"]["NetworkReady"]["Metadata"].get("AskModel") == {"Fn::If": ["UseBedrock", ref("WebAskModelPolicy"), ""]}, \
        "the web tasks may start before they may call the model"
    for name, r in t["Resources"].items():
        if name != "WebAskModelPolicy" and r["Type"].startswith("AWS::IAM::"):
            assert "bedrock:Invoke" not in json.dumps(r) and "bedrock:*" not in json.dumps(r), f"{name} may invoke models"
    web = env(_container(t, "web"))
    assert web["SIGHTLINE_ASK_PROFILE"] == ref("AskProfile")
    conditional = {e["Fn::If"][1]["Name"]: (e["Fn::If"][0], e["Fn::If"][1]["Value"])
                   for e in _container(t, "web")["Environment"] if isinstance(e, dict) and "Fn::If" in e}
    assert conditional.get("SIGHTLINE_ASK_MODEL") == ("UseAskModel", ref("AskModelId"))
    assert conditional.get("SIGHTLINE_ASK_BASE_URL") == ("HasAskBaseUrl", ref("AskBaseUrl"))
    assert conditional.get("SIGHTLINE_ASK_REGION") == ("UseBedrock", ref("AWS::Region"))
    assert conditional.get("SIGHTLINE_ASK_DEFAULT_POLICY") == ("HasAskDataPolicy", ref("AskDataPolicy"))
    assert conditional.get("SIGHTLINE_ASK_KEY_SECRET_ID") == ("UseExternalModel", ref("LlmApiKeySecret"))
    # A profile that needs a key or a model is refused without one.
    rules = t["Rules"]
    key_rule = rules.get("AskKeyForProvidersOutsideAws", {})
    assert key_rule.get("RuleCondition") == conditions["UseExternalModel"], "a provider key is not required"
    assert key_rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [ref("LlmApiKey"), ""]}]}
    model_rule = rules.get("AskModelIsNamed", {})
    assert model_rule.get("RuleCondition") == {"Fn::Not": [{"Fn::Equals": [ref("AskProfile"), "none"]}]}, "a model id is not required"
    assert model_rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [ref("AskModelId"), ""]}]}


ALARMED_METRICS = {("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"), ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
                   ("AWS/ApplicationELB", "UnHealthyHostCount"), ("ECS/ContainerInsights", "RunningTaskCount"),
                   ("AWS/RDS", "CPUUtilization"), ("AWS/RDS", "ACUUtilization"), ("Sightline", "JobsFailed")}


def check_alarms_reach_the_topic(t):
    alarms = resources_of(t, "AWS::CloudWatch::Alarm")
    found = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms.values()}
    assert found == ALARMED_METRICS, f"missing alarms {sorted(ALARMED_METRICS - found)}, unexpected {sorted(found - ALARMED_METRICS)}"
    for name, a in alarms.items():
        assert a.get("Condition") == "HasAlarmTopic", f"{name} exists without a topic"
        assert a["Properties"]["AlarmActions"] == [ref("AlarmTopicArn")], f"{name} notifies {a['Properties'].get('AlarmActions')}"
    worker = env(_container(t, "worker"))
    assert worker.get("SIGHTLINE_METRICS_STACK") == ref("AWS::StackName"), "the worker's metrics lack the alarm's Stack dimension"


RUNNER_CODE = ROOT / "cloudformation" / "setup-runner" / "index.py"


def check_setup_runs_as_its_own_task(t):
    run = t["Resources"]["SetupRun"]
    assert run["Type"] == "Custom::SightlineSetup"
    p = run["Properties"]
    assert p["ServiceToken"] == getatt("SetupRunner", "Arn") and p["TaskDefinition"] == ref("SetupTaskDefinition"), f"SetupRun {p}"
    assert p["SecurityGroup"] == ref("WorkerSecurityGroup"), "the setup task cannot reach the database"
    assert p.get("Revision") == ref("SetupRevision"), "setup cannot be run again without a new image"
    fn = res(t, "SetupRunner")
    assert fn["Code"]["ZipFile"] == RUNNER_CODE.read_text(), "the inline setup runner differs from cloudformation/setup-runner/index.py"
    assert fn["Timeout"] == 900 and fn["Role"] == getatt("SetupRunnerRole", "Arn")
    statements_ = {s["Sid"]: s for s in res(t, "SetupRunnerRole")["Policies"][0]["PolicyDocument"]["Statement"]}
    run_task = statements_["RunTheSetupTask"]
    family = {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/sightline-${AWS::StackName}-setup:*"}
    assert run_task["Action"] == "ecs:RunTask" and run_task["Resource"] == family, f"RunTask on {run_task['Resource']}"
    assert res(t, "SetupTaskDefinition")["Family"] == {"Fn::Sub": "sightline-${AWS::StackName}-setup"}, "RunTask's family is not the setup task's"
    stop = statements_["StopLeftoverSetupTasks"]
    assert stop.get("Condition") == {"ArnEquals": {"ecs:cluster": getatt("Cluster", "Arn")}}, "StopTask in any cluster"
    assert statements_["SkipSetupOnRollback"]["Resource"] == ref("AWS::StackId"), "DescribeStacks beyond this stack"
    assert "VpcConfig" not in fn and "ReservedConcurrentExecutions" not in fn, "the runner needs neither (see its checkov skips)"
    assert res(t, "SetupRunnerInvokeConfig")["MaximumRetryAttempts"] == 0, "a retried invocation starts a second setup"
    assert p.get("ServiceTimeout") == 1000, "CloudFormation would wait an hour for a lost answer"
    assert run_task["Condition"] == {"ArnEquals": {"ecs:cluster": getatt("Cluster", "Arn")}}, "RunTask in any cluster"
    passing = statements_["PassItsRoles"]
    assert passing["Resource"] == [getatt("SetupTaskRole", "Arn"), getatt("ExecutionRole", "Arn")], f"passes {passing['Resource']}"
    assert passing.get("Condition") == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}, "PassRole to any service"


def check_outputs(t):
    outputs = t["Outputs"]
    assert {"Url", "SightlineTaskRoleArn", "MonitoringRoleArn", "OwnerPasswordSecretArn"} <= set(outputs), f"outputs {sorted(outputs)}"
    assert outputs["MonitoringRoleArn"]["Value"] == getatt("MonitoringRole", "Arn")
    assert outputs["SightlineTaskRoleArn"]["Value"] == getatt("WorkerTaskRole", "Arn")


def check_reads_scale_to_the_reader_only_when_there_is_one(t):
    """With a reader instance the web tasks get the cluster's reader endpoint
    (the read-only pages go there; the console stays on the writer); with one instance, none,
    and no task but the web's reads the replica (the worker and setup write)."""
    web = _container(t, "web")
    conditional = {e["Fn::If"][1]["Name"]: (e["Fn::If"][0], e["Fn::If"][1]["Value"], e["Fn::If"][2])
                   for e in web["Environment"] if isinstance(e, dict) and "Fn::If" in e}
    assert conditional.get("SIGHTLINE_DATABASE_READER_HOST") == (
        "TwoDatabaseInstances", getatt("DatabaseCluster", "ReadEndpoint.Address"), ref("AWS::NoValue")), \
        f"the web tasks do not get the reader endpoint: {conditional.get('SIGHTLINE_DATABASE_READER_HOST')}"
    assert t["Conditions"]["TwoDatabaseInstances"] == {"Fn::Equals": [ref("DatabaseInstances"), 2]}
    assert env(web)["SIGHTLINE_DATABASE_HOST"] == getatt("DatabaseCluster", "Endpoint.Address"), "the web's writes go to the reader"
    for name, c in containers(t):
        if c["Name"] != "web":
            assert "READER" not in json.dumps(c.get("Environment", [])), f"{name} reads the replica"


CHECKS = [
    check_policies_match_the_committed_files,
    check_the_deny_policy_is_attached_and_denies_data_reads,
    check_allowed_actions_are_read_only,
    check_monitoring_trust_is_the_worker_with_the_external_id,
    check_encryption,
    check_log_retention,
    check_containers_are_locked_down,
    check_the_database_is_private_and_verified,
    check_security_group_ingress_sources,
    check_the_load_balancer_serves_only_tls,
    check_task_roles_have_exactly_their_permissions,
    check_outputs,
    check_managed_policy_arns_are_real,
    check_deny_statements_are_unconditional,
    check_no_allow_holds_a_wildcard_or_a_data_action,
    check_ports_agree,
    check_the_key_lets_cloudwatch_logs_use_it,
    check_retained_names_carry_the_stack_id,
    check_logs_reach_cloudwatch_as_json,
    check_the_external_id_is_a_secret,
    check_api_keys_work_behind_oidc,
    check_services_wait_for_the_network,
    check_alarms_reach_the_topic,
    check_setup_runs_as_its_own_task,
    check_private_endpoints_leave_the_web_no_way_out,
    check_ask_reaches_only_its_model,
    check_reads_scale_to_the_reader_only_when_there_is_one,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_main_stack_holds(check):
    check(load(MAIN))


def _container(t, name):
    return next(c for _, c in containers(t) if c["Name"] == name)


def _policy(t, role):
    return res(t, role)["Policies"][0]["PolicyDocument"]["Statement"]


MUTATIONS = {
    "storage unencrypted": (check_encryption, lambda t: res(t, "DatabaseCluster").update(StorageEncrypted=False)),
    "a secret on the default key": (check_encryption, lambda t: res(t, "KekSecret").pop("KmsKeyId")),
    "a log group unencrypted": (check_encryption, lambda t: res(t, "AuditLogGroup").pop("KmsKeyId")),
    "master password in the template": (check_encryption, lambda t: res(t, "DatabaseCluster").update(
        ManageMasterUserPassword=False, MasterUserPassword="hunter2hunter2")),
    "logs kept forever": (check_log_retention, lambda t: res(t, "WebLogGroup").pop("RetentionInDays")),
    "writable root filesystem": (check_containers_are_locked_down, lambda t: _container(t, "web").update(ReadonlyRootFilesystem=False)),
    "runs as root": (check_containers_are_locked_down, lambda t: _container(t, "worker").update(User="0")),
    "a capability added": (check_containers_are_locked_down, lambda t: _container(t, "setup")["LinuxParameters"]["Capabilities"].update(Add=["NET_ADMIN"])),
    "no health check": (check_containers_are_locked_down, lambda t: _container(t, "web").pop("HealthCheck")),
    "worker without setup": (check_containers_are_locked_down, lambda t: t["Resources"]["WorkerService"].update(DependsOn=["NetworkReady"])),
    "setup back in the worker's task": (check_containers_are_locked_down, lambda t: res(t, "WorkerTaskDefinition")["ContainerDefinitions"].append(
        _container(t, "setup"))),
    "the worker reads the master secret again": (check_task_roles_have_exactly_their_permissions, lambda t: _policy(t, "WorkerTaskRole")[1]["Resource"].append(
        getatt("DatabaseCluster", "MasterUserSecret.SecretArn"))),
    "public task addresses": (check_containers_are_locked_down, lambda t: res(t, "WebService")["NetworkConfiguration"]["AwsvpcConfiguration"].update(AssignPublicIp="ENABLED")),
    "public database": (check_the_database_is_private_and_verified, lambda t: res(t, "DatabaseWriter").update(PubliclyAccessible=True)),
    "database in public subnets": (check_the_database_is_private_and_verified, lambda t: res(t, "DatabaseSubnetGroup").update(
        SubnetIds={"Fn::If": ["CreateVpc", [ref("PublicSubnetA"), ref("PublicSubnetB")], ref("PublicSubnetIds")]})),
    "one day of backups": (check_the_database_is_private_and_verified, lambda t: t["Parameters"]["BackupRetentionDays"].update(MinValue=1)),
    "TLS not forced": (check_the_database_is_private_and_verified, lambda t: res(t, "DatabaseParameters")["Parameters"].update({"rds.force_ssl": "0"})),
    "certificate not verified": (check_the_database_is_private_and_verified, lambda t: [
        e.update(Value="require") for e in _container(t, "web")["Environment"] if isinstance(e, dict) and e.get("Name") == "SIGHTLINE_DATABASE_SSLMODE"]),
    "database open to the VPC": (check_security_group_ingress_sources, lambda t: res(t, "DatabaseSecurityGroup").update(
        SecurityGroupIngress=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIp": "10.0.0.0/8"}])),
    "web open to the internet": (check_security_group_ingress_sources, lambda t: res(t, "WebFromLoadBalancer").pop("SourceSecurityGroupId") and
                                 res(t, "WebFromLoadBalancer").update(CidrIp="0.0.0.0/0")),
    "worker takes traffic": (check_security_group_ingress_sources, lambda t: res(t, "WorkerSecurityGroup").update(
        SecurityGroupIngress=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "SourceSecurityGroupId": ref("LoadBalancerSecurityGroup")}])),
    "plain HTTP forwarded": (check_the_load_balancer_serves_only_tls, lambda t: res(t, "HttpListener").update(
        DefaultActions=[{"Type": "forward", "TargetGroupArn": ref("WebTargetGroup")}])),
    "an old TLS policy": (check_the_load_balancer_serves_only_tls, lambda t: res(t, "HttpsListener").update(SslPolicy="ELBSecurityPolicy-2016-08")),
    "web reads the master secret": (check_task_roles_have_exactly_their_permissions, lambda t: _policy(t, "WebTaskRole")[0]["Resource"].append(
        getatt("DatabaseCluster", "MasterUserSecret.SecretArn"))),
    "worker assumes any role": (check_task_roles_have_exactly_their_permissions, lambda t: _policy(t, "WorkerTaskRole")[0].update(Resource="*")),
    "worker writes metrics anywhere": (check_task_roles_have_exactly_their_permissions, lambda t: _policy(t, "WorkerTaskRole").append(
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"})),
    "decrypt outside Secrets Manager": (check_task_roles_have_exactly_their_permissions, lambda t: _policy(t, "WebTaskRole")[1].pop("Condition")),
    "logs to any group": (check_task_roles_have_exactly_their_permissions, lambda t: _policy(t, "WorkerTaskRole")[3].update(Resource="*")),
    "a managed policy on the task role": (check_task_roles_have_exactly_their_permissions, lambda t: res(t, "WebTaskRole").update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/ReadOnlyAccess"])),
    "one role for task and execution": (check_task_roles_have_exactly_their_permissions, lambda t: res(t, "WebTaskDefinition").update(
        TaskRoleArn=getatt("ExecutionRole", "Arn"))),
    "monitoring role trusts the web": (check_monitoring_trust_is_the_worker_with_the_external_id, lambda t: res(t, "MonitoringRole")[
        "AssumeRolePolicyDocument"]["Statement"][0].update(Principal={"AWS": getatt("WebTaskRole", "Arn")})),
    "monitoring role without ExternalId": (check_monitoring_trust_is_the_worker_with_the_external_id, lambda t: res(t, "MonitoringRole")[
        "AssumeRolePolicyDocument"]["Statement"][0].pop("Condition")),
    "deny policy detached": (check_the_deny_policy_is_attached_and_denies_data_reads,
                             lambda t: res(t, "MonitoringRole")["ManagedPolicyArns"].remove(ref("DataPlaneDenyPolicy"))),
    "a write action allowed": (check_allowed_actions_are_read_only,
                               lambda t: statements(res(t, "LeastPrivilegePolicy")["PolicyDocument"])[0]["Action"].append("s3:PutObject")),
    "no role ARN output": (check_outputs, lambda t: t["Outputs"].pop("MonitoringRoleArn")),
    "ViewOnlyAccess at the root path": (check_managed_policy_arns_are_real, lambda t: t["Mappings"]["ManagedPolicyPaths"]["ViewOnlyAccess"].update(
        Path="policy/ViewOnlyAccess")),
    "a deny with a condition": (check_deny_statements_are_unconditional, lambda t: statements(res(t, "DataPlaneDenyPolicy")["PolicyDocument"])[0].update(
        Condition={"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}})),
    "a deny on some resources": (check_deny_statements_are_unconditional, lambda t: statements(res(t, "DataPlaneDenyPolicy")["PolicyDocument"])[0].update(
        Resource=["arn:aws:s3:::bucket/*"])),
    "the worker reads any secret": (check_no_allow_holds_a_wildcard_or_a_data_action, lambda t: _policy(t, "WorkerTaskRole").append(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})),
    "the worker reads every secret by pattern": (check_no_allow_holds_a_wildcard_or_a_data_action, lambda t: _policy(t, "WorkerTaskRole").append(
        {"Effect": "Allow", "Action": "secretsmanager:Get*", "Resource": ref("KekSecret")})),
    "the least privilege reads a table": (check_no_allow_holds_a_wildcard_or_a_data_action, lambda t: statements(
        res(t, "LeastPrivilegePolicy")["PolicyDocument"])[0]["Action"].append("dynamodb:GetItem")),
    "the app listens elsewhere": (check_ports_agree, lambda t: _container(t, "web").update(Command=["serve", "--listen", "0.0.0.0:3000"])),
    "the target group on another port": (check_ports_agree, lambda t: res(t, "WebTargetGroup").update(Port=80)),
    "the web ingress on another port": (check_ports_agree, lambda t: res(t, "WebFromLoadBalancer").update(FromPort=8081, ToPort=8081)),
    "CloudWatch Logs may not use the key": (check_the_key_lets_cloudwatch_logs_use_it, lambda t: res(t, "Key")["KeyPolicy"]["Statement"].pop(1)),
    "the database log group outside the key's reach": (check_the_key_lets_cloudwatch_logs_use_it, lambda t: res(t, "Key")["KeyPolicy"]["Statement"][1][
        "Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].pop(1)),
    "the audit group named by the stack alone": (check_retained_names_carry_the_stack_id, lambda t: res(t, "AuditLogGroup").update(
        LogGroupName={"Fn::Sub": "/sightline/${AWS::StackName}/audit"})),
    "the KEK deleted with the stack": (check_retained_names_carry_the_stack_id, lambda t: t["Resources"]["KekSecret"].pop("DeletionPolicy")),
    "the KEK replaced without a trace": (check_retained_names_carry_the_stack_id, lambda t: t["Resources"]["KekSecret"].pop("UpdateReplacePolicy")),
    "logs at warn": (check_logs_reach_cloudwatch_as_json, lambda t: [e.update(Value="warn") for e in _container(t, "worker")["Environment"]
                                                                     if isinstance(e, dict) and e.get("Name") == "SIGHTLINE_LOG"]),
    "the ExternalId in plain sight": (check_the_external_id_is_a_secret, lambda t: _container(t, "setup")["Environment"].append(
        {"Name": "SIGHTLINE_EXTERNAL_ID", "Value": ref("ExternalId")})),
    "API behind the OIDC redirect": (check_api_keys_work_behind_oidc, lambda t: res(t, "ApiWithoutOidc")["Actions"].insert(
        0, {"Type": "authenticate-oidc"})),
    "every /api request skips OIDC": (check_api_keys_work_behind_oidc, lambda t: res(t, "ApiWithoutOidc")["Conditions"].pop(1)),
    "the web service ahead of the routes": (check_services_wait_for_the_network, lambda t: t["Resources"]["WebService"].update(
        DependsOn=["HttpsListener", "WorkerService"])),
    "one NAT for both AZs": (check_services_wait_for_the_network, lambda t: res(t, "PrivateDefaultRouteB").update(NatGatewayId=ref("NatGateway"))),
    "deletion protection hard-coded off": (check_the_database_is_private_and_verified, lambda t: res(t, "DatabaseCluster").update(DeletionProtection=False)),
    "no failed-job alarm": (check_alarms_reach_the_topic, lambda t: t["Resources"].pop("FailedJobsAlarm")),
    "an alarm nobody hears": (check_alarms_reach_the_topic, lambda t: res(t, "DatabaseCpuAlarm").update(AlarmActions=[])),
    "the runner starts any task": (check_setup_runs_as_its_own_task, lambda t: res(t, "SetupRunnerRole")["Policies"][0]["PolicyDocument"]["Statement"][0].update(
        Resource="*")),
    "the runner passes any role": (check_setup_runs_as_its_own_task, lambda t: [s.pop("Condition") for s in res(t, "SetupRunnerRole")["Policies"][0][
        "PolicyDocument"]["Statement"] if s["Sid"] == "PassItsRoles"]),
    "the runner stops tasks anywhere": (check_setup_runs_as_its_own_task, lambda t: [s.pop("Condition") for s in res(t, "SetupRunnerRole")["Policies"][0][
        "PolicyDocument"]["Statement"] if s["Sid"] == "StopLeftoverSetupTasks"]),
    "the runner retried": (check_setup_runs_as_its_own_task, lambda t: res(t, "SetupRunnerInvokeConfig").update(MaximumRetryAttempts=2)),
    "the inline runner edited by hand": (check_setup_runs_as_its_own_task, lambda t: res(t, "SetupRunner")["Code"].update(
        ZipFile=res(t, "SetupRunner")["Code"]["ZipFile"] + "# drift\n")),
    "the endpoints open to the VPC": (check_security_group_ingress_sources, lambda t: res(t, "EndpointSecurityGroup")["SecurityGroupIngress"].append(
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": ref("VpcCidr")})),
    "no ECR docker endpoint": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Resources"].pop("EcrDockerEndpoint")),
    "an endpoint without private DNS": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "LogsEndpoint").update(
        PrivateDnsEnabled=False)),
    "the endpoints may send anywhere": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "EndpointSecurityGroup").pop(
        "SecurityGroupEgress")),
    "a way out of the isolated subnets": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Resources"].update(IsolatedDefaultRoute={
        "Type": "AWS::EC2::Route", "Condition": "UsePrivateEndpoints", "Properties": {
            "RouteTableId": ref("IsolatedRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": ref("NatGateway")}})),
    "an isolated subnet on the NAT's table": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "IsolatedSubnetBRoutes").update(
        RouteTableId=ref("PrivateRouteTableB"))),
    "the web kept in the NAT subnets": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "WebService")["NetworkConfiguration"][
        "AwsvpcConfiguration"].update(Subnets={"Fn::If": ["CreateVpc", [ref("PrivateSubnetA"), ref("PrivateSubnetB")], ref("PrivateSubnetIds")]})),
    "isolated even with OIDC": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Conditions"]["IsolateWeb"]["Fn::And"].pop(1)),
    "isolated far from the image's registry": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Conditions"]["IsolateWeb"][
        "Fn::And"].pop(3)),
    "the isolated S3 gateway opens every bucket": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "IsolatedS3GatewayEndpoint").pop(
        "PolicyDocument")),
    "the isolated subnets on the workers' S3 gateway": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "S3GatewayEndpoint")[
        "RouteTableIds"].append(ref("IsolatedRouteTable"))),
    "an endpoint open to any account": (check_private_endpoints_leave_the_web_no_way_out, lambda t: res(t, "StsEndpoint").pop("PolicyDocument")),
    "the services ahead of the endpoints": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Resources"]["NetworkReady"]["Metadata"].pop(
        "SecretsManager")),
    "the worker reads the LLM key": (check_ask_reaches_only_its_model, lambda t: _policy(t, "WorkerTaskRole")[1]["Resource"].append(
        ref("LlmApiKeySecret"))),
    "the worker is given the LLM key": (check_ask_reaches_only_its_model, lambda t: _container(t, "worker")["Environment"].append(
        {"Name": "SIGHTLINE_ASK_KEY_SECRET_ID", "Value": ref("LlmApiKeySecret")})),
    "any Bedrock model": (check_ask_reaches_only_its_model, lambda t: res(t, "WebAskModelPolicy")["PolicyDocument"]["Statement"][0].update(
        Resource={"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/*"})),
    "any model through any profile": (check_ask_reaches_only_its_model, lambda t: res(t, "WebAskModelPolicy")["PolicyDocument"]["Statement"][1].pop(
        "Condition")),
    "the web before its Bedrock permission": (check_ask_reaches_only_its_model, lambda t: t["Resources"]["NetworkReady"]["Metadata"].pop("AskModel")),
    "every Bedrock action": (check_ask_reaches_only_its_model, lambda t: res(t, "WebAskModelPolicy")["PolicyDocument"]["Statement"][0].update(
        Action="bedrock:*")),
    "the Bedrock permission without Bedrock": (check_ask_reaches_only_its_model, lambda t: t["Resources"]["WebAskModelPolicy"].pop("Condition")),
    "the worker invokes models": (check_ask_reaches_only_its_model, lambda t: res(t, "WebAskModelPolicy").update(RoleName=ref("WorkerTaskRole"))),
    "the key echoed": (check_ask_reaches_only_its_model, lambda t: t["Parameters"]["LlmApiKey"].pop("NoEcho")),
    "a provider key never required": (check_ask_reaches_only_its_model, lambda t: t["Rules"].pop("AskKeyForProvidersOutsideAws")),
    "the model id not passed": (check_ask_reaches_only_its_model, lambda t: _container(t, "web")["Environment"].pop(
        next(i for i, e in enumerate(_container(t, "web")["Environment"]) if "SIGHTLINE_ASK_MODEL" in json.dumps(e)))),
    "the reader endpoint without a reader": (check_reads_scale_to_the_reader_only_when_there_is_one, lambda t: next(
        e for e in _container(t, "web")["Environment"] if "READER_HOST" in json.dumps(e))["Fn::If"].__setitem__(0, "UseOidc")),
    "the writer as the reader": (check_reads_scale_to_the_reader_only_when_there_is_one, lambda t: next(
        e for e in _container(t, "web")["Environment"] if "READER_HOST" in json.dumps(e))["Fn::If"][1].update(
        Value=getatt("DatabaseCluster", "Endpoint.Address"))),
    "the worker reads the replica": (check_reads_scale_to_the_reader_only_when_there_is_one, lambda t: _container(t, "worker")["Environment"].append(
        {"Name": "SIGHTLINE_DATABASE_READER_HOST", "Value": getatt("DatabaseCluster", "ReadEndpoint.Address")})),
    "a plain-HTTP base URL": (check_ask_reaches_only_its_model, lambda t: t["Parameters"]["AskBaseUrl"].update(AllowedPattern="^(https?://.*)?$")),
    "isolated with a provider outside AWS": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Conditions"]["IsolateWeb"]["Fn::And"].pop(2)),
    "no Bedrock runtime endpoint": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Resources"].pop("BedrockRuntimeEndpoint")),
    "endpoints in the customer's VPC": (check_private_endpoints_leave_the_web_no_way_out, lambda t: t["Conditions"].update(
        UsePrivateEndpoints={"Fn::Equals": [ref("PrivateEndpoints"), "true"]})),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_main_stack_check_fails_on_a_mutated_copy(name):
    check, mutate = MUTATIONS[name]
    template = copy.deepcopy(load(MAIN))
    check(template)  # holds before the mutation...
    mutate(template)
    with pytest.raises(AssertionError):
        check(template)  # ...and fails after it
