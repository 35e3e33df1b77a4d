"""Unit tests of keypin_client: the refresh flow, driven step by step and through httpx.MockTransport.

`FakeKeypin` implements only the server's HTTP contract (token responses, 401 challenges,
rotation), so each test can count exactly which requests the client sent.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, closing
from typing import Any

import httpx
import jwt
import pytest

from keypin_client import (
    KeypinAuth,
    LoginFailed,
    MemoryTokenStorage,
    RefreshFailed,
    SessionExpired,
    TokenPair,
    async_login,
    login,
)
from keypin_client.auth import endpoint_url
from keypin_client.flow import is_invalid_token
from keypin_client.tokens import refresh_due

BASE_URL = "http://keypin.test"
REFRESH_URL = f"{BASE_URL}/auth/refresh"
INVALID_TOKEN = 'Bearer realm="keypin", error="invalid_token", error_description="The token has expired"'
_serial = itertools.count()


def make_token(token_use: str, lifetime: float = 900, age: float = 0) -> str:
    """Return a JWT issued `age` seconds ago; the client never verifies it, so any key will do."""
    issued_at = time.time() - age
    claims = {"iat": issued_at, "exp": issued_at + lifetime, "jti": str(next(_serial)), "token_use": token_use}
    return jwt.encode(claims, "unit-test-key-" * 5, algorithm="HS512")


def make_pair(lifetime: float = 900, age: float = 0) -> TokenPair:
    return TokenPair(make_token("access", lifetime, age), make_token("refresh", 3600))


def expired_pair() -> TokenPair:
    return make_pair(lifetime=60, age=120)


class FakeKeypin:
    """keypin's HTTP contract in memory: /auth/refresh rotates, every other path needs a live access token."""

    def __init__(self, tokens: TokenPair, refresh_delay: float = 0.0) -> None:
        self.access = {tokens.access_token}
        self.refresh = {tokens.refresh_token}
        self.refresh_delay = refresh_delay
        self.refresh_answer: httpx.Response | None = None
        self.reject_all_access = False
        self.requests: list[httpx.Request] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.counts[request.url.path] += 1
        if request.url.path == "/auth/refresh":
            time.sleep(self.refresh_delay)
            return self._refresh(request)
        return self._protected(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.counts[request.url.path] += 1
        if request.url.path == "/auth/refresh":
            await asyncio.sleep(self.refresh_delay)
            return self._refresh(request)
        return self._protected(request)

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        if self.refresh_answer is not None:
            return self.refresh_answer

        presented = json.loads(request.content)["refresh_token"]
        with self._lock:
            if presented not in self.refresh:
                return httpx.Response(401, json={"error": "invalid_grant", "error_description": "revoked"})
            self.refresh.discard(presented)
            fresh = make_pair()
            self.access.add(fresh.access_token)
            self.refresh.add(fresh.refresh_token)
        return httpx.Response(200, json={"access_token": fresh.access_token, "token_type": "Bearer",
                                         "expires_in": 900, "refresh_token": fresh.refresh_token})

    def _protected(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_all_access or token not in self.access or refresh_due(token, time.time(), 0):
            return httpx.Response(401, headers={"WWW-Authenticate": INVALID_TOKEN},
                                  json={"error": "invalid_token", "error_description": "The token has expired"})
        return httpx.Response(200, json={"path": request.url.path, "content": request.content.decode()})

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


def sync_client(server: FakeKeypin, auth: KeypinAuth, **options: Any) -> httpx.Client:
    return httpx.Client(base_url=BASE_URL, auth=auth, transport=httpx.MockTransport(server.handle), **options)


@pytest.fixture
def fresh() -> TokenPair:
    return make_pair()


def token_response(tokens: TokenPair) -> httpx.Response:
    return httpx.Response(200, json={"access_token": tokens.access_token, "refresh_token": tokens.refresh_token})


def test_auth_flow_steps_refresh_once_retry_once(fresh: TokenPair) -> None:
    # GIVEN a flow driven by hand, whose server rejects every access token
    auth = KeypinAuth(BASE_URL, tokens=fresh)
    flow = auth.sync_auth_flow(httpx.Request("GET", f"{BASE_URL}/me"))
    rejected = httpx.Response(401, headers={"WWW-Authenticate": INVALID_TOKEN})
    successor = make_pair()

    # WHEN the first request is rejected, THEN the next request is one refresh with the refresh token
    first = next(flow)
    assert first.headers["Authorization"] == f"Bearer {fresh.access_token}"
    refresh = flow.send(rejected)
    assert refresh.method == "POST"
    assert refresh.url == REFRESH_URL
    assert json.loads(refresh.content) == {"refresh_token": fresh.refresh_token}
    assert "Authorization" not in refresh.headers

    # WHEN the refresh succeeds, THEN the request is retried once with the new token
    retry = flow.send(token_response(successor))
    assert retry.url == f"{BASE_URL}/me"
    assert retry.headers["Authorization"] == f"Bearer {successor.access_token}"

    # WHEN the retry is rejected too, THEN the flow stops and the client returns that 401
    with pytest.raises(StopIteration):
        flow.send(rejected)
    assert auth.storage.load() == successor


def test_auth_flow_uses_pair_refreshed_while_request_was_sent(fresh: TokenPair) -> None:
    # GIVEN a request sent with one pair, and another caller that stores a new pair meanwhile
    auth = KeypinAuth(BASE_URL, tokens=fresh)
    flow = auth.sync_auth_flow(httpx.Request("GET", f"{BASE_URL}/me"))
    next(flow)
    successor = make_pair()
    auth.storage.save(successor)

    # WHEN the request is rejected, THEN it is retried with the stored pair and no refresh is sent
    retry = flow.send(httpx.Response(401, headers={"WWW-Authenticate": INVALID_TOKEN}))
    assert retry.url == f"{BASE_URL}/me"
    assert retry.headers["Authorization"] == f"Bearer {successor.access_token}"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))


