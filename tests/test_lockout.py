"""Login lockout after repeated failures, per normalised username."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.lockout import MAX_LOCK_SECONDS, lock_seconds
from tests.conftest import Stage

JSON = {"Content-Type": "application/json"}
RIGHT = "correct horse"


def login(client: Client, username: str, password: str) -> Any:
    return client.http.post("/auth/login", body=json.dumps({"username": username, "password": password}),
                            headers=JSON)


def fail(client: Client, username: str, times: int) -> list[int]:
    return [login(client, username, "wrong horse").status_code for _ in range(times)]


def register(client: Client, username: str) -> None:
    body = json.dumps({"username": username, "password": RIGHT})
    assert client.http.post("/auth/register", body=body, headers=JSON).status_code == 201


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (4, 0), (5, 1), (6, 2), (7, 4), (14, 512), (15, 900), (40, MAX_LOCK_SECONDS), (10**6, 900)],
)
def test_lock_seconds_doubles_up_to_cap(failures: int, seconds: int) -> None:
    assert lock_seconds(failures) == seconds


def test_fifth_failure_locks_username(client: Client) -> None:
    register(client, "alice")

    statuses = fail(client, "alice", 5)
    locked = login(client, "alice", RIGHT)

    assert statuses == [401] * 5
    assert locked.status_code == 429
    assert locked.json_body["error"] == "too_many_requests"
    assert int(locked.headers["Retry-After"]) >= 1


def test_lock_expires_and_success_resets(client: Client) -> None:
    register(client, "alice")
    fail(client, "alice", 5)

    time.sleep(1.1)
    unlocked = login(client, "alice", RIGHT)
    after_reset = fail(client, "alice", 4)

    assert unlocked.status_code == 200
    assert after_reset == [401] * 4


def test_further_failure_doubles_lock(client: Client) -> None:
    register(client, "alice")
    fail(client, "alice", 5)
    time.sleep(1.1)

    sixth = login(client, "alice", "wrong horse")
    locked = login(client, "alice", RIGHT)

    assert sixth.status_code == 401
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == 2


def test_attempts_while_locked_are_not_counted(client: Client, provisioned: Stage) -> None:
    register(client, "alice")
    fail(client, "alice", 5)

    during_lock = fail(client, "alice", 3)

    assert during_lock == [429] * 3
    item = aws.dynamodb_client().get_item(TableName=provisioned.variables["KEYPIN_SESSIONS_TABLE"],
                                          Key={"sid": {"S": "login-failures:alice"}})["Item"]
    assert item["failures"]["N"] == "5"


def test_unknown_and_known_usernames_answer_alike(client: Client, provisioned: Stage) -> None:
    register(client, "alice")

    known = [login(client, "alice", "wrong horse") for _ in range(6)]
    unknown = [login(client, "nobody", "wrong horse") for _ in range(6)]

    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [429]
    assert [r.json_body for r in known] == [r.json_body for r in unknown]
    users = aws.dynamodb_client().scan(TableName=provisioned.variables["KEYPIN_USERS_TABLE"])["Items"]
    assert [item["username"]["S"] for item in users] == ["alice"]


def test_lock_applies_to_other_spellings(client: Client) -> None:
    register(client, "alice")
    fail(client, "ALICE", 5)

    assert login(client, "alice", RIGHT).status_code == 429


def test_counter_expires_with_ttl_and_stays_off_user_index(client: Client, provisioned: Stage) -> None:
    fail(client, "nobody", 1)

    table = provisioned.variables["KEYPIN_SESSIONS_TABLE"]
    item = aws.dynamodb_client().get_item(TableName=table, Key={"sid": {"S": "login-failures:nobody"}})["Item"]
    assert int(item["expires_at"]["N"]) > time.time()
    assert "sub" not in item
