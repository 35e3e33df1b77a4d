"""Argon2id hash time against memory cost."""
from __future__ import annotations

from typing import Any

import argon2
import pytest

from bench.report import ARGON2_PARAMETERS, argon2_name
from bench.results import Results

ROUNDS = 12


@pytest.mark.parametrize(("memory_kib", "passes"), ARGON2_PARAMETERS)
def bench_argon2_hash(benchmark: Any, memory_kib: int, passes: int, results: Results) -> None:
    hasher = argon2.PasswordHasher(time_cost=passes, memory_cost=memory_kib, parallelism=1, type=argon2.Type.ID)

    benchmark.pedantic(hasher.hash, args=("correct horse battery staple",), rounds=ROUNDS, warmup_rounds=1)
    results.add_benchmark(argon2_name(memory_kib, passes), benchmark)
