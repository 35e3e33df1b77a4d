"""The Lambda handler for /me against /health, and the SSM calls of warm requests."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from bench.conftest import BenchStage, WarmApp
from bench.events import proxy_event
from bench.results import Results

FIRST_SEEN_ROUNDS = 3000
WARMUP_ROUNDS = 100
WARM_REQUESTS = 1000


def me_event(token: str) -> dict[str, Any]:
    return proxy_event("GET", "/me", headers={"Authorization": f"Bearer {token}"})


def assert_ok(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200, response


def bench_handler_health(benchmark: Any, warm_app: WarmApp, results: Results) -> None:
    event = proxy_event("GET", "/health")
    assert_ok(warm_app.handle(event))

    benchmark(warm_app.handle, event)
    results.add_benchmark("handler.health", benchmark)


def bench_handler_me_repeated_token(benchmark: Any, warm_app: WarmApp, results: Results) -> None:
    event = me_event(warm_app.access_token())
    assert_ok(warm_app.handle(event))

    benchmark(warm_app.handle, event)
    results.add_benchmark("handler.me.repeat", benchmark)


def bench_handler_me_first_seen_token(benchmark: Any, warm_app: WarmApp, results: Results, quick: bool) -> None:
    count = 2 if quick else FIRST_SEEN_ROUNDS + WARMUP_ROUNDS
    events: Iterator[dict[str, Any]] = iter([me_event(warm_app.access_token()) for _ in range(count)])
    assert_ok(warm_app.handle(me_event(warm_app.access_token())))

    benchmark.pedantic(warm_app.handle, setup=lambda: ((next(events),), {}),
                       rounds=FIRST_SEEN_ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    results.add_benchmark("handler.me.first", benchmark)


def bench_ssm_calls_of_warm_requests(warm_app: WarmApp, stage: BenchStage, results: Results, quick: bool) -> None:
    requests = 20 if quick else WARM_REQUESTS
    events = [me_event(warm_app.access_token()) for _ in range(requests)]

    with stage.recorder.record() as calls:
        started = time.perf_counter()
        for event in events:
            assert_ok(warm_app.handle(event))
        elapsed = time.perf_counter() - started

    ssm_calls = sum(n for op, n in calls.items() if op.startswith("ssm:"))
    results.add_count("warm.ssm_calls_per_1000", ssm_calls * 1000 / requests)
    results.add_count("warm.seconds", elapsed)
