"""Fixtures of the benchmarks: moto's server, a provisioned stage, a warm app, and the report.

Every AWS client here and in the child processes has fake credentials and AWS_ENDPOINT_URL
naming moto's server on 127.0.0.1, so nothing reaches AWS.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench.events import LambdaContext, proxy_event
from bench.recording import MotoRecorder
from bench.report import RunContext, render
from bench.results import Results
from chalicelib import aws
from chalicelib.settings import Settings
from keypin_admin.jwks import dump_jwk_set, new_jwk
from keypin_admin.stage import ensure_tables, put_key_parameter
from tests.support import FAKE_AWS, MotoServer, cold_start, stage_variables, subprocess_env

RESULTS = pytest.StashKey[Results]()
LOAD_BEFORE = pytest.StashKey[tuple[float, float, float]]()
STARTED = pytest.StashKey[float]()
LAMBDA_VERSIONS = pytest.StashKey[dict[str, str]]()  # set by the cold-start benchmarks
USERNAME = "bench-user"
PASSWORD = "correct horse battery staple"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keypin-bench")
    group.addoption("--bench-quick", action="store_true",
                    help="run each benchmark once and use this interpreter for cold starts (smoke test)")
    group.addoption("--bench-report", default=None, help="Markdown file that receives the report")
    group.addoption("--bench-command", default="python -m bench", help="the command to name in the report")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = Results()
    config.stash[LOAD_BEFORE] = os.getloadavg()
    config.stash[STARTED] = time.time()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the report, and write it when every benchmark passed."""
    if RESULTS not in config.stash:
        return

    context = RunContext(
        command=config.getoption("--bench-command"),
        quick=config.getoption("--bench-quick"),
        started=config.stash[STARTED],
        load_before=config.stash[LOAD_BEFORE],
        load_after=os.getloadavg(),
        lambda_versions=config.stash.get(LAMBDA_VERSIONS, {}),
    )
    report = render(config.stash[RESULTS], context)
    terminalreporter.write_line("")
    terminalreporter.write(report)

    path = config.getoption("--bench-report")
    if path is None:
        return
    if exitstatus != 0:
        terminalreporter.write_line(f"Not writing {path}: a benchmark failed.")
        return
    Path(path).write_text(report)
    terminalreporter.write_line(f"Wrote {path}")


@pytest.fixture(scope="session")
def results(pytestconfig: pytest.Config) -> Results:
    return pytestconfig.stash[RESULTS]


@pytest.fixture(scope="session")
def quick(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--bench-quick"))


@dataclass(frozen=True)
class BenchStage:
    """moto's server and the names of the stage provisioned in it."""

    endpoint: str
    variables: dict[str, str]
    recorder: MotoRecorder

    def child_env(self, **extra: str) -> dict[str, str]:
        """Return the environment of a child process that reaches only this moto server."""
        return subprocess_env(self.endpoint, **self.variables, **extra)


@pytest.fixture(scope="session")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchStage]:
    """Start moto's server with its request recorder, and create the tables and key parameter."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AWS_", "KEYPIN_", "CHALICE_")):
                patch.delenv(name)
        # moto's server reads this at start; recording stays off until a benchmark turns it on.
        patch.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path_factory.mktemp("moto") / "recording.jsonl"))
        server = MotoServer()
        server.start()
        patch.delenv("MOTO_RECORDER_FILEPATH")

        try:
            variables = stage_variables(f"bench-{uuid.uuid4().hex[:8]}")
            for name, value in {**FAKE_AWS, "AWS_ENDPOINT_URL": server.endpoint, **variables}.items():
                patch.setenv(name, value)

            settings = Settings.from_environ(variables)
            ensure_tables(aws.dynamodb_client(), settings, lambda line: None)
            put_key_parameter(aws.ssm_client(), settings.key_parameter, dump_jwk_set([new_jwk()]),
                              kms_key_id=None, overwrite=False)
            yield BenchStage(server.endpoint, variables, MotoRecorder(server.endpoint))
        finally:
            server.stop()


class DynamoDBTimer:
    """Adds up the time of DynamoDB calls from botocore's before-call to its after-call event.

    That span covers signing, the HTTP round trip and parsing the response. Register it on
    the botocore session before the clients are created, because a client copies the
    session's handlers when it is created. Calls from one thread at a time only.
    """

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def before_call(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def after_call(self, **_: Any) -> None:
        self.total += time.perf_counter() - self._started

    def take(self) -> float:
        """Return the time added up since the last call, in seconds, and start again from zero."""
        total, self.total = self.total, 0.0
        return total


@dataclass(frozen=True)
class WarmApp:
    """keypin's app imported once in this process: a warm Lambda container."""

    module: ModuleType
    context: LambdaContext
    dynamodb_timer: DynamoDBTimer

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the Lambda handler with an API Gateway event and return its response."""
        response: dict[str, Any] = self.module.app(event, self.context)
        return response

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        """Invoke the handler for one request and return the status and the parsed body."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        response = self.handle(proxy_event(method, path, headers=headers, body=body))
        return response["statusCode"], json.loads(response["body"]) if response["body"] else None

    @property
    def codec(self) -> Any:
        return self.module.runtime.auth().codec

    @property
    def settings(self) -> Any:
        return self.module.runtime.auth().settings

    def access_token(self, *, expires_in: int = 900) -> str:
        """Sign a new access token for the benchmark user, with a random `jti`."""
        codec = self.codec
        claims = codec.new_claims(sub="bench-sub", username=USERNAME, sid="bench-sid", token_use="access",
                                  ttl_seconds=expires_in)
        return str(codec.encode(claims))


@pytest.fixture(scope="session")
def warm_app(stage: BenchStage) -> WarmApp:
    timer = DynamoDBTimer()
    session = aws.shared_session()
    session.register("before-call.dynamodb", timer.before_call)
    session.register("after-call.dynamodb", timer.after_call)
    return WarmApp(cold_start(), LambdaContext(), timer)


@pytest.fixture(scope="session")
def bench_user(warm_app: WarmApp) -> tuple[str, str]:
    """Register the benchmark user and return its username and password."""
    status, body = warm_app.call("POST", "/auth/register", body={"username": USERNAME, "password": PASSWORD})
    assert status == 201, body
    return USERNAME, PASSWORD