def test_auth_attaches_bearer_token(fresh: TokenPair) -> None:
    server = FakeKeypin(fresh)
    with sync_client(server, KeypinAuth(BASE_URL, tokens=fresh)) as client:
        response = client.get("/me")

    assert response.status_code == 200
    assert server.requests[0].headers["Authorization"] == f"Bearer {fresh.access_token}"
    assert server.paths() == ["/me"]


def test_auth_rejected_retry_stops_after_three_requests(fresh: TokenPair) -> None:
    server = FakeKeypin(fresh)
    server.reject_all_access = True
    with sync_client(server, KeypinAuth(BASE_URL, tokens=fresh)) as client:
        response = client.get("/me")

    assert response.status_code == 401
    assert server.paths() == ["/me", "/auth/refresh", "/me"]


def test_auth_refreshes_expired_token_before_sending() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    auth = KeypinAuth(BASE_URL, tokens=stale)
    with sync_client(server, auth) as client:
        response = client.get("/me")

    assert response.status_code == 200
    assert server.paths() == ["/auth/refresh", "/me"]
    assert server.requests[1].headers["Authorization"] != f"Bearer {stale.access_token}"
    assert auth.storage.load() != stale


def test_auth_does_not_refresh_twice_for_one_request() -> None:
    # A token refreshed before sending and still rejected is not refreshed again.
    stale = expired_pair()
    server = FakeKeypin(stale)
    server.reject_all_access = True
    with sync_client(server, KeypinAuth(BASE_URL, tokens=stale)) as client:
        response = client.get("/me")

    assert response.status_code == 401
    assert server.paths() == ["/auth/refresh", "/me"]


@pytest.mark.parametrize(
    ("lifetime", "age", "margin", "due"),
    [
        (40, 29, None, False),  # 11 s left, default margin a quarter of 40 s
        (40, 31, None, True),  # 9 s left
        (400, 365, None, False),  # 35 s left, default margin capped at 30 s
        (400, 375, None, True),  # 25 s left
        (400, 375, 10, False),  # 25 s left, margin set to 10 s
        (400, 395, 10, True),  # 5 s left
        (2, 1.6, None, True),  # 0.4 s left, default margin 0.5 s
        (2, 3, 0, True),  # expired, no margin
    ],
)
def test_refresh_due_margin(lifetime: float, age: float, margin: float | None, due: bool) -> None:
    assert refresh_due(make_token("access", lifetime, age), time.time(), margin) is due


