"""End to end over HTTP: `chalice local` against moto's server, as `make run` serves it."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import (
    ChaliceLocal,
    MotoServer,
    http,
    start_local_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaliceLocal]:
    local = start_local_server(moto_server.endpoint, tmp_path_factory.mktemp("chalice-local"))
    yield local
    local.stop()


def login(server: ChaliceLocal, username: str) -> dict[str, str]:
    credentials = {"username": username, "password": "correct horse"}
    assert http("POST", f"{server.url}/auth/register", credentials)[0] == 201
    status, tokens, _ = http("POST", f"{server.url}/auth/login", credentials)
    assert status == 200
    return tokens  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_walkthrough_register_login_me_refresh_logout(server: ChaliceLocal) -> None:
    tokens = login(server, "walker")

    status, me, _ = http("GET", f"{server.url}/me", headers=bearer(tokens["access_token"]))
    assert (status, me["username"]) == (200, "walker")

    status, refreshed, headers = http("POST", f"{server.url}/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 200
    assert headers["Cache-Control"] == "no-store"

    status, _, _ = http("POST", f"{server.url}/auth/logout", {"refresh_token": refreshed["refresh_token"]})
    assert status == 204

    status, error, _ = http("POST", f"{server.url}/auth/refresh", {"refresh_token": refreshed["refresh_token"]})
    assert (status, error["error"]) == (401, "invalid_grant")


def test_bad_body_over_http_is_json_400(server: ChaliceLocal) -> None:
    status, body, _ = http("POST", f"{server.url}/auth/login", ["not", "an", "object"])

    assert status == 400
    assert body["error"] == "invalid_request"


def test_concurrent_refreshes_share_one_successor(server: ChaliceLocal) -> None:
    # GIVEN one refresh token, WHEN 20 threads refresh with it at once over HTTP
    tokens = login(server, "racer")
    body = {"refresh_token": tokens["refresh_token"]}
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: http("POST", f"{server.url}/auth/refresh", body), range(20)))

    # THEN every response is 200 with the same successor, and the family is still live
    assert [status for status, _, _ in answers] == [200] * 20
    successors = {answer["refresh_token"] for _, answer, _ in answers}
    assert len(successors) == 1
    status, _, _ = http("POST", f"{server.url}/auth/refresh", {"refresh_token": successors.pop()})
    assert status == 200


def test_access_token_survives_restart(server: ChaliceLocal) -> None:
    tokens = login(server, "restarter")

    server.stop()
    server.start()

    status, me, _ = http("GET", f"{server.url}/me", headers=bearer(tokens["access_token"]))
    assert (status, me["username"]) == (200, "restarter")


def test_keys_load_before_server_listens(server: ChaliceLocal) -> None:
    log = server.log()

    assert "Loaded signing keys" in log
    assert log.rindex("Loaded signing keys") < log.rindex("Serving on")
