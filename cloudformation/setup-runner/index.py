# Runs `sightline setup` as a one-off ECS task and answers CloudFormation
# with its outcome (custom resource Custom::SightlineSetup). Inlined into
# sightline.yaml (SetupRunner); tests/iac checks the two are the same.
import json
import time
import urllib.request

import boto3


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
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=30)


def handler(event, context):
    try:
        if event["RequestType"] == "Delete":
            return send(event, context, "SUCCESS")
        p = event["ResourceProperties"]
        ecs = boto3.client("ecs")
        run = ecs.run_task(
            cluster=p["Cluster"], taskDefinition=p["TaskDefinition"], launchType="FARGATE", count=1,
            startedBy="sightline-setup",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": p["Subnets"], "securityGroups": [p["SecurityGroup"]], "assignPublicIp": "DISABLED"}})
        if run.get("failures") or not run.get("tasks"):
            return send(event, context, "FAILED", "RunTask failed: %s" % run.get("failures"))
        arn = run["tasks"][0]["taskArn"]
        poll = float(p.get("PollSeconds", "15"))
        while context.get_remaining_time_in_millis() > 60000:
            time.sleep(poll)
            task = ecs.describe_tasks(cluster=p["Cluster"], tasks=[arn])["tasks"][0]
            if task["lastStatus"] != "STOPPED":
                continue
            codes = [c.get("exitCode") for c in task["containers"]]
            if codes == [0]:
                return send(event, context, "SUCCESS", data={"TaskArn": arn})
            return send(event, context, "FAILED", "setup task %s stopped (%s), exit codes %s: see log stream setup/setup/%s"
                        % (arn, task.get("stoppedReason"), codes, arn.rsplit("/", 1)[-1]))
        return send(event, context, "FAILED", "setup task %s still running near the 15-minute limit" % arn)
    except Exception as e:  # CloudFormation must always get an answer
        return send(event, context, "FAILED", "%s: %s" % (type(e).__name__, e))
