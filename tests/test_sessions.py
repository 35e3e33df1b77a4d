"""Refresh sessions: rotation, the reuse grace window, reuse detection, logout and AWS faults."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jwt
import pytest
from chalice.test import Client

from chalicelib import aws
from tests.conftest import Stage
from tests.support import AwsEvents, aws_error_response, cold_start

JSON = {"Content-Type": "application/json"}
CREDENTIALS = {"username": "alice", "password": "correct horse"}

AppFactory = Callable[..., ModuleType]


def app_factory(monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    def factory(**variables: str) -> ModuleType:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return cold_start()

    return factory


@pytest.fixture
def make_app(provisioned: Stage, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Cold-start the app, with extra environment variables, against moto's in-process mock."""
    return app_factory(monkeypatch)


@pytest.fixture
def make_served_app(served: Stage, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Cold-start the app against moto's server, where before-send handlers can inject faults."""
    return app_factory(monkeypatch)


def call(module: ModuleType, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = dict(JSON)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with Client(module.app) as client:
        return client.http.request(method, path, body=json.dumps(body) if body is not None else b"", headers=headers)


def login(module: ModuleType, credentials: dict[str, str] = CREDENTIALS) -> dict[str, Any]:
    call(module, "POST", "/auth/register", credentials)
    response = call(module, "POST", "/auth/login", credentials)
    assert response.status_code == 200
    return response.json_body  # type: ignore[no-any-return]


def refresh(module: ModuleType, refresh_token: str) -> Any:
    return call(module, "POST", "/auth/refresh", {"refresh_token": refresh_token})


def session_item(stage: Stage, refresh_token: str) -> dict[str, Any]:
    sid = jwt.decode(refresh_token, options={"verify_signature": False})["sid"]
    item: dict[str, Any] = aws.dynamodb_client().get_item(TableName=stage.variables["KEYPIN_SESSIONS_TABLE"],
                                                          Key={"sid": {"S": sid}})["Item"]
    return item


def test_refresh_within_grace_returns_same_successor(make_app: AppFactory) -> None:
    module = make_app()
    tokens = login(module)

    first = refresh(module, tokens["refresh_token"])
    second = refresh(module, tokens["refresh_token"])

    assert first.status_code == 200
    assert second.status_code == 200
    assert second.json_body["refresh_token"] == first.json_body["refresh_token"]
    assert refresh(module, first.json_body["refresh_token"]).status_code == 200


def test_refresh_within_grace_access_token_works(make_app: AppFactory) -> None:
    module = make_app()
    tokens = login(module)
    refresh(module, tokens["refresh_token"])

    replayed = refresh(module, tokens["refresh_token"])

    assert call(module, "GET", "/me", token=replayed.json_body["access_token"]).status_code == 200


def test_reuse_after_grace_revokes_family(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture, provisioned: Stage
) -> None:
    # GIVEN a one-second grace window and a refresh that rotated the family
    module = make_app(KEYPIN_REFRESH_REUSE_GRACE_SECONDS="1")
    tokens = login(module)
    successor = refresh(module, tokens["refresh_token"]).json_body["refresh_token"]
    sid = jwt.decode(successor, options={"verify_signature": False})["sid"]

    # WHEN the replaced token comes back after the window
    time.sleep(2.1)
    with caplog.at_level(logging.WARNING, logger="chalicelib"):
        replay = refresh(module, tokens["refresh_token"])

    # THEN the replay and the current token of the family both fail
    assert replay.status_code == 401
    assert replay.json_body["error"] == "invalid_grant"
    assert refresh(module, successor).status_code == 401
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any(sid in message and "reuse" in message for message in warnings)
    assert not any(tokens["refresh_token"] in message or successor in message for message in caplog.messages)


def test_reuse_with_grace_off_revokes_family(make_app: AppFactory) -> None:
    module = make_app(KEYPIN_REFRESH_REUSE_GRACE_SECONDS="0")
    tokens = login(module)
    successor = refresh(module, tokens["refresh_token"]).json_body["refresh_token"]

    replay = refresh(module, tokens["refresh_token"])

    assert replay.status_code == 401
    assert refresh(module, successor).status_code == 401


def test_older_token_than_previous_revokes_family(make_app: AppFactory) -> None:
    module = make_app()
    tokens = login(module)
    second = refresh(module, tokens["refresh_token"]).json_body["refresh_token"]
    third = refresh(module, second).json_body["refresh_token"]

    replay = refresh(module, tokens["refresh_token"])

    assert replay.status_code == 401
    assert refresh(module, third).status_code == 401


def test_logout_revokes_family(make_app: AppFactory) -> None:
    module = make_app()
    tokens = login(module)
    successor = refresh(module, tokens["refresh_token"]).json_body["refresh_token"]

    # Logging out with the replaced token ends the family, including its successor.
    assert call(module, "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert refresh(module, successor).status_code == 401


def test_logout_all_revokes_every_session(make_app: AppFactory) -> None:
    module = make_app()
    phone = login(module)
    laptop = call(module, "POST", "/auth/login", CREDENTIALS).json_body

    response = call(module, "POST", "/auth/logout-all", token=laptop["access_token"])

    assert response.status_code == 204
    assert refresh(module, phone["refresh_token"]).status_code == 401
    assert refresh(module, laptop["refresh_token"]).status_code == 401


def test_logout_all_leaves_other_users(make_app: AppFactory) -> None:
    module = make_app()
    alice = login(module)
    bob = login(module, {"username": "bob", "password": "another horse"})

    call(module, "POST", "/auth/logout-all", token=alice["access_token"])

    assert refresh(module, bob["refresh_token"]).status_code == 200


def test_expired_session_rejected_before_ttl_deletion(make_app: AppFactory, provisioned: Stage) -> None:
    # GIVEN a session whose stored expiry has passed while DynamoDB has not deleted it yet
    module = make_app()
    tokens = login(module)
    sid = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["sid"]
    aws.dynamodb_client().update_item(
        TableName=provisioned.variables["KEYPIN_SESSIONS_TABLE"],
        Key={"sid": {"S": sid}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    # WHEN the still-signed refresh token is presented THEN the session's own expiry rejects it
    response = refresh(module, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json_body["error"] == "invalid_grant"


def test_expired_refresh_token_is_invalid_grant(make_app: AppFactory) -> None:
    module = make_app(KEYPIN_REFRESH_TTL_SECONDS="1", KEYPIN_LEEWAY_SECONDS="0")
    tokens = login(module)

    time.sleep(2.1)

    assert refresh(module, tokens["refresh_token"]).status_code == 401


def test_session_has_ttl_attribute_and_no_raw_token(make_app: AppFactory, provisioned: Stage) -> None:
    module = make_app()
    tokens = login(module)
    successor = refresh(module, tokens["refresh_token"]).json_body["refresh_token"]

    item = session_item(provisioned, successor)

    assert int(item["expires_at"]["N"]) == jwt.decode(successor, options={"verify_signature": False})["exp"]
    stored = json.dumps(item)
    for token in (tokens["refresh_token"], successor, tokens["access_token"]):
        assert token not in stored
        assert token.split(".")[2] not in stored


def test_refresh_makes_at_most_two_dynamodb_calls(make_app: AppFactory, aws_events: AwsEvents) -> None:
    calls = aws_events.count("before-call.dynamodb")
    module = make_app()
    tokens = login(module)
    calls[0] = 0

    again = refresh(module, tokens["refresh_token"])
    assert again.status_code == 200, again.json_body
    assert calls[0] == 2


def test_replay_in_grace_makes_one_dynamodb_call(make_app: AppFactory, aws_events: AwsEvents) -> None:
    calls = aws_events.count("before-call.dynamodb")
    module = make_app()
    tokens = login(module)
    refresh(module, tokens["refresh_token"])
    calls[0] = 0

    again = refresh(module, tokens["refresh_token"])
    assert again.status_code == 200, again.json_body
    assert calls[0] == 1


@pytest.mark.parametrize("operation", ["GetItem", "UpdateItem"])
def test_throttled_refresh_is_503_and_keeps_session(
    make_served_app: AppFactory, aws_events: AwsEvents, operation: str
) -> None:
    # GIVEN DynamoDB throttling every attempt of one call of the refresh
    throttling = [False]
    attempts = [0]

    def throttle(**_: Any) -> Any:
        if not throttling[0]:
            return None
        attempts[0] += 1
        return aws_error_response(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput")

    aws_events.register_first(f"before-send.dynamodb.{operation}", throttle)
    # Grace off: had the failed call rotated the family, the retry below would be a reuse.
    module = make_served_app(KEYPIN_REFRESH_REUSE_GRACE_SECONDS="0")
    tokens = login(module)
    throttling[0] = True

    # WHEN the refresh runs out of retries
    response = refresh(module, tokens["refresh_token"])

    # THEN the client gets 503 with Retry-After, and the same token still rotates once afterwards
    assert response.status_code == 503
    assert response.json_body["error"] == "service_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert attempts[0] == aws.DYNAMODB_RETRIES.attempts
    throttling[0] = False
    retried = refresh(module, tokens["refresh_token"])
    assert retried.status_code == 200
    assert refresh(module, retried.json_body["refresh_token"]).status_code == 200


def test_throttled_logout_is_503_and_keeps_session(make_served_app: AppFactory, aws_events: AwsEvents) -> None:
    throttling = [False]

    def throttle(**_: Any) -> Any:
        return aws_error_response(400, "ProvisionedThroughputExceededException") if throttling[0] else None

    aws_events.register_first("before-send.dynamodb.UpdateItem", throttle)
    module = make_served_app()
    tokens = login(module)
    throttling[0] = True

    response = call(module, "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 503
    assert "Retry-After" in response.headers
    throttling[0] = False
    again = refresh(module, tokens["refresh_token"])
    assert again.status_code == 200, again.json_body
