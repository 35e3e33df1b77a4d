"""`python -m bench --quick` runs every benchmark once and writes a complete report.

The benchmarks themselves run only under `make bench`; this test checks that each script
imports and works, and measures nothing.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PROJECT

pytestmark = pytest.mark.slow

BENCH_SCRIPTS = sorted(path.stem for path in (PROJECT / "bench").glob("bench_*.py"))
SECTIONS = ("## Targets", "## 1. Cold start", "## 2. Verify path", "## 3. A protected request",
            "## 4. Login and refresh", "### Argon2id parameters", "## 5. Python client", "## Missed targets")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    report = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--report", str(report), "--", "-rA"],
        cwd=PROJECT, capture_output=True, text=True, timeout=180,
    )
    return completed, report


def test_bench_quick_run_passes(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    completed, _ = quick_run
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]


@pytest.mark.parametrize("script", BENCH_SCRIPTS)
def test_bench_script_ran(quick_run: tuple[subprocess.CompletedProcess[str], Path], script: str) -> None:
    completed, _ = quick_run
    assert f"PASSED bench/{script}.py::" in completed.stdout


def test_bench_report_has_every_section(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, report = quick_run
    text = report.read_text()
    for heading in SECTIONS:
        assert heading in text


def test_bench_report_counts_calls(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, report = quick_run
    text = report.read_text()
    assert "| 1 | SSM calls per cold start = 1 | 1 | met |" in text
    assert "| 4 | refresh ≤ 2 DynamoDB round trips | 2 | met |" in text
