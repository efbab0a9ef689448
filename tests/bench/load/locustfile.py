"""Signed-in users of one workspace, as the browser and scripts use it.

Each locust user takes the next of the sessions `load_bench.py` opened (a
cookie, its CSRF token and the client address the load balancer would
forward for it) and mixes the UI's pages with API calls, a second or two
apart, over the seeded estate: the explorer (first page, filters, free
text), the findings inbox, the overview, and the API's resources, findings
and scans.
"""

import itertools
import json
import os

from locust import HttpUser, between, task

with open(os.environ["LOAD_USERS"]) as f:
    SESSIONS = json.load(f)
NEXT = itertools.count()


class SignedInUser(HttpUser):
    wait_time = between(1, 2)

    def on_start(self):
        me = SESSIONS[next(NEXT) % len(SESSIONS)]
        self.client.headers.update(
            {"cookie": me["cookie"], "x-forwarded-for": me["address"], "x-csrf-token": me["csrf"]}
        )

    def get(self, path, name):
        with self.client.get(path, name=name, catch_response=True) as reply:
            if reply.status_code != 200:
                reply.failure(f"{reply.status_code}: {reply.text[:200]}")

    @task(4)
    def explorer(self):
        self.get("/resources", "page: explorer")

    @task(3)
    def explorer_filtered(self):
        self.get("/resources?q=type%3Aec2.volume+state%3Aavailable", "page: explorer type + state")

    @task(2)
    def explorer_tag_region(self):
        self.get("/resources?q=tag%3Aenv%3Dprod+region%3Aeu-west-1", "page: explorer tag + region")

    @task(2)
    def explorer_text(self):
        self.get("/resources?q=type%3Aec2.*+%22bench-4242%22", "page: explorer free text")

    @task(3)
    def inbox(self):
        self.get("/findings?state=open", "page: inbox")

    @task(2)
    def inbox_filtered(self):
        self.get("/findings?state=open&severity=high&category=security", "page: inbox filtered")

    @task(2)
    def overview(self):
        self.get("/", "page: overview")

    @task(2)
    def api_resources(self):
        self.get("/api/v1/resources?q=type%3Aec2.instance&limit=50", "api: resources")

    @task(2)
    def api_findings(self):
        self.get("/api/v1/findings?status=open&limit=100", "api: findings")

    @task(1)
    def api_scans(self):
        self.get("/api/v1/scans?limit=20", "api: scans")
