"""Key rotation and retirement seen through the HTTP routes of warm and fresh containers."""
from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import jwt
import pytest
from chalice.test import Client

from keypin_admin.cli import main
from tests.conftest import Stage
from tests.support import PROJECT, cold_start

REREAD_LOG = "Re-reading signing keys"
PASSWORD = "correct horse"


def post(client: Client, path: str, body: Any) -> Any:
    return client.http.post(path, body=json.dumps(body), headers={"Content-Type": "application/json"})


def login(client: Client, username: str) -> str:
    """Register `username` and return a fresh access token."""
    post(client, "/auth/register", {"username": username, "password": PASSWORD})
    response = post(client, "/auth/login", {"username": username, "password": PASSWORD})
    assert response.status_code == 200
    token: str = response.json_body["access_token"]
    return token


def me(client: Client, token: str) -> Any:
    return client.http.get("/me", headers={"Authorization": f"Bearer {token}"})


def header_kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def operator(*argv: str) -> None:
    assert main(list(argv)) == 0


class Container:
    """One imported copy of the app: a Lambda container with its own loaded keys."""

    def __init__(self) -> None:
        self.module: ModuleType = cold_start()
        self._client = Client(self.module.app, stage_name="local", project_dir=str(PROJECT))
        self.http = self._client.__enter__()

    def close(self) -> None:
        self._client.__exit__(None, None, None)


@pytest.fixture
def containers(provisioned: Stage) -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.close()


def start(containers: list[Container]) -> Client:
    container = Container()
    containers.append(container)
    return container.http


def test_rotate_keeps_earlier_tokens_valid(containers: list[Container]) -> None:
    # GIVEN a token issued before the rotation
    warm = start(containers)
    token = login(warm, "alice")

    # WHEN the operator rotates the keys
    operator("keys", "rotate")
    fresh = start(containers)

    # THEN the token opens /me on the warm container and on a container started after it
    assert me(warm, token).status_code == 200
    assert me(fresh, token).status_code == 200
    assert header_kid(login(fresh, "bob")) != header_kid(token)


def test_retire_makes_earlier_tokens_401(containers: list[Container]) -> None:
    # GIVEN a token issued before a rotation
    first = start(containers)
    token = login(first, "alice")
    operator("keys", "rotate")

    # WHEN the key that signed it is retired
    operator("keys", "retire", "--kid", header_kid(token))
    fresh = start(containers)

    # THEN a container that loads the keys afterwards rejects it
    response = me(fresh, token)
    assert response.status_code == 401
    assert response.json_body["error"] == "invalid_token"


def test_warm_container_learns_new_kid_with_one_reread(containers: list[Container],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a container imported before the rotation, and one imported after it
    warm = start(containers)
    operator("keys", "rotate")
    fresh = start(containers)
    token = login(fresh, "alice")

    # WHEN the new-kid token reaches the warm container
    with caplog.at_level(logging.INFO, logger="chalicelib.keyring"):
        response = me(warm, token)
        again = me(warm, token)

    # THEN it is accepted after exactly one re-read of the parameter
    assert response.status_code == 200
    assert again.status_code == 200
    assert caplog.text.count(REREAD_LOG) == 1


def test_forged_kids_cause_at_most_one_reread(containers: list[Container],
                                              caplog: pytest.LogCaptureFixture) -> None:
    warm = start(containers)
    statuses: set[int] = set()

    with caplog.at_level(logging.INFO, logger="chalicelib.keyring"):
        for _ in range(1000):
            kid = secrets.token_urlsafe(12)
            token = jwt.encode({"sub": "mallory"}, secrets.token_bytes(64), algorithm="HS512", headers={"kid": kid})
            statuses.add(me(warm, token).status_code)

    assert statuses == {401}
    # The first unknown kid re-reads at once; the other 999 fall inside the refresh interval.
    assert caplog.text.count(REREAD_LOG) == 1
