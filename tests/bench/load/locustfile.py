"""Signed-in users of one workspace, as the browser and scripts use it.

`load_bench.py` opens the credentials and picks what to ask for, in the
file named by LOAD_USERS:

- `sessions`: a cookie, its CSRF token and the client address the load
  balancer would forward, one per person at a browser (`Browser`), who mixes
  the UI's pages with the API calls the pages' scripts make;
- `keys`: an API key and an address, one per script (`Script`), which calls
  the API only and follows its cursors;
- `resources`, `findings`, `diffs`, `cursors`, `terms`: resources and
  findings to open, pairs of scans to compare, positions deep in the
  explorer's order, and free-text terms, each chosen at random per request,
  so that no two users walk the same rows.

A failure is recorded as `HTTP <status>: <body>`, so that `load_bench.py`
can tell a request refused by a rate limit (`HTTP 429`) from any other.
"""

import itertools
import json
import os
import random
import urllib.parse

from locust import FastHttpUser, between, task

with open(os.environ["LOAD_USERS"]) as f:
    LOAD = json.load(f)
SESSIONS = itertools.count()
KEYS = itertools.count()


def q(text):
    return urllib.parse.quote_plus(text)


class Signed(FastHttpUser):
    abstract = True
    # Pages a person reads for a second or two; a script's calls as often.
    wait_time = between(1, 2)

    def get(self, path, name, json_body=False):
        """The reply (its JSON when `json_body`), or None, a failure recorded."""
        with self.client.get(path, name=name, headers=self.auth, catch_response=True) as reply:
            if reply.status_code != 200:
                reply.failure(f"HTTP {reply.status_code}: {(reply.text or '')[:200]}")
                return None
            if not json_body:
                return reply
            try:
                return reply.json()
            except ValueError:
                reply.failure(f"HTTP 200 but not JSON: {(reply.text or '')[:200]}")
                return None

    def get_json(self, path, name):
        return self.get(path, name, json_body=True)

    def any_of(self, what):
        return random.choice(LOAD[what])

    def api_resources_walk(self):
        """The API's explorer, a page and the next by its cursor, as a script pages."""
        page = self.get_json("/api/v1/resources?q=type%3Aec2.instance&limit=100", "api: resources")
        if page and page.get("next"):
            self.get_json(f"/api/v1/resources?q=type%3Aec2.instance&limit=100&after={page['next']}",
                          "api: resources, next page")

    def api_diff(self):
        scans = self.any_of("diffs")
        self.get_json(f"/api/v1/scans/diff?from={scans[0]}&to={scans[1]}&limit=200", "api: scan diff")


class Browser(Signed):
    """A person in the UI: pages, and the API calls a page's script makes."""

    def on_start(self):
        me = LOAD["sessions"][next(SESSIONS) % len(LOAD["sessions"])]
        self.auth = {"cookie": me["cookie"], "x-forwarded-for": me["address"], "x-csrf-token": me["csrf"]}

    @task(4)
    def explorer(self):
        self.get("/resources", "page: explorer")

    @task(3)
    def explorer_type_state(self):
        self.get("/resources?q=" + q("type:ec2.volume state:available"), "page: explorer type + state")

    @task(2)
    def explorer_tag_region(self):
        region = random.choice(["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"])
        self.get("/resources?q=" + q(f"tag:env=prod region:{region}"), "page: explorer tag + region")

    @task(2)
    def explorer_text(self):
        self.get("/resources?q=" + q(f'type:ec2.* "{self.any_of("terms")}"'), "page: explorer free text")

    @task(2)
    def explorer_deep(self):
        self.get(f"/resources?after={self.any_of('cursors')}", "page: explorer deep page")

    @task(3)
    def resource(self):
        self.get(f"/resources/{self.any_of('resources')}", "page: resource + history")

    @task(3)
    def inbox(self):
        self.get("/findings?state=open", "page: inbox")

    @task(2)
    def inbox_filtered(self):
        self.get("/findings?state=open&severity=high&category=security", "page: inbox filtered")

    @task(2)
    def finding(self):
        self.get(f"/findings/{self.any_of('findings')}", "page: finding")

    @task(2)
    def overview(self):
        self.get("/", "page: overview")

    @task(1)
    def diff(self):
        scans = self.any_of("diffs")
        self.get(f"/scans/diff?from={scans[0]}&to={scans[1]}", "page: scan diff")

    @task(1)
    def api_findings(self):
        self.get_json("/api/v1/findings?status=open&limit=100", "api: findings")


class Script(Signed):
    """A script with an API key: reads the inventory, findings and diffs."""

    def on_start(self):
        me = LOAD["keys"][next(KEYS) % len(LOAD["keys"])]
        self.auth = {"authorization": f"Bearer {me['key']}", "x-forwarded-for": me["address"]}

    @task(3)
    def resources(self):
        self.api_resources_walk()

    @task(2)
    def resource(self):
        self.get_json(f"/api/v1/resources/{self.any_of('resources')}", "api: resource")

    @task(3)
    def findings(self):
        self.get_json("/api/v1/findings?status=open&limit=100", "api: findings")

    @task(1)
    def finding(self):
        self.get_json(f"/api/v1/findings/{self.any_of('findings')}", "api: finding")

    @task(1)
    def scans(self):
        self.get_json("/api/v1/scans?limit=20", "api: scans")

    @task(1)
    def diff(self):
        self.api_diff()


# How many of the users are scripts: the rest are people at a browser.
Script.fixed_count = int(os.environ.get("LOAD_SCRIPTS", "0"))
