"""The Lambda-like virtual environment and the deployment packages whose cold starts are timed.

Lambda's Python runtime provides boto3 and botocore, and `chalice package` adds
requirements.txt, app.py, chalicelib/ and Chalice's runtime (chalice/__init__.py and
chalice/app.py). The environment built here contains requirements.txt plus boto3 at the
versions pinned in requirements-dev.txt, and nothing else.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import chalice
import chalice.app

PROJECT = Path(__file__).resolve().parent.parent
REQUIREMENTS = PROJECT / "requirements.txt"
DEV_REQUIREMENTS = PROJECT / "requirements-dev.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "keypin-bench"
LAMBDA_EXTRAS = ("boto3", "s3transfer")  # in Lambda's runtime, absent from requirements.txt
INSTALL_TIMEOUT_SECONDS = 600

# Edits that make keypin's clients through boto3's session, the usual way, to measure what
# building them from botocore alone saves. Each old text must occur once in chalicelib/aws.py.
_BOTO3_EDITS = (
    ("import botocore.session\n", "import boto3.session\n"),
    ("botocore.session.get_session()", "boto3.session.Session()._session"),
)


def pinned(names: tuple[str, ...]) -> list[str]:
    """Return the `name==version` lines of requirements-dev.txt for `names`."""
    pins = {}
    for line in DEV_REQUIREMENTS.read_text().splitlines():
        name, _, version = line.partition("==")
        if version and name.strip().lower() in names:
            pins[name.strip().lower()] = f"{name.strip()}=={version.strip()}"

    missing = [name for name in names if name not in pins]
    if missing:
        raise RuntimeError(f"requirements-dev.txt has no pinned version of {', '.join(missing)}")
    return [pins[name] for name in names]


def lambda_python() -> Path:
    """Return the interpreter of the Lambda-like environment, creating it on first use."""
    extras = pinned(LAMBDA_EXTRAS)
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + " ".join([*extras, sys.version]).encode()).hexdigest()
    venv = CACHE / f"lambda-venv-{digest[:12]}"
    python = venv / "bin" / "python"
    complete = venv / ".complete"
    if complete.exists():
        return python

    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS), *extras],
        check=True, timeout=INSTALL_TIMEOUT_SECONDS,
    )
    complete.touch()
    return python


def build_packages(root: Path) -> dict[str, Path]:
    """Lay out the three packages under `root`: keypin, keypin on boto3, and the floor."""
    keypin = _package(root / "keypin", PROJECT / "app.py")
    shutil.copytree(PROJECT / "chalicelib", keypin / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))

    keypin_boto3 = root / "keypin-boto3"
    shutil.copytree(keypin, keypin_boto3)
    aws_module = keypin_boto3 / "chalicelib" / "aws.py"
    source = aws_module.read_text()
    for old, new in _BOTO3_EDITS:
        if source.count(old) != 1:
            raise RuntimeError(f"chalicelib/aws.py no longer contains {old!r} once; update bench/lambda_env.py")
        source = source.replace(old, new)
    aws_module.write_text(source)

    floor = _package(root / "floor", Path(__file__).with_name("floor_app.py"))
    return {"keypin": keypin, "keypin-boto3": keypin_boto3, "floor": floor}


def _package(directory: Path, app_file: Path) -> Path:
    (directory / "chalice").mkdir(parents=True)
    shutil.copyfile(app_file, directory / "app.py")
    # The same two files `chalice package` puts in a deployment package.
    shutil.copyfile(inspect.getfile(chalice.app), directory / "chalice" / "app.py")
    shutil.copyfile(inspect.getfile(chalice), directory / "chalice" / "__init__.py")
    return directory


def installed_versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Return the installed version of each of `names` in the environment of `python`."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "versions = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        versions[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        versions[name] = 'absent'\n"
        "print(json.dumps(versions))\n"
    )
    output = subprocess.run([str(python), "-c", code, *names], check=True, capture_output=True, text=True, timeout=60)
    return dict(json.loads(output.stdout))
