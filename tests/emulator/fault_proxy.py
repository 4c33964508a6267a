"""A fault-injecting proxy between AWS clients and the strict emulator, for the chaos test.

    python tests/emulator/fault_proxy.py --port P --upstream http://127.0.0.1:E --seed S \
        [--throttle 0.2] [--unavailable 0.05] [--lost 0.03] [--latency-ms 40]

Each request (JSON-protocol services: ECS, ECR, SSM, DynamoDB), decided by one seeded random
stream so a failing run can be replayed with its seed:
- throttled: answered 400 ThrottlingException ("Rate exceeded"), as every one of these services
  answers when its request rate is exceeded; never reaches the emulator;
- unavailable: answered 503 ServiceUnavailable; never reaches the emulator;
- lost: forwarded and applied by the emulator, then the connection is closed without an answer
  (what a client sees when a network path drops after the write);
- every request waits up to --latency-ms first.

GET /_proxy/stats answers the counts. Nothing here leaves loopback.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

STATS: dict[str, int] = {"requests": 0, "throttled": 0, "unavailable": 0, "lost": 0, "forwarded": 0}
LOCK = threading.Lock()


class Faults:
    """What happens to each request, from one seeded stream."""

    def __init__(self, seed: int, throttle: float, unavailable: float, lost: float, latency_ms: float):
        self.random = random.Random(seed)
        self.throttle, self.unavailable, self.lost, self.latency_ms = throttle, unavailable, lost, latency_ms

    def draw(self) -> tuple[str, float]:
        with LOCK:
            roll, delay = self.random.random(), self.random.random() * self.latency_ms / 1000
        if roll < self.throttle:
            return "throttled", delay
        if roll < self.throttle + self.unavailable:
            return "unavailable", delay
        if roll < self.throttle + self.unavailable + self.lost:
            return "lost", delay
        return "forwarded", delay


def service_of(headers: Any) -> str:
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return match.group(1) if match else ""


def make_handler(upstream: str, faults: Faults) -> type[BaseHTTPRequestHandler]:
    target = urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

        def answer(self, status: int, body: bytes, content_type: str = "application/x-amz-json-1.1") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/_proxy/stats":
                with LOCK:
                    self.answer(200, json.dumps(STATS).encode(), "application/json")
                return
            self.relay(b"")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self.relay(self.rfile.read(length) if length else b"")

        def relay(self, body: bytes) -> None:
            fault, delay = faults.draw()
            with LOCK:
                STATS["requests"] += 1
                STATS[fault] += 1
            time.sleep(delay)
            if fault == "throttled":
                error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                self.answer(400, json.dumps(error).encode())
                return
            if fault == "unavailable":
                error = {"__type": "ServiceUnavailableException", "message": "Service Unavailable"}
                self.answer(503, json.dumps(error).encode())
                return
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            if fault == "lost":
                # Applied upstream; the client never hears of it.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--throttle", type=float, default=0.2)
    parser.add_argument("--unavailable", type=float, default=0.05)
    parser.add_argument("--lost", type=float, default=0.03)
    parser.add_argument("--latency-ms", type=float, default=40)
    args = parser.parse_args()
    faults = Faults(args.seed, args.throttle, args.unavailable, args.lost, args.latency_ms)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.upstream, faults))
    server.daemon_threads = True
    print(f"fault proxy on 127.0.0.1:{args.port} -> {args.upstream}, seed {args.seed}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
