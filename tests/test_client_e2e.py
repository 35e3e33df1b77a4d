"""keypin_client against `chalice local` and moto's server, with two-second access tokens.

The refresh requests are counted in the access log of `chalice local`. Its handler (Chalice
1.34) calls `send_response` of `http.server`, which logs the request line before the response
goes out, so a count taken after the calls return is final.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, closing
from dataclasses import dataclass

import httpx
import jwt
import pytest

from keypin_client import KeypinAuth, SessionExpired, async_login, login
from tests.support import (
    ChaliceLocal,
    MotoServer,
    http,
    start_local_server,
)

pytestmark = pytest.mark.slow

USERNAME = "client-e2e"
PASSWORD = "correct horse battery"
CALLERS = 20
REFRESH_LINE = '"POST /auth/refresh '


@dataclass(frozen=True)
class LocalKeypin:
    server: ChaliceLocal

    @property
    def url(self) -> str:
        return self.server.url

    def refresh_count(self) -> int:
        """Count the /auth/refresh requests in the access log of `chalice local`."""
        return self.server.log().count(REFRESH_LINE)


@pytest.fixture(scope="module")
def keypin_local(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKeypin]:
    """A bootstrapped stage served by `chalice local` with 2 s access tokens and no leeway."""
    server = start_local_server(moto_server.endpoint, tmp_path_factory.mktemp("client-e2e"),
                                KEYPIN_ACCESS_TTL_SECONDS="2", KEYPIN_LEEWAY_SECONDS="0")
    try:
        status, _, _ = http("POST", f"{server.url}/auth/register", {"username": USERNAME, "password": PASSWORD})
        assert status == 201, server.log()
        yield LocalKeypin(server)
    finally:
        server.stop()


def seconds_until_expired(auth: KeypinAuth) -> float:
    """Return how long to wait until the stored access token has expired, plus a 0.2 s margin."""
    tokens = auth.storage.load()
    assert tokens is not None
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    remaining = float(claims["exp"]) - time.time() + 0.2
    assert remaining <= 3, "the access token lives longer than the 2 s the fixture configured"
    return max(0.0, remaining)


def slow_calls_hint(elapsed: float) -> str:
    # The server truncates `iat` to whole seconds, and the calls start 0.2 s after one, so the
    # refreshed token is due again 1.3 s later. Calls that take longer can refresh twice.
    return f"the {CALLERS} calls took {elapsed:.2f} s; over about 1.3 s a second refresh is expected"


def test_client_threads_share_one_refresh(keypin_local: LocalKeypin) -> None:
    # GIVEN a logged-in client whose access token has expired
    with closing(login(keypin_local.url, USERNAME, PASSWORD, timeout=30)) as client:
        assert isinstance(client.auth, KeypinAuth)
        time.sleep(seconds_until_expired(client.auth))
        refreshes_before = keypin_local.refresh_count()
        start = threading.Barrier(CALLERS, timeout=30)

        def call_me(_: int) -> httpx.Response:
            start.wait()
            return client.get("/me")

        # WHEN 20 threads call /me at once
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CALLERS) as pool:
            responses = list(pool.map(call_me, range(CALLERS)))
        elapsed = time.monotonic() - started

    # THEN the server received one refresh and every call returned 200
    assert keypin_local.refresh_count() - refreshes_before == 1, slow_calls_hint(elapsed)
    assert [response.status_code for response in responses] == [200] * CALLERS
    assert {response.json()["username"] for response in responses} == {USERNAME}


def test_client_tasks_share_one_refresh(keypin_local: LocalKeypin) -> None:
    async def call_after_expiry() -> tuple[int, list[httpx.Response], float]:
        client = await async_login(keypin_local.url, USERNAME, PASSWORD, timeout=30)
        async with aclosing(client):
            assert isinstance(client.auth, KeypinAuth)
            await asyncio.sleep(seconds_until_expired(client.auth))
            refreshes_before = keypin_local.refresh_count()
            started = time.monotonic()
            responses = await asyncio.gather(*(client.get("/me") for _ in range(CALLERS)))
        return refreshes_before, responses, time.monotonic() - started

    refreshes_before, responses, elapsed = asyncio.run(call_after_expiry())

    assert keypin_local.refresh_count() - refreshes_before == 1, slow_calls_hint(elapsed)
    assert [response.status_code for response in responses] == [200] * CALLERS
    assert {response.json()["username"] for response in responses} == {USERNAME}


def test_client_logout_elsewhere_ends_session(keypin_local: LocalKeypin) -> None:
    with closing(login(keypin_local.url, USERNAME, PASSWORD, timeout=30)) as client:
        assert isinstance(client.auth, KeypinAuth)
        tokens = client.auth.storage.load()
        assert tokens is not None

        # GIVEN another program logged this session out with its refresh token
        status, _, _ = http("POST", f"{keypin_local.url}/auth/logout", {"refresh_token": tokens.refresh_token})
        assert status == 204

        # WHEN the access token has expired and the client calls again
        time.sleep(seconds_until_expired(client.auth))
        refreshes_before = keypin_local.refresh_count()
        with pytest.raises(SessionExpired):
            client.get("/me")

        # THEN one refresh was sent, the tokens are gone, and later calls send nothing
        assert keypin_local.refresh_count() - refreshes_before == 1
        assert client.auth.storage.load() is None
        with pytest.raises(SessionExpired):
            client.get("/me")
        assert keypin_local.refresh_count() - refreshes_before == 1
