"""Login against Argon2id alone, and refresh, through the handler against moto's server."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bench.conftest import BenchStage, WarmApp
from bench.events import proxy_event
from bench.results import Results
from chalicelib import auth, aws
from chalicelib.passwords import hash_password, verify_password

ROUNDS = 30
REFRESH_ROUNDS = 50
WARMUP_ROUNDS = 2
COUNTED_REQUESTS = 5


def login_event(user: tuple[str, str]) -> dict[str, Any]:
    return proxy_event("POST", "/auth/login", body={"username": user[0], "password": user[1]})


def token_response(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = json.loads(response["body"])
    return body


def record_operations(results: Results, prefix: str, calls: dict[str, int], requests: int) -> None:
    dynamodb = {op.removeprefix("dynamodb:"): n for op, n in calls.items() if op.startswith("dynamodb:")}
    results.add_count(f"{prefix}.round_trips", sum(dynamodb.values()) / requests)
    for operation, count in dynamodb.items():
        results.add_count(f"{prefix}.op.{operation}", count / requests)


def bench_argon2_verify(benchmark: Any, bench_user: tuple[str, str], results: Results) -> None:
    stored = hash_password(bench_user[1])

    benchmark.pedantic(verify_password, args=(stored, bench_user[1]), rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    results.add_benchmark("argon2.verify", benchmark)


def bench_login(benchmark: Any, warm_app: WarmApp, bench_user: tuple[str, str], results: Results,
                monkeypatch: pytest.MonkeyPatch) -> None:
    """Time logins, and split each one into Argon2id, DynamoDB calls and the rest."""
    event = login_event(bench_user)
    token_response(warm_app.handle(event))
    in_argon2: list[float] = []
    in_dynamodb: list[float] = []

    def timed_verify_password(stored_hash: str, password: str) -> bool:
        started = time.perf_counter()
        try:
            return verify_password(stored_hash, password)
        finally:
            in_argon2.append(time.perf_counter() - started)

    def record_dynamodb_time(_: dict[str, Any]) -> None:
        in_dynamodb.append(warm_app.dynamodb_timer.take())

    monkeypatch.setattr(auth, "verify_password", timed_verify_password)
    warm_app.dynamodb_timer.take()
    benchmark.pedantic(warm_app.handle, args=(event,), teardown=record_dynamodb_time,
                       rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    results.add_benchmark("login", benchmark)

    if benchmark.stats is None:
        return
    # pytest-benchmark runs the warm-up rounds first, and calls the teardown after them too.
    logins = benchmark.stats.stats.data
    measured = slice(WARMUP_ROUNDS, WARMUP_ROUNDS + len(logins))
    parts = list(zip(logins, in_argon2[measured], in_dynamodb[measured], strict=True))
    results.add_samples("login.argon2", [argon2_time for _, argon2_time, _ in parts])
    results.add_samples("login.dynamodb", [dynamodb_time for _, _, dynamodb_time in parts])
    results.add_samples("login.rest", [login - argon2_time - dynamodb_time
                                       for login, argon2_time, dynamodb_time in parts])


def bench_login_round_trips(warm_app: WarmApp, bench_user: tuple[str, str], stage: BenchStage,
                            results: Results) -> None:
    with stage.recorder.record() as calls:
        for _ in range(COUNTED_REQUESTS):
            token_response(warm_app.handle(login_event(bench_user)))

    record_operations(results, "login", calls, COUNTED_REQUESTS)


def bench_refresh(benchmark: Any, warm_app: WarmApp, bench_user: tuple[str, str], results: Results) -> None:
    current = [token_response(warm_app.handle(login_event(bench_user)))["refresh_token"]]

    def refresh() -> None:
        body = {"refresh_token": current[0]}
        current[0] = token_response(warm_app.handle(proxy_event("POST", "/auth/refresh", body=body)))["refresh_token"]

    benchmark.pedantic(refresh, rounds=REFRESH_ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    results.add_benchmark("refresh", benchmark)


def bench_refresh_round_trips(warm_app: WarmApp, bench_user: tuple[str, str], stage: BenchStage,
                              results: Results) -> None:
    refresh_token = token_response(warm_app.handle(login_event(bench_user)))["refresh_token"]

    with stage.recorder.record() as calls:
        for _ in range(COUNTED_REQUESTS):
            event = proxy_event("POST", "/auth/refresh", body={"refresh_token": refresh_token})
            refresh_token = token_response(warm_app.handle(event))["refresh_token"]

    record_operations(results, "refresh", calls, COUNTED_REQUESTS)


def bench_dynamodb_get_item(benchmark: Any, stage: BenchStage, bench_user: tuple[str, str], results: Results) -> None:
    client = aws.dynamodb_client()
    table = stage.variables["KEYPIN_USERS_TABLE"]

    benchmark.pedantic(client.get_item, kwargs={"TableName": table, "Key": {"username_key": {"S": bench_user[0]}}},
                       rounds=200, warmup_rounds=10)
    results.add_benchmark("dynamodb.get_item", benchmark)
