"""Tokens cross processes: containers in separate interpreters share one moto server."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.support import PROJECT, MotoServer, bootstrap_stage, stage_variables, subprocess_env

pytestmark = pytest.mark.slow


@pytest.fixture
def container_env(moto_server: MotoServer) -> dict[str, str]:
    env = subprocess_env(moto_server.endpoint, **stage_variables(uuid.uuid4().hex[:10]))
    bootstrap_stage(env)
    return env


def run_container(env: dict[str, str], *args: str) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, "-m", "tests.container", *args], cwd=PROJECT, env=env,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_token_from_one_interpreter_opens_me_in_another(container_env: dict[str, str]) -> None:
    login = run_container(container_env, "login", "alice", "correct horse")
    assert login["status"] == 200

    me = run_container(container_env, "me", login["body"]["access_token"])

    assert me["status"] == 200
    assert me["body"]["username"] == "alice"


def test_cold_start_without_parameter_fails_loudly(moto_server: MotoServer) -> None:
    variables = stage_variables(uuid.uuid4().hex[:10])
    env = subprocess_env(moto_server.endpoint, **variables)

    completed = subprocess.run([sys.executable, "-c", "import app"], cwd=PROJECT, env=env,
                               capture_output=True, text=True, timeout=60)

    assert completed.returncode != 0
    assert "KeyLoadError" in completed.stderr
    assert variables["KEYPIN_KEY_PARAMETER"] in completed.stderr
