# Custom::SightlineSetup: `sightline setup` as a one-off ECS task (inlined as SetupRunner).
import json
import time
import urllib.request

import boto3
from botocore.config import Config

AWS = Config(connect_timeout=10, read_timeout=10, retries={"mode": "standard", "max_attempts": 5})
STARTED_BY = "sightline-setup"


def send(event, context, status, reason="", data=None):
    body = json.dumps({
        "Status": status,
        "Reason": (reason or "log stream " + context.log_stream_name)[:3000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or "sightline-setup",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data or {},
    }).encode()
    for attempt in range(4):
        try:
            request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
            urllib.request.urlopen(request, timeout=20)
            return
        except OSError as e:
            print("response not delivered (attempt %d): %s" % (attempt + 1, e))
            time.sleep(2 ** attempt)


def stop_setup_tasks(ecs, cluster, reason):
    for arn in ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY, desiredStatus="RUNNING")["taskArns"]:
        ecs.stop_task(cluster=cluster, task=arn, reason=reason)


def rolling_back(event):
    stack = boto3.client("cloudformation", config=AWS).describe_stacks(StackName=event["StackId"])["Stacks"][0]
    return stack["StackStatus"] == "UPDATE_ROLLBACK_IN_PROGRESS"


def handler(event, context):
    try:
        p = event["ResourceProperties"]
        ecs = boto3.client("ecs", config=AWS)
        if event["RequestType"] == "Delete":
            stop_setup_tasks(ecs, p["Cluster"], "stack deleted")
            return send(event, context, "SUCCESS")
        # A rollback restores the previous services; running the previous
        # setup again would only repeat whatever made the update fail.
        if event["RequestType"] == "Update" and rolling_back(event):
            return send(event, context, "SUCCESS", "rollback: setup not run again")
        for attempt in range(3):
            run = ecs.run_task(
                cluster=p["Cluster"], taskDefinition=p["TaskDefinition"], launchType="FARGATE", count=1,
                startedBy=STARTED_BY,
                networkConfiguration={"awsvpcConfiguration": {
                    "subnets": p["Subnets"], "securityGroups": [p["SecurityGroup"]], "assignPublicIp": "DISABLED"}})
            if run.get("tasks"):
                break
            print("RunTask placed nothing (attempt %d): %s" % (attempt + 1, run.get("failures")))
            time.sleep(10)
        else:
            return send(event, context, "FAILED", "RunTask failed: %s" % run.get("failures"))
        arn = run["tasks"][0]["taskArn"]
        poll = float(p.get("PollSeconds", "15"))
        while context.get_remaining_time_in_millis() > 90000:
            time.sleep(poll)
            task = ecs.describe_tasks(cluster=p["Cluster"], tasks=[arn])["tasks"][0]
            if task["lastStatus"] != "STOPPED":
                continue
            codes = [c.get("exitCode") for c in task["containers"]]
            if codes == [0]:
                return send(event, context, "SUCCESS", data={"TaskArn": arn})
            return send(event, context, "FAILED", "setup task %s stopped (%s), exit codes %s: see log stream setup/setup/%s"
                        % (arn, task.get("stoppedReason"), codes, arn.rsplit("/", 1)[-1]))
        ecs.stop_task(cluster=p["Cluster"], task=arn, reason="setup ran past the runner's limit")
        return send(event, context, "FAILED", "setup task %s still running near the 15-minute limit: stopped" % arn)
    except Exception as e:  # CloudFormation must always get an answer
        return send(event, context, "FAILED", "%s: %s" % (type(e).__name__, e))
