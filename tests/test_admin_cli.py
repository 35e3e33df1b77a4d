"""`python -m keypin_admin` as an operator runs it: a child process against moto's server."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.support import PROJECT, MotoServer, free_port, stage_variables, subprocess_env

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT_SECONDS = 60
COMMANDS = [
    [],
    ["bootstrap"],
    ["keys"],
    ["keys", "init"],
    ["keys", "rotate"],
    ["keys", "retire"],
    ["keys", "show"],
    ["keys", "import"],
    ["users"],
    ["users", "add"],
]


class Admin:
    """Runs the CLI for one stage whose parameter and table names no other test uses."""

    def __init__(self, server: MotoServer) -> None:
        self.variables = stage_variables(uuid.uuid4().hex[:10])
        self.env = subprocess_env(server.endpoint, **self.variables)

    @property
    def parameter(self) -> str:
        return self.variables["KEYPIN_KEY_PARAMETER"]

    def run(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keypin_admin", *argv],
            cwd=PROJECT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    def stored_value(self) -> str:
        # Read through the CLI's own environment, so only the moto server is reached.
        script = ("import sys; from chalicelib import aws; "
                  "print(aws.ssm_client().get_parameter(Name=sys.argv[1], WithDecryption=True)['Parameter']['Value'])")
        result = subprocess.run([sys.executable, "-c", script, self.parameter], cwd=PROJECT, env=self.env,
                                capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=True)
        return result.stdout.strip()


@pytest.fixture
def admin(moto_server: MotoServer) -> Admin:
    return Admin(moto_server)


def test_cli_bootstrap_twice_creates_nothing_second_time(admin: Admin) -> None:
    first = admin.run("bootstrap")
    second = admin.run("bootstrap")

    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": created") == 3
    assert second.returncode == 0, second.stderr
    assert ": created" not in second.stdout
    assert second.stdout.count(": already exists") == 3


def test_cli_keys_init_rejects_overwrite(admin: Admin) -> None:
    created = admin.run("keys", "init")
    value = admin.stored_value()

    again = admin.run("keys", "init")

    assert created.returncode == 0, created.stderr
    assert again.returncode == 1
    assert again.stderr.strip() == (f"keypin_admin: error: parameter {admin.parameter} already exists; "
                                    "init never overwrites it (see `keys rotate`)")
    assert admin.stored_value() == value


def test_cli_keys_show_never_prints_k(admin: Admin) -> None:
    # GIVEN a key set of two keys after a rotation
    assert admin.run("keys", "init").returncode == 0
    assert admin.run("keys", "rotate").returncode == 0
    keys = json.loads(admin.stored_value())["keys"]

    # WHEN the operator lists the keys
    shown = admin.run("keys", "show")

    # THEN every kid is listed and no key material is printed
    assert shown.returncode == 0, shown.stderr
    for key in keys:
        assert key["kid"] in shown.stdout
        assert key["k"] not in shown.stdout + shown.stderr


def test_cli_users_add_reads_password_from_stdin(admin: Admin) -> None:
    assert admin.run("bootstrap").returncode == 0

    added = admin.run("users", "add", "alice", stdin="correct horse\n")
    again = admin.run("users", "add", "ALICE", stdin="correct horse\n")

    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("user alice: created with sub ")
    assert again.returncode == 1
    assert again.stderr.strip() == "keypin_admin: error: This username is already registered"


def test_cli_users_add_rejects_short_password(admin: Admin) -> None:
    assert admin.run("bootstrap").returncode == 0

    result = admin.run("users", "add", "alice", stdin="short\n")

    assert result.returncode == 1
    assert "at least 8 characters" in result.stderr


def test_cli_region_option_is_used(admin: Admin) -> None:
    # moto keeps each region apart, so a parameter made in one region is missing in another.
    assert admin.run("keys", "init", "--region", "eu-west-1").returncode == 0

    here = admin.run("keys", "show", "--region", "eu-west-1")
    elsewhere = admin.run("keys", "show")

    assert here.returncode == 0, here.stderr
    assert elsewhere.returncode == 1
    assert "does not exist" in elsewhere.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda argv: " ".join(argv) or "top")
def test_cli_help_on_every_command(admin: Admin, command: list[str]) -> None:
    result = admin.run(*command, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m keypin_admin")


def test_cli_error_is_one_line(admin: Admin) -> None:
    results = [admin.run("keys", "show"), admin.run("keys", "retire", "--older-than", "soon"), admin.run("nothing")]

    for result in results:
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(("keypin_admin: error:", "python -m keypin_admin"))


def test_cli_unreachable_endpoint_is_one_line(admin: Admin) -> None:
    # free_port() releases the port it finds, so nothing listens there.
    admin.env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"

    result = admin.run("keys", "show")

    assert result.returncode == 1
    assert result.stderr.startswith("keypin_admin: error: Could not connect to the endpoint URL")
    assert len(result.stderr.strip().splitlines()) == 1
