"""`chalice package --stage prod` builds a template and a Lambda zip fit for Argon2id logins.

Packaging downloads Lambda's manylinux wheels from PyPI unless Chalice's cache in
.chalice/deployments/ already contains them. When PyPI cannot be reached these tests skip.
The AWS variables point at a closed port on 127.0.0.1, so no step can reach AWS.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.test_deploy_policy import load_policy

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STAGE = "prod"
PACKAGE_TIMEOUT_SECONDS = 300
ARGON2_LIBRARY = "_argon2_cffi_bindings/_ffi.abi3.so"
# Lambda's python3.11 runtime runs on Amazon Linux 2, whose glibc is 2.26.
MAX_GLIBC = (2, 26)
ELF_MACHINE_X86_64 = 62
# Chalice reports a wheel that pip could not download in one of these two forms.
UNSATISFIED = re.compile(r"Could not satisfy the requirement: (?P<name>[\w.-]+)==(?P<version>\S+)")
MISSING_HEADER = "Could not install dependencies:"


def _offline_env() -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "KEYPIN_"))}
    return {
        # Without PyPI, pip's default of 5 retries per request would make a skip take minutes.
        "PIP_RETRIES": "1",
        "PIP_TIMEOUT": "15",
        **inherited,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    }


def _undownloadable_pins(chalice_output: str) -> list[str]:
    """Return the pins that pip could not download although this virtualenv has them installed."""
    pins = [f"{match['name']}=={match['version']}" for match in UNSATISFIED.finditer(chalice_output)]
    if MISSING_HEADER in chalice_output:
        listed = chalice_output.split(MISSING_HEADER, 1)[1].strip().splitlines()
        pins += [line.strip() for line in listed if "==" in line]

    # A pin installed here exists on PyPI, so failing to download it means PyPI is out of reach.
    installed = []
    for pin in pins:
        name, _, version = pin.partition("==")
        try:
            if metadata.version(name) == version:
                installed.append(pin)
        except metadata.PackageNotFoundError:
            continue
    return installed


def _skip_or_fail(chalice_output: str) -> None:
    pins = _undownloadable_pins(chalice_output)
    if pins:
        pytest.skip(f"pip could not download Lambda's wheels for {', '.join(pins)}; PyPI is probably unreachable")
    pytest.fail(f"chalice package failed:\n{chalice_output}")


def package(outdir: Path, *options: str) -> Path:
    """Run `chalice package --stage prod` into `outdir` and return it, or skip without PyPI."""
    result = subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", STAGE, *options, str(outdir)],
        cwd=PROJECT, capture_output=True, text=True, env=_offline_env(), timeout=PACKAGE_TIMEOUT_SECONDS, check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or MISSING_HEADER in output:
        _skip_or_fail(output)
    return outdir


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package(tmp_path_factory.mktemp("merged"), "--merge-template", str(PROJECT / "infra" / "resources.json"))


def _template(outdir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((outdir / "sam.json").read_text())
    return loaded


def _function(outdir: Path) -> dict[str, Any]:
    properties: dict[str, Any] = _template(outdir)["Resources"]["APIHandler"]["Properties"]
    return properties


def _glibc_versions(library: bytes) -> set[tuple[int, int]]:
    # The dynamic section lists each required glibc symbol version as a GLIBC_x.y string.
    return {(int(major), int(minor)) for major, minor in re.findall(rb"GLIBC_(\d+)\.(\d+)", library)}


def test_package_function_settings(packaged: Path) -> None:
    function = _function(packaged)

    assert function["Runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert function["Architectures"] == ["x86_64"]
    assert function["Handler"] == "app.app"
    # Argon2id with 19 MiB, t=2, p=1 is CPU-bound: Lambda gives CPU in proportion to
    # memory, and 1024 MB is about 0.58 of a vCPU (a full vCPU at 1769 MB).
    assert function["MemorySize"] == 1024
    assert function["Timeout"] == 10


def test_package_environment(packaged: Path) -> None:
    variables = _function(packaged)["Environment"]["Variables"]

    assert variables == {"KEYPIN_STAGE": "prod", "KEYPIN_ALLOW_REGISTRATION": "false"}


def test_package_role_uses_policy_file(packaged: Path) -> None:
    role = _template(packaged)["Resources"]["ApiHandlerRole"]["Properties"]
    [policy] = role["Policies"]

    assert policy["PolicyDocument"] == load_policy(STAGE)
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_package_argon2_is_lambda_build(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as archive:
        names = set(archive.namelist())
        assert ARGON2_LIBRARY in names, "the zip has no compiled argon2 bindings"
        library = archive.read(ARGON2_LIBRARY)
        [wheel] = [name for name in names if re.fullmatch(r"argon2_cffi_bindings-[^/]+\.dist-info/WHEEL", name)]
        tags = archive.read(wheel).decode()

    assert library[:4] == b"\x7fELF"
    assert int.from_bytes(library[18:20], "little") == ELF_MACHINE_X86_64
    assert max(_glibc_versions(library)) <= MAX_GLIBC
    assert re.search(r"^Tag: .*-manylinux\w*_x86_64$", tags, re.MULTILINE), tags


def test_package_leaves_out_local_files(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as archive:
        top_level = {name.split("/", 1)[0] for name in archive.namelist()}

    # .keypin/ contains the local stage's signing key, and the admin CLI and tests never run in Lambda.
    assert {"app.py", "chalicelib"} <= top_level
    assert not top_level & {".keypin", ".chalice", "keypin_admin", "keypin_client", "tests", "infra"}


def test_merged_template_passes_cfn_lint(merged: Path) -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(merged / "sam.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )

    # cfn-lint's exit status is a bit mask: 2 means at least one error.
    assert result.returncode & 2 == 0, result.stdout + result.stderr


def test_merged_template_adds_tables_and_key(merged: Path) -> None:
    resources = _template(merged)["Resources"]
    types = {name: resource.get("Type") for name, resource in resources.items()}

    assert types["UsersTable"] == "AWS::DynamoDB::Table"
    assert types["SessionsTable"] == "AWS::DynamoDB::Table"
    assert types["SigningKeyEncryptionKey"] == "AWS::KMS::Key"
    assert types["FunctionLogGroup"] == "AWS::Logs::LogGroup"
    assert types["APIHandler"] == "AWS::Serverless::Function"
    assert types["ApiHandlerRole"] == "AWS::IAM::Role"


def test_merged_template_replaces_role_policy(merged: Path) -> None:
    [policy] = _template(merged)["Resources"]["ApiHandlerRole"]["Properties"]["Policies"]
    resources = json.dumps([statement["Resource"] for statement in policy["PolicyDocument"]["Statement"]])

    assert "${aws:PrincipalAccount}" not in resources
    assert "*" not in resources


def test_merged_template_keeps_chalice_settings(merged: Path) -> None:
    function = _function(merged)

    assert function["MemorySize"] == 1024
    assert function["Environment"]["Variables"]["KEYPIN_ALLOW_REGISTRATION"] == "false"
    assert function["Environment"]["Variables"]["KEYPIN_USERS_TABLE"] == {"Ref": "UsersTable"}
    assert function["FunctionName"] == {"Fn::Sub": "keypin-${Stage}"}
