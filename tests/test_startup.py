"""When the app loads its keys: at import when it serves, never when Chalice only inspects it."""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from chalicelib.runtime import should_load_at_import
from tests.support import BIN, PROJECT, MotoServer, stage_variables, subprocess_env


def test_should_load_at_import_in_lambda() -> None:
    environ = {"AWS_LAMBDA_FUNCTION_NAME": "keypin-prod", "AWS_CHALICE_CLI_MODE": "true"}

    assert should_load_at_import(environ)


def test_should_load_at_import_plain_python() -> None:
    assert should_load_at_import({})


def test_should_load_at_import_chalice_local_worker() -> None:
    assert should_load_at_import({"AWS_CHALICE_CLI_MODE": "true", "CHALICE_WORKER": "true"})


def test_should_not_load_for_other_chalice_commands() -> None:
    # Outside a click command there is no command name, as for `chalice package` code paths.
    assert not should_load_at_import({"AWS_CHALICE_CLI_MODE": "true"})


@pytest.mark.slow
def test_chalice_inspection_command_does_not_read_ssm(moto_server: MotoServer) -> None:
    # GIVEN a stage whose key parameter does not exist, so that any key load would fail
    env = subprocess_env(moto_server.endpoint, **stage_variables(uuid.uuid4().hex[:10]))

    # WHEN a Chalice command that imports app.py without serving it runs (as package and deploy do)
    completed = subprocess.run([str(BIN / "chalice"), "generate-models", "--stage", "local"], cwd=PROJECT, env=env,
                               capture_output=True, text=True, timeout=120)

    # THEN it finds the routes without touching SSM
    assert completed.returncode == 0, completed.stderr[-2000:]
    paths = json.loads(completed.stdout)["paths"]
    assert "/me" in paths
    assert "KeyLoadError" not in completed.stderr
