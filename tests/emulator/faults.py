"""A fault-injecting proxy between an AWS SDK and the emulator.

Each request is forwarded to the emulator unless a fault is drawn for it:

  throttle  the service's own throttling error, in its protocol's shape:
            EC2 (query)  503 RequestLimitExceeded in <Response><Errors>
            other query  400 Throttling in <ErrorResponse> (IAM, STS, SNS, CloudWatch, RDS...)
            JSON         400 {"__type": "ThrottlingException"} (X-Amz-Target services)
            S3           503 SlowDown (S3 Control: the same in <ErrorResponse>)
            REST-JSON    429 with x-amzn-ErrorType (Lambda: TooManyRequestsException)
  error     a 500 in the same shapes (InternalError / InternalFailure)
  slow      the answer, after `slow_seconds`
  drop      the connection closed without an answer

With `spare_after=N`, an attempt after the Nth of one call (the SDK's
`amz-sdk-request: attempt=K` header) is never faulted: a test then cannot
lose a call to a run of bad draws, which at 35% for ten attempts happens to
3 calls in 100,000.

The service comes from the request's SigV4 credential scope, the protocol
from the service and the X-Amz-Target header, as AWS decides them. The
emulator's own API (/moto-api/) is never faulted; GET /fault-proxy/counts
says how many requests met each fate, and POST /fault-proxy/faults?spec=...
sets new rates (and starts the counts and the generator afresh). Draws
come from one seeded generator: repeatable for the same order of requests, which
concurrent callers do not keep, so a run's draws vary while its rates hold.

    spec: "throttle=0.3,error=0.05,slow=0.02,drop=0.01,slow_seconds=1,seed=7"
"""

import http.client
import json
import random
import re
import socket
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUERY_SERVICES = {"iam", "sts", "sns", "monitoring", "rds", "elasticloadbalancing", "autoscaling",
                  "cloudformation", "elasticache", "redshift", "ses", "sdb", "sqs"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "trailer", "upgrade"}


def parse(spec):
    faults = {"throttle": 0.0, "error": 0.0, "slow": 0.0, "drop": 0.0, "slow_seconds": 1.0, "seed": 0, "spare_after": 0}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, _, value = part.partition("=")
        if name not in faults:
            raise ValueError(f"fault {name!r}: expected one of {', '.join(faults)}")
        faults[name] = int(value) if name in ("seed", "spare_after") else float(value)
    if faults["throttle"] + faults["error"] + faults["slow"] + faults["drop"] > 1:
        raise ValueError(f"faults {spec!r}: the rates add up to more than 1")
    return faults


def service_of(headers):
    m = re.search(r"Credential=[^/,]+/\d{8}/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return m.group(1) if m else ""


def attempt_of(headers):
    m = re.search(r"attempt=(\d+)", headers.get("amz-sdk-request", ""))
    return int(m.group(1)) if m else 1


def fault_answer(kind, service, headers, path=""):
    """(status, headers, body) of a throttling or internal error, as `service` sends it."""
    request_id = str(uuid.uuid4())
    throttle = kind == "throttle"
    if path.startswith("/v20180820/"):
        # S3 Control signs as `s3` but wraps its errors as the query services do.
        code = "SlowDown" if throttle else "InternalError"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Code>{code}</Code><Message>'
                f"{'Please reduce your request rate.' if throttle else 'We encountered an internal error.'}"
                f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return (503 if throttle else 500, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body)
    if headers.get("X-Amz-Target"):
        code = "ThrottlingException" if throttle else "InternalFailure"
        content_type = headers.get("Content-Type") or "application/x-amz-json-1.1"
        return (400 if throttle else 500, {"Content-Type": content_type, "x-amzn-RequestId": request_id},
                json.dumps({"__type": code, "message": "Rate exceeded" if throttle else "Internal failure"}))
    if service == "ec2":
        code = "RequestLimitExceeded" if throttle else "InternalError"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{'Request limit exceeded.' if throttle else 'An internal error has occurred'}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return (503 if throttle else 500, {"Content-Type": "text/xml;charset=UTF-8"}, body)
    if service in QUERY_SERVICES:
        code, party = ("Throttling", "Sender") if throttle else ("InternalFailure", "Receiver")
        body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error><Type>{party}</Type>'
                f"<Code>{code}</Code><Message>{'Rate exceeded' if throttle else 'Internal failure'}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return (400 if throttle else 500, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body)
    if service == "s3":
        code = "SlowDown" if throttle else "InternalError"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>'
                f"{'Please reduce your request rate.' if throttle else 'We encountered an internal error. Please try again.'}"
                f"</Message><RequestId>{request_id}</RequestId></Error>")
        return (503 if throttle else 500, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body)
    code = ("TooManyRequestsException" if service == "lambda" else "ThrottlingException") if throttle else "ServiceException"
    return (429 if throttle else 500, {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id},
            json.dumps({"message": "Rate exceeded" if throttle else "Internal failure"}))


class FaultProxy:
    """Listens on a free loopback port; `endpoint` is its URL."""

    def __init__(self, upstream_host, upstream_port, spec, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.configure(spec)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/fault-proxy/faults?"):
                    spec = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("spec", [""])[0]
                    try:
                        proxy.configure(spec)
                    except ValueError as e:
                        self.answer(400, [("Content-Type", "text/plain")], str(e).encode())
                        return
                    self.answer(200, [("Content-Type", "text/plain")], b"ok")
                    return
                if self.path == "/fault-proxy/counts":
                    with proxy.lock:
                        counts = json.dumps(proxy.counts).encode()
                    self.answer(200, [("Content-Type", "application/json")], counts)
                    return
                spared = self.path.startswith("/moto-api") or (
                    proxy.faults["spare_after"] and attempt_of(self.headers) > proxy.faults["spare_after"])
                kind = None if spared else proxy.draw()
                if kind == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if kind in ("throttle", "error"):
                    status, headers, text = fault_answer(kind, service_of(self.headers), self.headers, self.path)
                    self.answer(status, headers.items(), text.encode())
                    return
                if kind == "slow":
                    threading.Event().wait(proxy.faults["slow_seconds"])
                upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body or None,
                                     headers={k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP})
                    reply = upstream.getresponse()
                    self.answer(reply.status, [(k, v) for k, v in reply.getheaders() if k.lower() not in HOP_BY_HOP],
                                reply.read())
                finally:
                    upstream.close()

            def answer(self, status, headers, body):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the scanner opens several connections at once
            daemon_threads = True

        self.server = Server((host, 0), Handler)
        self.endpoint = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def configure(self, spec):
        """New rates, a fresh generator from their seed, and counts from zero."""
        faults = parse(spec)
        with self.lock:
            self.faults = faults
            self.random = random.Random(faults["seed"])
            self.counts = {"forwarded": 0, "throttle": 0, "error": 0, "slow": 0, "drop": 0}

    def draw(self):
        with self.lock:
            x = self.random.random()
            for kind in ("throttle", "error", "slow", "drop"):
                x -= self.faults[kind]
                if x < 0:
                    self.counts[kind] += 1
                    return kind
            self.counts["forwarded"] += 1
            return None

    def stop(self):
        self.server.shutdown()