def test_refresh_due_unreadable_token_waits_for_401() -> None:
    assert refresh_due("not-a-jwt", time.time(), None) is False


def test_auth_configured_margin_refreshes_early() -> None:
    tokens = make_pair(lifetime=400, age=375)
    server = FakeKeypin(tokens)
    with sync_client(server, KeypinAuth(BASE_URL, tokens=tokens, refresh_margin=60)) as client:
        client.get("/me")

    assert server.paths() == ["/auth/refresh", "/me"]


def test_auth_rejects_negative_margin() -> None:
    with pytest.raises(ValueError, match="refresh_margin"):
        KeypinAuth(BASE_URL, refresh_margin=-1)


@pytest.mark.parametrize(
    ("challenge", "expected"),
    [
        (INVALID_TOKEN, True),
        ("Bearer error=invalid_token", True),
        ('bearer realm="keypin",error="invalid_token"', True),
        ('Bearer realm="keypin"', False),
        ('Bearer realm="keypin", error="insufficient_scope"', False),
        ('Bearer realm="keypin", error_description="not error=invalid_token"', False),
        ('Basic realm="keypin", error="invalid_token"', False),
    ],
)
def test_is_invalid_token_reads_bearer_challenge(challenge: str, expected: bool) -> None:
    assert is_invalid_token(httpx.Response(401, headers={"WWW-Authenticate": challenge})) is expected


def test_is_invalid_token_needs_401() -> None:
    assert is_invalid_token(httpx.Response(403, headers={"WWW-Authenticate": INVALID_TOKEN})) is False


def test_auth_401_without_error_code_is_returned(fresh: TokenPair) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="keypin"'})

    paths: list[str] = []
    transport = httpx.MockTransport(handler)
    with httpx.Client(base_url=BASE_URL, auth=KeypinAuth(BASE_URL, tokens=fresh), transport=transport) as client:
        response = client.get("/me")

    assert response.status_code == 401
    assert paths == ["/me"]


def test_auth_retry_resends_same_body(fresh: TokenPair) -> None:
    server = FakeKeypin(fresh)
    server.access.clear()  # the access token was revoked, the refresh token was not
    with sync_client(server, KeypinAuth(BASE_URL, tokens=fresh)) as client:
        response = client.post("/notes", json={"text": "hello"})

    assert response.status_code == 200
    assert server.paths() == ["/notes", "/auth/refresh", "/notes"]
    assert json.loads(response.json()["content"]) == {"text": "hello"}


class StreamingTransport(httpx.BaseTransport):
    """Consume the request body as a network transport does, without `request.read()`.

    httpx.MockTransport reads the body into memory first, which makes every stream replayable.
    """

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        self.bodies.append(b"".join(request.stream))
        return httpx.Response(401, headers={"WWW-Authenticate": INVALID_TOKEN})


def test_auth_streamed_body_is_not_retried(fresh: TokenPair) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    transport = StreamingTransport()
    auth = KeypinAuth(BASE_URL, tokens=fresh)
    with httpx.Client(base_url=BASE_URL, auth=auth, transport=transport) as client:
        response = client.post("/upload", content=chunks())

    assert response.status_code == 401
    assert transport.bodies == [b"part one, part two"]
    assert auth.storage.load() == fresh


def test_auth_read_stream_body_is_retried(fresh: TokenPair) -> None:
    # A streamed body that the caller read into memory before sending can be replayed.
    server = FakeKeypin(fresh)
    server.access.clear()
    with sync_client(server, KeypinAuth(BASE_URL, tokens=fresh)) as client:
        request = client.build_request("POST", "/upload", content=iter([b"a", b"b"]))
        request.read()
        response = client.send(request)

    assert response.status_code == 200
    assert server.paths() == ["/upload", "/auth/refresh", "/upload"]


