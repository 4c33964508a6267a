"""Benchmarks of the function binary under a Lambda runtime API stand-in, against the strict
emulator (tests/emulator/pushdeploy_emulator.py) served over HTTPS, every process on loopback.

    .venv/bin/python scripts/bench_lambda.py first --function BIN --cli BIN [--runs 5]
    .venv/bin/python scripts/bench_lambda.py burst --function BIN --cli BIN \\
        [--events 20] [--services 4] [--processes 2] [--tls] [--timeout 120]
    .venv/bin/python scripts/bench_lambda.py converged --function BIN --cli BIN [--services 5,10] [--runs 3]
    .venv/bin/python scripts/bench_lambda.py critical --function BIN --cli BIN [--services 3] [--scale 0.25]

`first`: cold starts. Per run a new image in ECR, a fresh function process, one push event:
process start -> init done (its first GET /next) -> answer posted, and how much of that the
emulator spent handling the function's AWS requests (PUSHDEPLOY_EMULATOR_TIMING_LOG).

`burst`: an app of S services, N push events over them (2 per service per second of event time,
every 5th a duplicate of an earlier event of the same service), queued at once for P function
processes polling the stand-in: outcomes, AWS requests by operation, lock waits, and at most one
RegisterTaskDefinition and UpdateService per (service, image digest).

`converged`: for apps of each size in --services (default 5 and 10 services): a fresh `up`, then
--runs times each of a converged `up`, `plan` and `status` (the release CLI, one process each):
wall time (median), the AWS requests each made (from the emulator's timing log) by operation,
and the emulator's busy time (its handling, without its lock's queue); with --latency, each
answer that much later, as from AWS.

`critical`: a fresh `up` and a fresh `up --wait` of an app of S services, each in an account of
its own (no ECS service-linked role yet, as a new user's), with the emulator's AWS delays
(PUSHDEPLOY_EMULATOR_DELAYS=aws, scaled by --scale): wall time beside the longest dependency
chain `up -v` reports (each resource's own time: its calls and its waits), and the sum of the
resources' own times (what one after the other would take).

The emulator serves HTTPS with a throwaway CA's leaf certificate for 127.0.0.1/localhost; the
function and the CLI trust the CA through SSL_CERT_FILE (rustls-native-certs), boto3 through
`verify=`. `burst` serves plain HTTP unless `--tls`. Progress goes to stderr, the result (JSON)
to stdout. The figures include the emulator (one request at a time, in Python): read the
function's own share as total minus the emulator's handling seconds.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import datetime
import http.server
import json
import os
import queue
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR = os.path.join(ROOT, "tests", "emulator", "pushdeploy_emulator.py")
ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION_NAME = "pushdeploy-bench"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"


def say(*parts: Any) -> None:
    print("[bench_lambda]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes: every child is killed on exit, errors and signals included.
# ---------------------------------------------------------------------------------------------

CHILDREN: list[subprocess.Popen] = []


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen:
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)
    CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def stop_all() -> None:
    for proc in reversed(CHILDREN):
        stop(proc)


atexit.register(stop_all)


def _on_signal(signum: int, _frame: Any) -> None:
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited ({proc.returncode}) before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


# ---------------------------------------------------------------------------------------------
# A throwaway CA and a leaf for 127.0.0.1 and localhost.
# ---------------------------------------------------------------------------------------------


def make_certs(directory: str) -> dict[str, str]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pushdeploy bench throwaway CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: os.path.join(directory, f"{name}.pem") for name in ("ca", "cert", "key")}
    with open(paths["ca"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    os.chmod(paths["key"], 0o600)
    return paths


# ---------------------------------------------------------------------------------------------
# The Lambda runtime API stand-in.
# ---------------------------------------------------------------------------------------------

PATH = re.compile(
    r"^(?:/(?P<prefix>p\d+))?/2018-06-01/runtime/"
    r"(?:(?P<next>invocation/next)|invocation/(?P<id>[^/]+)/(?P<kind>response|error)|(?P<init>init/error))$"
)


class RuntimeApi:
    """GET /next blocks until an event is queued; each process (AWS_LAMBDA_RUNTIME_API
    http://127.0.0.1:PORT/p<k>) is told apart by its path prefix."""

    def __init__(self) -> None:
        self.events: "queue.Queue[str]" = queue.Queue()
        self.invocations: dict[str, dict[str, Any]] = {}
        self.first_next: dict[str, float] = {}
        self.init_errors: list[dict[str, Any]] = []
        self.retired: set[str] = set()
        self.lock = threading.Condition()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def reply(self, status: int, payload: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()

            def gone(self) -> bool:
                """Whether the client closed the connection (a killed process)."""
                try:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def do_GET(self) -> None:
                match = PATH.match(self.path)
                if not match or not match["next"]:
                    return self.reply(404, b'{"errorMessage":"not found"}')
                prefix = match["prefix"] or "p0"
                now = time.time()
                with api.lock:
                    api.first_next.setdefault(prefix, now)
                while True:
                    if prefix in api.retired or self.gone():
                        self.close_connection = True
                        return
                    try:
                        request_id = api.events.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if prefix in api.retired or self.gone():
                        api.events.put(request_id)
                        self.close_connection = True
                        return
                    break
                with api.lock:
                    inv = api.invocations[request_id]
                    inv.update(process=prefix, t_next=time.time())
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + 60) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                }
                try:
                    self.reply(200, inv["payload"], headers)
                except OSError:
                    with api.lock:
                        inv.pop("process", None)
                    api.events.put(request_id)
                    self.close_connection = True

            def do_POST(self) -> None:
                match = PATH.match(self.path)
                payload = self.body()
                now = time.time()
                if not match or match["next"]:
                    return self.reply(404, b'{"errorMessage":"not found"}')
                prefix = match["prefix"] or "p0"
                if not match["init"] and match["id"] not in api.invocations:
                    return self.reply(400, b'{"errorMessage":"unknown request id"}')
                # Answered first, recorded after: the bench may kill the process once it is recorded.
                try:
                    self.reply(202, b'{"status":"OK"}')
                except OSError:
                    self.close_connection = True
                with api.lock:
                    if match["init"]:
                        text = payload.decode("utf-8", "replace")
                        api.init_errors.append({"process": prefix, "t": now, "body": text})
                    else:
                        text = payload.decode("utf-8", "replace")
                        api.invocations[match["id"]].update(
                            kind=match["kind"], t_answer=now, answer=text, answered_by=prefix
                        )
                    api.lock.notify_all()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def endpoint(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}/{prefix}"

    def queue(self, event: dict[str, Any]) -> str:
        request_id = str(uuid.uuid4())
        with self.lock:
            self.invocations[request_id] = {"payload": json.dumps(event).encode(), "t_queued": time.time()}
        self.events.put(request_id)
        return request_id

    def wait(self, ids: list[str], seconds: float) -> bool:
        end = time.time() + seconds
        with self.lock:
            while not all("t_answer" in self.invocations[i] for i in ids):
                left = end - time.time()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.5))
        return True

    def wait_first_next(self, prefixes: list[str], procs: list[subprocess.Popen], seconds: float) -> None:
        end = time.time() + seconds
        while True:
            with self.lock:
                if all(p in self.first_next for p in prefixes):
                    return
                if self.init_errors:
                    raise RuntimeError(f"function init failed: {self.init_errors}")
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"function process exited ({proc.returncode}) before its first GET /next")
            if time.time() > end:
                raise RuntimeError(f"function processes did not poll within {seconds} s")
            time.sleep(0.005)


