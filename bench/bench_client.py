"""keypin_client with 20 concurrent callers on an expired access token."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any

import httpx
import jwt
import pytest

from bench.conftest import BenchStage, WarmApp
from bench.results import Results
from chalicelib.tokens import Claims
from keypin_client import TokenPair, login
from tests.support import ChaliceLocal

CALLERS = 20
ROUNDS = 8
EXPIRED_SECONDS_AGO = 120  # beyond the server's 30 s leeway, so the server would reject it too
# chalice local logs each request line before it sends the response (http.server's
# send_response), so a count taken after the calls return is final.
REFRESH_LINE = '"POST /auth/refresh '


@pytest.fixture(scope="module")
def keypin_local(stage: BenchStage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaliceLocal]:
    """`chalice local` on a free loopback port, serving the benchmark stage."""
    server = ChaliceLocal(stage.child_env(), tmp_path_factory.mktemp("client") / "chalice-local.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def expired_access_token(warm_app: WarmApp, access_token: str) -> str:
    """Sign, with the stage's key, a copy of `access_token` that expired a while ago."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    now = int(time.time())
    expired = Claims(sub=claims["sub"], username=claims["username"], sid=claims["sid"], jti=claims["jti"],
                     iat=now - EXPIRED_SECONDS_AGO - 900, exp=now - EXPIRED_SECONDS_AGO, token_use="access")
    return str(warm_app.codec.encode(expired))


def bench_client_concurrent_refresh(benchmark: Any, keypin_local: ChaliceLocal, *, warm_app: WarmApp,
                                    bench_user: tuple[str, str], results: Results, quick: bool) -> None:
    refreshes: list[int] = []

    with closing(login(keypin_local.url, *bench_user, timeout=30)) as client:
        storage = client.auth.storage

        def expire_access_token() -> tuple[tuple[()], dict[str, Any]]:
            tokens = storage.load()
            assert tokens is not None
            storage.save(TokenPair(expired_access_token(warm_app, tokens.access_token), tokens.refresh_token))
            return (), {}

        def call_me_together() -> None:
            logged_before = keypin_local.log().count(REFRESH_LINE)
            start = threading.Barrier(CALLERS, timeout=30)

            def call_me(_: int) -> httpx.Response:
                start.wait()
                return client.get("/me")

            with ThreadPoolExecutor(max_workers=CALLERS) as pool:
                statuses = [response.status_code for response in pool.map(call_me, range(CALLERS))]
            assert statuses == [200] * CALLERS, statuses
            refreshes.append(keypin_local.log().count(REFRESH_LINE) - logged_before)

        benchmark.pedantic(call_me_together, setup=expire_access_token, rounds=1 if quick else ROUNDS,
                           warmup_rounds=0 if quick else 1)

    results.add_benchmark("client.concurrent", benchmark)
    results.add_count("client.rounds", len(refreshes))
    results.add_count("client.max_refreshes", max(refreshes))
    results.add_count("client.min_refreshes", min(refreshes))