def test_auth_rejected_refresh_ends_session() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    server.refresh.clear()  # revoked by a logout elsewhere
    auth = KeypinAuth(BASE_URL, tokens=stale)
    with sync_client(server, auth) as client:
        with pytest.raises(SessionExpired, match="log in again"):
            client.get("/me")
        assert server.paths() == ["/auth/refresh"]
        assert auth.storage.load() is None

        # Later calls raise at once instead of sending anything.
        with pytest.raises(SessionExpired, match="log in first"):
            client.get("/me")
    assert server.paths() == ["/auth/refresh"]


def test_auth_rejected_refresh_after_401_is_not_retried(fresh: TokenPair) -> None:
    server = FakeKeypin(fresh)
    server.access.clear()
    server.refresh.clear()
    with sync_client(server, KeypinAuth(BASE_URL, tokens=fresh)) as client, pytest.raises(SessionExpired):
        client.get("/me")

    assert server.paths() == ["/me", "/auth/refresh"]


def test_auth_refresh_network_error_keeps_tokens() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    network_down = True

    def handler(request: httpx.Request) -> httpx.Response:
        if network_down:
            raise httpx.ConnectError("connection refused", request=request)
        return server.handle(request)

    auth = KeypinAuth(BASE_URL, tokens=stale)
    with httpx.Client(base_url=BASE_URL, auth=auth, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("/me")
        assert auth.storage.load() == stale

        # The caller may try again once the network is back; the lock was released.
        network_down = False
        response = client.get("/me")
    assert response.status_code == 200
    assert server.paths() == ["/auth/refresh", "/me"]


def test_auth_refresh_unavailable_raises_refresh_failed() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    server.refresh_answer = httpx.Response(503, headers={"Retry-After": "2"},
                                           json={"error": "service_unavailable", "error_description": "retry later"})
    auth = KeypinAuth(BASE_URL, tokens=stale)
    with sync_client(server, auth) as client, pytest.raises(RefreshFailed) as raised:
        client.get("/me")

    assert raised.value.status_code == 503
    assert raised.value.error == "service_unavailable"
    assert raised.value.retry_after == "2"
    assert auth.storage.load() == stale
    assert server.paths() == ["/auth/refresh"]


def test_auth_refresh_malformed_answer_raises_refresh_failed() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    server.refresh_answer = httpx.Response(200, json={"access_token": "only half"})
    auth = KeypinAuth(BASE_URL, tokens=stale)
    with sync_client(server, auth) as client, pytest.raises(RefreshFailed, match="not a token response"):
        client.get("/me")

    assert auth.storage.load() == stale


def test_auth_refresh_goes_through_client_hooks_and_timeout() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    seen: list[tuple[str, object]] = []

    def record(request: httpx.Request) -> None:
        seen.append((request.url.path, request.extensions.get("timeout")))

    # Event hooks run for each request the client sends, including those the auth flow yields.
    with sync_client(server, KeypinAuth(BASE_URL, tokens=stale), timeout=7.0,
                     event_hooks={"request": [record]}) as client:
        client.get("/me")

    timeout = httpx.Timeout(7.0).as_dict()
    assert seen == [("/auth/refresh", timeout), ("/me", timeout)]


def test_auth_sync_single_flight_20_threads() -> None:
    # GIVEN an expired token and a refresh that takes long enough for every thread to find it stale
    stale = expired_pair()
    server = FakeKeypin(stale, refresh_delay=0.2)
    start = threading.Barrier(20, timeout=10)

    # WHEN 20 threads call at once
    with sync_client(server, KeypinAuth(BASE_URL, tokens=stale)) as client:
        def call(_: int) -> int:
            start.wait()
            return client.get("/me").status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(call, range(20)))

    # THEN one refresh was sent and every call succeeded
    assert server.counts["/auth/refresh"] == 1
    assert server.counts["/me"] == 20
    assert statuses == [200] * 20


