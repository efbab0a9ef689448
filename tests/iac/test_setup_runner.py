"""The setup runner (cloudformation/setup-runner/index.py, inlined as the
stack's SetupRunner function) against the emulator's ECS: it starts the
setup task as asked, reports the task's outcome to CloudFormation's response
URL (a local HTTP server here), and always answers, even when ECS refuses.

moto walks a task through its lifecycle (PENDING, RUNNING, ... STOPPED) one
step per DescribeTasks, and its containers always exit with 0, so the branch
exercised here is the successful setup. A non-zero exit code (a failed
setup) cannot be produced in moto; that branch is the same comparison, read
by eye.
"""

import http.server
import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import threading
import time
import urllib.request

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
EMULATOR = ROOT / "tests" / "emulator" / "emulator.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ecs_endpoint():
    """The project's emulator (moto, with its launcher's fixes), empty."""
    assert PYTHON.exists(), f"{PYTHON} missing: run `make emulator`"
    server = subprocess.Popen([str(PYTHON), str(EMULATOR), "--estate", "empty"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = json.loads(server.stdout.readline())["endpoint"]
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    yield url
    server.stdin.close()
    server.wait(30)


@pytest.fixture()
def responses():
    """CloudFormation's pre-signed response URL: every PUT body, in order."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/response", received
    server.shutdown()


def runner():
    spec = importlib.util.spec_from_file_location("setup_runner", ROOT / "cloudformation" / "setup-runner" / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    log_stream_name = "2026/12/04/[$LATEST]abc"

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.monotonic()) * 1000)


def event(kind, url, stack="arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", **properties):
    return {"RequestType": kind, "ResponseURL": url, "StackId": stack,
            "RequestId": "r-1", "LogicalResourceId": "SetupRun", "PhysicalResourceId": "sightline-setup",
            "ResourceProperties": properties}


def setup_task(ecs):
    ecs.create_cluster(clusterName="sightline")
    return ecs.register_task_definition(
        family="sightline-setup", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="512", memory="1024",
        # (moto sums container-level memory, which ECS accepts too.)
        containerDefinitions=[{"name": "setup", "image": "sightline:test", "command": ["setup"], "essential": True, "memory": 1024}],
    )["taskDefinition"]["taskDefinitionArn"]


def network(second_octet):
    """A subnet and a security group in a fresh VPC of the emulator's EC2."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{second_octet}.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName=f"workers-{second_octet}", Description="workers")["GroupId"]
    return subnet, group


def test_the_runner_starts_the_setup_task_and_reports_its_exit_to_cloudformation(ecs_endpoint, responses):
    url, received = responses
    ecs = boto3.client("ecs")
    definition = setup_task(ecs)
    subnet, group = network(40)
    handler = runner().handler
    done = threading.Thread(target=handler, args=(event(
        "Create", url, Cluster="sightline", TaskDefinition=definition, Subnets=[subnet], SecurityGroup=group,
        PollSeconds="0.2"), Context(120)))
    done.start()
    # The task the runner started: Fargate, in the given network, told apart by startedBy.
    deadline = time.monotonic() + 20
    while not (tasks := ecs.list_tasks(cluster="sightline", startedBy="sightline-setup")["taskArns"]):
        assert time.monotonic() < deadline, f"the runner started no task: {received}"
        time.sleep(0.1)
    [arn] = tasks
    [task] = ecs.describe_tasks(cluster="sightline", tasks=[arn])["tasks"]
    assert task["launchType"] == "FARGATE" and task["taskDefinitionArn"] == definition
    interface = {d["name"]: d["value"] for a in task.get("attachments", []) for d in a.get("details", [])}
    assert interface.get("subnetId") == subnet, f"the task is not in the given subnet: {task.get('attachments')}"
    done.join(30)
    assert not done.is_alive(), "the runner did not answer"
    [answer] = received
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"] == {"TaskArn": arn}, answer
    [stopped] = ecs.describe_tasks(cluster="sightline", tasks=[arn])["tasks"]
    assert stopped["lastStatus"] == "STOPPED", "the runner answered before the task stopped"
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "r-1", "SetupRun")


def test_a_refused_run_is_answered_not_left_hanging(ecs_endpoint, responses):
    url, received = responses
    runner().handler(event("Create", url, Cluster="no-such-cluster", TaskDefinition="arn:aws:ecs:us-east-1:123456789012:task-definition/none:9",
                           Subnets=["subnet-0a"], SecurityGroup="sg-0b", PollSeconds="0.2"), Context(60))
    [answer] = received
    assert answer["Status"] == "FAILED" and answer["Reason"], answer


def test_delete_succeeds_and_stops_a_setup_task_left_running(ecs_endpoint, responses):
    url, received = responses
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="quiet")
    definition = setup_task(ecs)
    subnet, group = network(41)
    [left] = ecs.run_task(cluster="quiet", taskDefinition=definition, launchType="FARGATE", startedBy="sightline-setup",
                          networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})["tasks"]
    other = ecs.run_task(cluster="quiet", taskDefinition=definition, launchType="FARGATE", startedBy="someone-else",
                         networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})["tasks"][0]
    runner().handler(event("Delete", url, Cluster="quiet"), Context(60))
    assert [a["Status"] for a in received] == ["SUCCESS"]
    running = set(ecs.list_tasks(cluster="quiet", desiredStatus="RUNNING")["taskArns"])
    assert left["taskArn"] not in running, "the setup task was left running"
    assert other["taskArn"] in running, "a task the runner did not start was stopped"


def test_an_update_outside_a_rollback_runs_setup(ecs_endpoint, responses):
    url, received = responses
    stack = boto3.client("cloudformation").create_stack(
        StackName="sightline", TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))["StackId"]
    ecs = boto3.client("ecs")
    definition = setup_task(ecs)
    subnet, group = network(42)
    runner().handler(event("Update", url, stack=stack, Cluster="sightline", TaskDefinition=definition, Subnets=[subnet],
                           SecurityGroup=group, PollSeconds="0.1"), Context(120))
    [answer] = received
    assert answer["Status"] == "SUCCESS" and answer["Data"].get("TaskArn"), answer
