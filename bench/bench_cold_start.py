"""Cold starts of keypin and of the floor in fresh interpreters, and SSM calls per cold start.

These samples are timed here with `time.perf_counter`, not by pytest-benchmark; see
`bench_cold_start`.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.conftest import LAMBDA_VERSIONS, BenchStage
from bench.lambda_env import build_packages, installed_versions, lambda_python
from bench.report import LAMBDA_PACKAGES
from bench.results import Results

VARIANTS = ("keypin", "keypin-boto3", "floor")
ROUNDS = 25
WARMUP_ROUNDS = 3  # the first run of a package writes its .pyc files
COUNTED_COLD_STARTS = 3
CHILD_TIMEOUT_SECONDS = 60
# The child prints how long `import app` took, measured around the import itself.
CHILD_CODE = "import time\nstarted = time.perf_counter()\nimport app\nprint(time.perf_counter() - started)\n"


@pytest.fixture(scope="module")
def cold_python(quick: bool, pytestconfig: pytest.Config) -> Path:
    """Return the interpreter for cold starts: the Lambda-like environment's, or this one in a quick run."""
    python = Path(sys.executable) if quick else lambda_python()
    if not quick:
        pytestconfig.stash[LAMBDA_VERSIONS] = installed_versions(python, LAMBDA_PACKAGES)
    return python


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_packages(tmp_path_factory.mktemp("packages"))


def start_cold(python: Path, package: Path, stage: BenchStage) -> float:
    """Import `app` in a fresh interpreter and return the import time the child measured, in seconds."""
    # -E and -s keep PYTHON* variables and the user's site-packages out, as on Lambda.
    completed = subprocess.run(
        [str(python), "-E", "-s", "-c", CHILD_CODE],
        cwd=package,
        env=stage.child_env(AWS_LAMBDA_FUNCTION_NAME="keypin-bench"),
        capture_output=True,
        text=True,
        check=False,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the cold start of {package.name} failed:\n{completed.stderr[-3000:]}")
    return float(completed.stdout.split()[-1])


def bench_cold_start(cold_python: Path, packages: dict[str, Path], *, stage: BenchStage, results: Results,
                     quick: bool) -> None:
    """Time the variants in interleaved rounds, each round in a rotated order.

    pytest-benchmark times one benchmark after another, so load from other processes that
    changes between two benchmarks would bias the ratio to the floor. Interleaving gives
    every variant the same share of each minute instead.
    """
    rounds, warmup_rounds = (1, 0) if quick else (ROUNDS, WARMUP_ROUNDS)
    wall_times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    import_times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}

    for round_number in range(warmup_rounds + rounds):
        shift = round_number % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            started = time.perf_counter()
            imported = start_cold(cold_python, packages[variant], stage)
            elapsed = time.perf_counter() - started
            if round_number >= warmup_rounds:
                wall_times[variant].append(elapsed)
                import_times[variant].append(imported)

    for variant in VARIANTS:
        results.add_samples(f"cold.{variant}", wall_times[variant])
        results.add_samples(f"cold.{variant}.import", import_times[variant])


def bench_aws_calls_per_cold_start(cold_python: Path, packages: dict[str, Path], *, stage: BenchStage,
                                   results: Results, quick: bool) -> None:
    starts = 1 if quick else COUNTED_COLD_STARTS

    with stage.recorder.record() as calls:
        for _ in range(starts):
            start_cold(cold_python, packages["keypin"], stage)

    results.add_count("cold.counted_starts", starts)
    results.add_count("cold.ssm_calls", sum(n for op, n in calls.items() if op.startswith("ssm:")) / starts)
    results.add_count("cold.dynamodb_calls", sum(n for op, n in calls.items() if op.startswith("dynamodb:")) / starts)