# ---------------------------------------------------------------------------------------------
# The emulator, the CLI, the function processes.
# ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, tls: bool) -> None:
        self.keep = args.keep
        self.work = tempfile.mkdtemp(prefix="bench_lambda.")
        atexit.register(self.cleanup)
        self.tls = tls
        self.certs = make_certs(self.work)
        self.timing_log = os.path.join(self.work, "timing.jsonl")
        self.request_log = os.path.join(self.work, "requests.jsonl")
        self.port = free_port()
        argv = [sys.executable, EMULATOR, "-H", "127.0.0.1", "-p", str(self.port),
                "--ecs-service-linked-role", ACCOUNT]
        if tls:
            argv += ["--tls-cert", self.certs["cert"], "--tls-key", self.certs["key"]]
        if args.keep_alive:
            argv.append("--keep-alive")
        env = dict(os.environ, PUSHDEPLOY_EMULATOR_TIMING_LOG=self.timing_log,
                   PUSHDEPLOY_EMULATOR_REQUEST_LOG=self.request_log)
        if getattr(args, "latency", None):
            env["PUSHDEPLOY_EMULATOR_LATENCY_SECONDS"] = str(args.latency)
        if getattr(args, "scale", None) is not None:
            env.update(PUSHDEPLOY_EMULATOR_DELAYS="aws", PUSHDEPLOY_EMULATOR_TIME_SCALE=str(args.scale))
        say(f"starting the emulator on {'https' if tls else 'http'}://127.0.0.1:{self.port} (work dir {self.work})")
        self.emulator_log = open(os.path.join(self.work, "emulator.log"), "wb")
        self.emulator = spawn(argv, env=env, stdout=self.emulator_log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.emulator)
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.aws_env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SSL_CERT_FILE": self.certs["ca"],
        }
        self.runtime = RuntimeApi()
        say(f"runtime API stand-in on http://127.0.0.1:{self.runtime.port}")
        import boto3

        self.session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                             region_name=REGION)

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.endpoint, verify=self.certs["ca"] if self.tls else None)

    def cleanup(self) -> None:
        stop_all()
        if self.keep:
            say(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def cli(self, cli: str, args: list[str], cwd: str, env_extra: dict[str, str] | None = None) -> tuple[float, Any]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"), **self.aws_env,
               **(env_extra or {})}
        t = time.time()
        proc = spawn([cli, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            stop(proc)
            raise RuntimeError(f"{cli} {' '.join(args)} timed out")
        seconds = time.time() - t
        self.last_stderr = err.decode()
        if proc.returncode != 0:
            raise RuntimeError(f"{cli} {' '.join(args)} failed ({proc.returncode}): {err.decode()[-3000:]}")
        try:
            return seconds, json.loads(out)
        except ValueError:
            return seconds, out.decode()[-2000:]

    def function(self, binary: str, prefix: str, app: str) -> subprocess.Popen:
        """A function process as Lambda starts one: nothing in its environment but these."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": self.runtime.endpoint(prefix),
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            # template.yaml's LoggingConfig LogFormat JSON: Lambda sets this.
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            **self.aws_env,
            "PUSHDEPLOY_APP": app,
        }
        out = open(os.path.join(self.work, f"function-{prefix}.out"), "wb")
        err = open(os.path.join(self.work, f"function-{prefix}.err"), "wb")
        return spawn([binary], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def timings(self, start: float, end: float) -> list[dict[str, Any]]:
        lines = []
        try:
            with open(self.timing_log, encoding="utf-8") as f:
                for line in f:
                    t = json.loads(line)
                    if start <= t["t0"] <= end:
                        lines.append(t)
        except FileNotFoundError:
            pass
        return lines

    def settings(self) -> dict[str, float]:
        import urllib.request

        with urllib.request.urlopen(f"{self.endpoint}/_pushdeploy/settings", timeout=10) as answer:
            return json.load(answer)

    def requests(self) -> list[dict[str, Any]]:
        with open(self.request_log, encoding="utf-8") as f:
            return [json.loads(line) for line in f]


def push_image(ecr: Any, repository: str, tag: str) -> str:
    nonce = uuid.uuid4().int
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:%064x" % (nonce % (1 << 256))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                    "digest": "sha256:%064x" % ((nonce * 7 + 1) % (1 << 256))}],
    }
    image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    return image["image"]["imageId"]["imageDigest"]


def push_event(event_id: str, repository: str, digest: str, tag: str, at: datetime.datetime) -> dict[str, Any]:
    return {
        "version": "0", "id": event_id, "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": ACCOUNT, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION, "resources": [],
        "detail": {"action-type": "PUSH", "result": "SUCCESS", "repository-name": repository,
                   "image-digest": digest, "image-tag": tag},
    }


def build_info(path: str) -> dict[str, Any]:
    """The binary's size, mtime and profile: debug builds carry .debug_info, the release profile
    strips (Cargo.toml)."""
    st = os.stat(path)
    try:
        sections = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, timeout=60).stdout
        kind = "debug (has .debug_info)" if ".debug_info" in sections else "release (stripped)"
    except (OSError, subprocess.TimeoutExpired):
        kind = "unknown"
    return {"path": path, "bytes": st.st_size, "build": kind,
            "mtime": datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")}


def parse_answer(inv: dict[str, Any]) -> Any:
    try:
        return json.loads(inv.get("answer") or "null")
    except ValueError:
        return inv.get("answer")


def function_logs(paths: list[str]) -> dict[str, Any]:
    """The function's stderr (JSON lines with AWS_LAMBDA_LOG_FORMAT=JSON): counts by level and message."""
    by: collections.Counter = collections.Counter()
    other = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        other += 1 if line.strip() else 0
                        continue
                    message = (entry.get("fields") or {}).get("message", "")
                    by[f"{entry.get('level', '?')}: {message}"] += 1
        except FileNotFoundError:
            pass
    return {"by_level_and_message": dict(by.most_common()), "non_json_lines": other}


def r3(x: float) -> float:
    return round(x, 4)


# ---------------------------------------------------------------------------------------------
# first: cold starts
# ---------------------------------------------------------------------------------------------


def first(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args, tls=not args.plain)
    app_dir = os.path.join(bench.work, "app")
    os.makedirs(app_dir)
    say("pushdeploy up --app bench (over https, the CA by SSL_CERT_FILE)")
    up_seconds, _ = bench.cli(args.cli, ["up", "--app", "bench", "--output", "json"], app_dir)
    up_requests = bench.timings(0, time.time())
    ecr = bench.client("ecr")
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    runs = []
    for i in range(args.runs):
        digest = push_image(ecr, "bench/web", f"v{i}")
        event = push_event(f"bench-{i}", "bench/web", digest, f"v{i}", base + datetime.timedelta(minutes=i))
        prefix = f"p{i + 1}"
        request_id = bench.runtime.queue(event)
        t_spawn = time.time()
        proc = bench.function(args.function, prefix, "bench")
        answered = bench.runtime.wait([request_id], 90)
        inv = bench.runtime.invocations[request_id]
        t_first = bench.runtime.first_next.get(prefix)
        bench.runtime.retired.add(prefix)
        stop(proc)
        if not answered or t_first is None:
            raise RuntimeError(f"run {i}: no answer in 90 s (see {bench.work}; --keep to keep it): "
                               f"{open(os.path.join(bench.work, f'function-{prefix}.err')).read()[-2000:]}")
        answer = parse_answer(inv)
        t_answer = inv["t_answer"]
        reqs = bench.timings(t_spawn, t_answer)
        emulator = sum(r["seconds"] for r in reqs)
        fn_reqs = sorted((r for r in reqs if r["principal"] == "function"), key=lambda r: r["t0"])
        run = {
            "run": i,
            "answer_kind": inv["kind"],
            "deployed": isinstance(answer, list) and any(o.get("action") == "deployed" for o in answer),
            "answer": answer,
            "start_to_init_done_s": r3(t_first - t_spawn),
            "init_done_to_answer_s": r3(t_answer - t_first),
            "total_s": r3(t_answer - t_spawn),
            "emulator_s": r3(emulator),
            "emulator_lock_wait_s": r3(sum(r["waited"] for r in reqs)),
            "function_share_s": r3(t_answer - t_spawn - emulator),
            # Where the rest goes: init done -> first AWS request (the event's parse, the SDK's
            # first request: credentials, signing, TCP + TLS), between requests (the client's
            # side: connect, handshake, sign, parse), last request -> answer posted.
            "init_done_to_first_request_s": r3(fn_reqs[0]["t0"] - t_first) if fn_reqs else None,
            "between_requests_s": r3(sum(b["t0"] - (a["t0"] + a["seconds"]) for a, b in zip(fn_reqs, fn_reqs[1:]))),
            "last_request_to_answer_s": r3(t_answer - fn_reqs[-1]["t0"] - fn_reqs[-1]["seconds"]) if fn_reqs else None,
            "aws_requests": len(reqs),
            "aws_requests_by_operation": dict(collections.Counter(f"{r['service']}:{r['operation']}" for r in reqs)),
            "tls_connections": len({r["client"] for r in reqs if r["tls"]}),
            "connections": len({r["client"] for r in reqs}),
        }
        say(f"run {i}: {run['total_s']} s total ({run['start_to_init_done_s']} init, "
            f"{run['init_done_to_answer_s']} invoke), emulator {run['emulator_s']} s, "
            f"{run['aws_requests']} requests, deployed={run['deployed']}")
        runs.append(run)
    keys = ["start_to_init_done_s", "init_done_to_answer_s", "total_s", "emulator_s", "function_share_s",
            "init_done_to_first_request_s", "between_requests_s", "last_request_to_answer_s",
            "aws_requests", "connections"]
    return {
        "command": "first",
        "function": build_info(args.function),
        "cli": build_info(args.cli),
        "tls": not args.plain,
        "keep_alive": args.keep_alive,
        "cli_up": {"seconds": r3(up_seconds), "aws_requests": len(up_requests),
                   "connections": len({r["client"] for r in up_requests})},
        "runs": [{k: v for k, v in r.items() if k != "answer"} | {"answer": r["answer"]} for r in runs],
        "median": {k: r3(statistics.median(r[k] for r in runs)) for k in keys},
        "all_deployed": all(r["deployed"] for r in runs),
        "function_logs": function_logs([os.path.join(bench.work, f"function-p{i + 1}.err") for i in range(args.runs)]),
    }


# ---------------------------------------------------------------------------------------------
# burst: N events, S services, P processes
# ---------------------------------------------------------------------------------------------


def burst(args: argparse.Namespace) -> dict[str, Any]:
    n, s, p = args.events, args.services, args.processes
    app = args.app
    bench = Bench(args, tls=args.tls)
    app_dir = os.path.join(bench.work, "app")
    os.makedirs(app_dir)
    services = [f"svc{k}" for k in range(s)]
    with open(os.path.join(app_dir, "pushdeploy.toml"), "w") as f:
        f.write(app_file(app, services))
    say(f"pushdeploy up: app {app}, {s} services")
    up_seconds, _ = bench.cli(args.cli, ["up", "--output", "json"], app_dir)

    # The events: service k % S, 2 per service per second of event time; every 5th a duplicate
    # of an earlier event of the same service (same id, digest and time: EventBridge's
    # at-least-once delivery).
    rng = random.Random(args.seed)
    ecr = bench.client("ecr")
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    events: list[dict[str, Any]] = []
    per_service: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    say(f"pushing {n} events' images into ECR")
    for k in range(n):
        svc = services[k % s]
        j = k // s
        earlier = per_service[svc]
        if k % 5 == 4 and earlier:
            event = json.loads(json.dumps(rng.choice(earlier)))
        else:
            repository = f"{app}/{svc}"
            tag = f"v{j}"
            digest = push_image(ecr, repository, tag)
            event = push_event(f"burst-{k}", repository, digest, tag, base + datetime.timedelta(seconds=j * 0.5))
            earlier.append(event)
        events.append(event)
    duplicates = sum(1 for k in range(n) if k % 5 == 4 and events[k]["id"] != f"burst-{k}")

    prefixes = [f"p{k + 1}" for k in range(p)]
    t_spawn = time.time()
    procs = [bench.function(args.function, prefix, app) for prefix in prefixes]
    bench.runtime.wait_first_next(prefixes, procs, 60)
    t_init = time.time()
    say(f"{p} function processes polling after {t_init - t_spawn:.3f} s; queueing {n} events")
    t_start = time.time()
    ids = [bench.runtime.queue(e) for e in events]
    all_answered = bench.runtime.wait(ids, args.timeout)
    t_end = max((bench.runtime.invocations[i].get("t_answer", 0) for i in ids), default=t_start)
    if not all_answered:
        t_end = time.time()
    time.sleep(0.2)  # the last log lines
    for proc in procs:
        stop(proc)
    wall = t_end - t_start

    # Outcomes from the answers.
    outcomes: collections.Counter = collections.Counter()
    errors: collections.Counter = collections.Counter()
    by_process: collections.Counter = collections.Counter()
    lost = []
    latencies = []
    for i, event in zip(ids, events):
        inv = bench.runtime.invocations[i]
        if "t_answer" not in inv:
            lost.append({"event": event["id"], "dispatched": "t_next" in inv, "process": inv.get("process")})
            continue
        by_process[inv.get("answered_by")] += 1
        latencies.append(inv["t_answer"] - inv["t_next"])
        answer = parse_answer(inv)
        if inv["kind"] == "response" and isinstance(answer, list):
            for o in answer:
                outcomes[f"{o.get('action')}/{o.get('reason')}"] += 1
        else:
            kind = answer.get("errorType", "?") if isinstance(answer, dict) else "?"
            errors[kind] += 1
    deployed = sum(v for k, v in outcomes.items() if k.startswith("deployed/"))

    # AWS requests in the burst's window, from the emulator's timing log.
    reqs = [r for r in bench.timings(t_start, t_end) if r["principal"] == "function"]
    by_op = collections.Counter(f"{r['service']}:{r['operation']}" for r in reqs)
    by_error = collections.Counter(f"{r['operation']}:{r['error']}" for r in reqs if r["error"])
    lock_waits = sum(1 for r in reqs if r["operation"] == "PutItem" and r["error"] == "ConditionalCheckFailedException")
    throttled = sum(1 for r in reqs if r["error"] and "hrottl" in r["error"])
    handling = sum(r["seconds"] for r in reqs)
    queued = sum(r["waited"] for r in reqs)
    intervals = sorted((r["t0"], r["t0"] + r["seconds"]) for r in reqs)
    busy, cur_start, cur_end = 0.0, None, None
    for a, b in intervals:
        if cur_end is None or a > cur_end:
            if cur_end is not None:
                busy += cur_end - cur_start
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_end is not None:
        busy += cur_end - cur_start

    # At most one RegisterTaskDefinition and UpdateService per (service, image digest): what
    # the function asked for (the request log's parameters), and the revisions ECS holds.
    ecs = bench.client("ecs")
    arn_image: dict[str, str] = {}
    revisions: collections.Counter = collections.Counter()
    for svc in services:
        family = f"{app}-{svc}"
        arns: list[str] = []
        for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family):
            arns += page["taskDefinitionArns"]
        for arn in arns:
            td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            if td["family"] != family:
                continue
            image = td["containerDefinitions"][0]["image"]
            arn_image[arn] = image
            revisions[(svc, image.rsplit("@", 1)[-1])] += 1
    fn_requests = [q for q in bench.requests() if q["principal"] == "function"]
    registers: collections.Counter = collections.Counter()
    updates: collections.Counter = collections.Counter()
    for q in fn_requests:
        if q["operation"] == "RegisterTaskDefinition":
            family = q["params"].get("family", "")
            image = (q["params"].get("containerDefinitions") or [{}])[0].get("image", "")
            registers[(family[len(app) + 1:], image.rsplit("@", 1)[-1])] += 1
        elif q["operation"] == "UpdateService":
            image = arn_image.get(q["params"].get("taskDefinition", ""), "?")
            updates[(q["params"].get("service"), image.rsplit("@", 1)[-1])] += 1
    def over(what: str, counts: collections.Counter) -> list[dict[str, Any]]:
        return [{"what": what, "service": k[0], "digest": k[1], "count": v}
                for k, v in counts.items() if v > 1 and k[1].startswith("sha256:")]

    violations = (over("RegisterTaskDefinition requests", registers) + over("revisions registered", revisions)
                  + over("UpdateService requests", updates))
    pushed_revisions = [v for k, v in revisions.items() if k[1].startswith("sha256:")]
    logs = function_logs([os.path.join(bench.work, f"function-{x}.err") for x in prefixes])
    say(f"burst: {n - len(lost)}/{n} answered in {wall:.3f} s, {len(reqs)} AWS requests, {deployed} deployed, "
        f"{len(violations)} violations")
    return {
        "command": "burst",
        "function": build_info(args.function),
        "cli": build_info(args.cli),
        "tls": args.tls,
        "keep_alive": args.keep_alive,
        "events": n, "services": s, "processes": p, "duplicates": duplicates,
        "cli_up_s": r3(up_seconds),
        "processes_init_s": r3(t_init - t_spawn),
        "wall_s": r3(wall),
        "answered": n - len(lost),
        "lost": lost,
        "answered_by_process": dict(by_process),
        "invocation_latency_s": {
            "median": r3(statistics.median(latencies)) if latencies else None,
            "max": r3(max(latencies)) if latencies else None,
        },
        "outcomes": dict(outcomes.most_common()),
        "errors": dict(errors.most_common()),
        "deployed": deployed,
        "aws_requests": len(reqs),
        "aws_requests_by_operation": dict(by_op.most_common()),
        "aws_errors": dict(by_error.most_common()),
        "requests_per_deploy": r3(len(reqs) / deployed) if deployed else None,
        "lock_waits": lock_waits,
        "throttled_responses": throttled,
        "connections": len({r["client"] for r in reqs}),
        "emulator": {
            "handling_s_sum": r3(handling),
            "waiting_for_its_lock_s_sum": r3(queued),
            "working_s_sum": r3(handling - queued),
            "busy_wall_s": r3(busy),
            "by_operation_working_s": {
                op: r3(sum(r["seconds"] - r["waited"] for r in reqs if f"{r['service']}:{r['operation']}" == op))
                for op in by_op
            },
        },
        "register_per_service_digest_max": max(registers.values(), default=0),
        "update_per_service_digest_max": max(updates.values(), default=0),
        "revisions_per_service_digest_max": max(pushed_revisions, default=0),
        "violations": violations,
        "function_logs": logs,
    }


def app_file(app: str, services: list[str]) -> str:
    """An app of `services` (the first takes the listener's default route, the others a path)."""
    lines = [f'name = "{app}"', ""]
    for k, name in enumerate(services):
        lines += ["[[services]]", f'name = "{name}"', f'repository = "{app}/{name}"']
        if k:
            lines.append(f'path = "/{name}/*"')
        lines.append("")
    return "\n".join(lines)


def converged(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args, tls=False)
    sizes = [int(x) for x in args.services.split(",")]
    result: dict[str, Any] = {"runs": args.runs, "apps": []}
    for size in sizes:
        app = f"conv{size}"
        app_dir = os.path.join(bench.work, app)
        os.makedirs(app_dir)
        with open(os.path.join(app_dir, "pushdeploy.toml"), "w") as f:
            f.write(app_file(app, [f"svc{k}" for k in range(size)]))

        def measured(command: list[str]) -> dict[str, Any]:
            t0 = time.time()
            seconds, _ = bench.cli(args.cli, command, app_dir)
            reqs = bench.timings(t0, time.time())
            return {
                "seconds": r3(seconds),
                "requests": len(reqs),
                # Its handling time, without waiting for its lock (or the latency slept before):
                # what it was busy with, whether the CLI's requests came one by one or together.
                "emulator_s": r3(sum(r["seconds"] - r["waited"] for r in reqs)),
                "by_operation": dict(collections.Counter(f"{r['service']}:{r['operation']}" for r in reqs)),
            }

        say(f"pushdeploy up: app {app}, {size} services (fresh)")
        entry: dict[str, Any] = {"services": size, "fresh_up": measured(["up", "--output", "json"])}
        for name, command in (("up", ["up", "--output", "json"]), ("plan", ["plan", "--output", "json"]),
                              ("status", ["status", "--output", "json"])):
            runs = [measured(command) for _ in range(args.runs)]
            say(f"{name} ({size} services): {[r['seconds'] for r in runs]} s, {[r['requests'] for r in runs]} requests")
            middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
            entry[name] = {"median": middle, "seconds": [r["seconds"] for r in runs]}
        result["apps"].append(entry)
    return result


CHAIN = re.compile(r"converged in ([0-9.]+)s \(one resource after another: ([0-9.]+)s\); "
                   r"longest dependency chain ([0-9.]+)s: (.*)$", re.M)


STEP = re.compile(r"^([a-z][a-z -]*[a-z] \S+): (?:created|updated: .*|no change) \(([0-9.]+)s\)$", re.M)


def wait_floor(own: dict[str, float], app: str, settings: dict[str, float]) -> dict[str, Any]:
    """The longest chain of `up --wait` under the emulator's delays: the load balancer's (the
    VPC, the instance type, its security group, its creation, then `provisioning` for
    load_balancer_seconds) or the instances' (the Auto Scaling group once its launch template,
    after the instances' security group and profile, and the ECS cluster, after the service-linked
    role, are done; its own time holds the profile's propagation; then instance_join_seconds): the
    paths `after` declares, each resource's own time as `up -v` printed it."""
    def t(label: str) -> float:
        return own.get(label, 0.0)

    checks = t("vpc default") + t("instance type t3.small")
    # The security groups one after another (each may admit an earlier one); the load balancer
    # after all of them.
    groups = checks + t(f"security group pushdeploy-{app}-alb") + t(f"security group pushdeploy-{app}-instances")
    balancer = groups + t(f"load balancer pd-{app}")
    profile = t(f"iam role pushdeploy-{app}-instance") + t(f"instance profile pushdeploy-{app}-instance")
    template = max(groups, checks + profile) + t(f"launch template pushdeploy-{app}")
    # The service-linked role is first in the list and waits for nothing, not even the checks.
    cluster = max(checks, t("service-linked role AWSServiceRoleForECS")) + t(f"ecs cluster {app}")
    instances = max(template, cluster) + t(f"auto scaling group pushdeploy-{app}")
    paths = {
        "load balancer active": balancer + settings["load_balancer_seconds"],
        "instances joined": instances + settings["instance_join_seconds"],
    }
    name = max(paths, key=lambda k: paths[k])
    return {"floor_s": r3(paths[name]), "floor": name, "paths_s": {k: r3(v) for k, v in paths.items()}}


def critical(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args, tls=False)
    services = [f"svc{k}" for k in range(args.services)]
    result: dict[str, Any] = {"services": args.services, "scale": args.scale, "runs": []}
    # Text output: `-v` prints its step lines and the timing only there (JSON keeps stderr quiet).
    for n, command in enumerate((["up", "-v"], ["up", "--wait", "-v"])):
        app = f"crit{n}"
        app_dir = os.path.join(bench.work, app)
        os.makedirs(app_dir)
        with open(os.path.join(app_dir, "pushdeploy.toml"), "w") as f:
            f.write(app_file(app, services))
        # An account of its own: no service-linked role yet, nothing created, as a new user's.
        key = f"PDACCT{200000000000 + n:012d}XX"
        say(f"pushdeploy {' '.join(command)}: app {app}, {args.services} services, account {key[6:18]}")
        t0 = time.time()
        seconds, _ = bench.cli(args.cli, command, app_dir, {"AWS_ACCESS_KEY_ID": key})
        reqs = bench.timings(t0, time.time())
        found = CHAIN.search(bench.last_stderr)
        if not found:
            raise RuntimeError(f"`up -v` printed no timing line: {bench.last_stderr[-2000:]}")
        converge_s, serial_s, chain_s, chain = (float(found.group(1)), float(found.group(2)),
                                                float(found.group(3)), found.group(4))
        own = {label: float(t) for label, t in STEP.findall(bench.last_stderr)}
        entry = {
            "command": " ".join(command[:2] if "--wait" in command else command[:1]),
            "seconds": r3(seconds),
            "converge_s": converge_s,
            "chain_s": chain_s,
            "serial_s": serial_s,
            # The whole process (its start, the account check, the reads before) over the chain.
            "wall_over_chain": r3(seconds / chain_s) if chain_s else None,
            "chain": chain,
            "requests": len(reqs),
            # The --wait steps' lines (a resource's own waits are in its own time).
            "waits": [line for line in bench.last_stderr.splitlines() if line.startswith("waiting for")],
            "own_s": own,
        }
        if "--wait" in command:
            entry.update(wait_floor(own, app, bench.settings()))
            entry["wall_over_floor"] = r3(seconds / entry["floor_s"])
            say(f"  --wait: {seconds:.2f}s in all beside a floor of {entry['floor_s']:.2f}s ({entry['floor']})")
        say(f"  {seconds:.2f}s in all; converge {converge_s:.2f}s beside a chain of {chain_s:.2f}s "
            f"(one after the other: {entry['serial_s']:.2f}s); {len(reqs)} requests")
        result["runs"].append(entry)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("first", "burst", "converged", "critical"):
        p = sub.add_parser(name)
        p.add_argument("--function", required=True, help="the pushdeploy-lambda binary")
        p.add_argument("--cli", required=True, help="the pushdeploy CLI binary")
        p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
        p.add_argument("--keep-alive", action="store_true",
                       help="the emulator keeps connections open between requests (AWS does; werkzeug does not)")
    sub.choices["first"].add_argument("--runs", type=int, default=5)
    sub.choices["first"].add_argument("--plain", action="store_true", help="serve the emulator over HTTP, to compare")
    b = sub.choices["burst"]
    b.add_argument("--events", type=int, default=20)
    b.add_argument("--services", type=int, default=4)
    b.add_argument("--processes", type=int, default=2)
    b.add_argument("--tls", action="store_true", help="serve the emulator over HTTPS")
    b.add_argument("--timeout", type=float, default=120, help="seconds to wait for every answer")
    b.add_argument("--app", default="burst")
    b.add_argument("--seed", type=int, default=1)
    c = sub.choices["converged"]
    c.add_argument("--services", default="5,10", help="app sizes, comma-separated")
    c.add_argument("--runs", type=int, default=3)
    c.add_argument("--latency", type=float, default=0.0,
                   help="seconds the emulator sleeps before each answer, outside its lock (AWS: about 0.1)")
    k = sub.choices["critical"]
    k.add_argument("--services", type=int, default=3)
    k.add_argument("--scale", type=float, default=0.25, help="AWS's delays times this (1: as on AWS)")
    args = parser.parse_args()
    for binary in (args.function, args.cli):
        if not os.access(binary, os.X_OK):
            parser.error(f"{binary} is not an executable")
    args.function, args.cli = os.path.abspath(args.function), os.path.abspath(args.cli)
    result = {"first": first, "burst": burst, "converged": converged, "critical": critical}[args.command](args)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