def test_auth_sync_waiters_share_session_end() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale, refresh_delay=0.2)
    server.refresh.clear()
    start = threading.Barrier(5, timeout=10)

    with sync_client(server, KeypinAuth(BASE_URL, tokens=stale)) as client:
        def call() -> str:
            start.wait()
            try:
                client.get("/me")
            except SessionExpired:
                return "expired"
            return "returned"

        with ThreadPoolExecutor(max_workers=5) as pool:
            outcomes = [pool.submit(call) for _ in range(5)]
            results = [outcome.result(timeout=30) for outcome in outcomes]

    assert results == ["expired"] * 5
    assert server.paths() == ["/auth/refresh"]


def test_auth_async_single_flight_20_tasks() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale, refresh_delay=0.2)

    async def main() -> list[int]:
        transport = httpx.MockTransport(server.handle_async)
        auth = KeypinAuth(BASE_URL, tokens=stale)
        async with httpx.AsyncClient(base_url=BASE_URL, auth=auth, transport=transport) as client:
            responses = await asyncio.gather(*(client.get("/me") for _ in range(20)))
        return [response.status_code for response in responses]

    statuses = asyncio.run(main())

    assert server.counts["/auth/refresh"] == 1
    assert server.counts["/me"] == 20
    assert statuses == [200] * 20


def test_auth_async_rejected_refresh_ends_session() -> None:
    stale = expired_pair()
    server = FakeKeypin(stale)
    server.refresh.clear()
    auth = KeypinAuth(BASE_URL, tokens=stale)

    async def main() -> None:
        transport = httpx.MockTransport(server.handle_async)
        async with httpx.AsyncClient(base_url=BASE_URL, auth=auth, transport=transport) as client:
            await client.get("/me")

    with pytest.raises(SessionExpired):
        asyncio.run(main())
    assert server.paths() == ["/auth/refresh"]
    assert auth.storage.load() is None


def test_auth_uses_given_storage(fresh: TokenPair) -> None:
    storage = MemoryTokenStorage(fresh)
    auth = KeypinAuth(BASE_URL, storage=storage)

    assert auth.storage is storage
    assert storage.load() == fresh


def test_token_pair_repr_hides_tokens(fresh: TokenPair) -> None:
    assert fresh.access_token not in repr(fresh)
    assert fresh.refresh_token not in repr(fresh)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://keypin.test", "http://keypin.test/auth/refresh"),
        ("http://keypin.test/", "http://keypin.test/auth/refresh"),
        ("https://example.test/api", "https://example.test/api/auth/refresh"),
        ("https://example.test/api/", "https://example.test/api/auth/refresh"),
    ],
)
def test_endpoint_url_keeps_path_prefix(base_url: str, expected: str) -> None:
    assert str(endpoint_url(base_url, "/auth/refresh")) == expected


def login_handler(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if request.url.path != "/auth/login" or "Authorization" in request.headers:
        return httpx.Response(400, json={"error": "invalid_request"})
    if body != {"username": "alice", "password": "correct horse"}:
        return httpx.Response(401, json={"error": "invalid_grant", "error_description": "wrong password"})
    return token_response(make_pair())


def test_login_returns_client_with_tokens() -> None:
    # The login request opened the client, so it is closed with close(), not a with block.
    with closing(login(BASE_URL, "alice", "correct horse", transport=httpx.MockTransport(login_handler))) as client:
        assert isinstance(client.auth, KeypinAuth)
        assert client.auth.storage.load() is not None


def test_login_wrong_password_raises_login_failed() -> None:
    with pytest.raises(LoginFailed) as raised:
        login(BASE_URL, "alice", "wrong", transport=httpx.MockTransport(login_handler))

    assert raised.value.status_code == 401
    assert raised.value.error == "invalid_grant"
    assert "wrong password" in str(raised.value)


def test_async_login_returns_client_with_tokens() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return login_handler(request)

    async def main() -> TokenPair | None:
        client = await async_login(BASE_URL, "alice", "correct horse", transport=httpx.MockTransport(handler))
        async with aclosing(client):
            assert isinstance(client.auth, KeypinAuth)
            return client.auth.storage.load()

    assert asyncio.run(main()) is not None
