"""The numbers one benchmark run collects for the report."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Timing:
    """The median of one measurement, in seconds, with its spread and sample count."""

    median: float
    iqr: float
    rounds: int


@dataclass
class Results:
    """Timings and counts by name. A timing is None when the run only checked that the code works."""

    timings: dict[str, Timing | None] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)

    def add_benchmark(self, name: str, benchmark: Any) -> None:
        """Store the statistics of a pytest-benchmark fixture that has run."""
        if benchmark.stats is None:
            # --benchmark-disable (the quick run) calls the function once and measures nothing.
            self.timings[name] = None
            return
        stats = benchmark.stats.stats
        self.timings[name] = Timing(median=stats.median, iqr=stats.iqr, rounds=stats.rounds)

    def add_samples(self, name: str, samples: Sequence[float]) -> None:
        """Store the median of samples, in seconds, that a benchmark collected itself."""
        if len(samples) < 2:
            self.timings[name] = None
            return
        quartiles = statistics.quantiles(samples, n=4)
        self.timings[name] = Timing(statistics.median(samples), quartiles[2] - quartiles[0], len(samples))

    def add_count(self, name: str, value: float) -> None:
        self.counts[name] = value

    def median(self, name: str) -> float | None:
        timing = self.timings.get(name)
        return timing.median if timing is not None else None
