"""Helpers for tests that cross processes: moto's server, subprocess environments, HTTP calls."""
from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_TIMEOUT_SECONDS = 60


def stage_variables(suffix: str) -> dict[str, str]:
    """Return KEYPIN_* variables naming a parameter and tables unique to `suffix`."""
    return {
        "KEYPIN_STAGE": "test",
        "KEYPIN_KEY_PARAMETER": f"/keypin/test-{suffix}/signing-keys",
        "KEYPIN_USERS_TABLE": f"keypin-test-{suffix}-users",
        "KEYPIN_SESSIONS_TABLE": f"keypin-test-{suffix}-sessions",
        "KEYPIN_ISSUER": "keypin-test",
        "KEYPIN_AUDIENCE": "keypin-test-api",
    }


def cold_start() -> ModuleType:
    """Import `app` afresh, as a new Lambda container would."""
    sys.modules.pop("app", None)
    return importlib.import_module("app")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def subprocess_env(endpoint: str, **variables: str) -> dict[str, str]:
    """Return an environment for a child process that can reach only the moto server at `endpoint`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "KEYPIN_", "CHALICE_"))
    }
    return {**inherited, **FAKE_AWS, "AWS_ENDPOINT_URL": endpoint, **variables}


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    """Send one request and return (status, parsed JSON body or None, headers)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                           **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, response_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, response_headers = error.code, error.read(), error.headers
    return status, json.loads(raw) if raw else None, response_headers


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_seconds: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with status {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_seconds} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop `process` and its children, which were started in a session of their own."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class MotoServer:
    """moto's server on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until_up(f"{self.endpoint}/moto-api/", self._process)

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process)


class ChaliceLocal:
    """`chalice local --stage local` on a free loopback port, against one moto server."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(BIN / "chalice"), "local", "--stage", "local", "--host", "127.0.0.1",
                   "--port", str(self.port), "--no-autoreload"]
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(command, cwd=PROJECT, env=self._env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(f"{self.url}/health", self._process)

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process)
            self._process = None

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")


class AwsEvents:
    """Handlers on the event emitter of keypin's shared botocore session.

    A client copies the session's handlers when it is created, so register before the
    cold start that creates the clients. `close()` removes every handler registered here.
    """

    def __init__(self, emitter: Any) -> None:
        self._emitter = emitter
        self._registered: list[tuple[str, Any]] = []

    def register_first(self, event: str, handler: Any) -> None:
        # First, so that it runs before moto's own before-send handler.
        self._emitter.register_first(event, handler)
        self._registered.append((event, handler))

    def count(self, event: str) -> list[int]:
        """Count the emissions of `event` in the one-item list that this returns."""
        calls = [0]

        def counter(**_: Any) -> None:
            calls[0] += 1

        self.register_first(event, counter)
        return calls

    def close(self) -> None:
        for event, handler in self._registered:
            self._emitter.unregister(event, handler)
        self._registered.clear()


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def aws_error_response(status: int, code: str, message: str = "injected by a test") -> Any:
    """Return an HTTP response in the AWS JSON protocol's error shape, for a before-send handler."""
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    return AWSResponse("https://injected.invalid/", status, headers, _RawBody(body))


def bootstrap_stage(env: dict[str, str], stage: str = "test") -> None:
    """Create the tables and key parameter that `env` names, in the moto server it points at."""
    subprocess.run([sys.executable, "-m", "keypin_admin", "bootstrap", "--stage", stage], cwd=PROJECT, env=env,
                   check=True, capture_output=True, timeout=60)


def start_local_server(endpoint: str, log_dir: Path, **variables: str) -> ChaliceLocal:
    """Bootstrap a fresh stage in the moto server at `endpoint` and serve it with `chalice local`.

    `variables` are extra settings for the server, such as KEYPIN_ACCESS_TTL_SECONDS.
    """
    stage = stage_variables(uuid.uuid4().hex[:10])
    bootstrap_stage(subprocess_env(endpoint, **stage))
    server = ChaliceLocal(subprocess_env(endpoint, **stage, **variables), log_dir / "server.log")
    server.start()
    return server
