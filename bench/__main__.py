"""`python -m bench`: run the benchmarks and rewrite docs/benchmarks.md (what `make bench` runs)."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="run each benchmark once, with this interpreter for cold starts, to check that they "
                             "work; measures no time")
    parser.add_argument("--report", type=Path, default=PROJECT / "docs" / "benchmarks.md",
                        help="Markdown file to write the report to (default: docs/benchmarks.md)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --, such as -k verify")
    args = parser.parse_args(argv)

    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    if os.environ.get("MAKELEVEL") and argv is None and not sys.argv[1:]:
        command = "make bench (.venv/bin/python -m bench)"

    pytest_args = [
        str(BENCH),
        "-o", "python_files=bench_*.py",
        "-o", "python_functions=bench_*",
        "-p", "no:cacheprovider",
        "--benchmark-sort=name",
        "--benchmark-columns=median,iqr,rounds",
        "--bench-report", str(args.report),
        "--bench-command", command,
        *args.pytest_args,
    ]
    if args.quick:
        pytest_args += ["--bench-quick", "--benchmark-disable"]
    return int(pytest.main(pytest_args))


if __name__ == "__main__":
    sys.exit(main())
