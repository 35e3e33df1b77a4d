"""Passwords: Argon2id parameters, whole-input hashing, size limit and NFKC normalisation."""
from __future__ import annotations

import json
from typing import Any

import argon2
import pytest
from chalice.test import Client

from chalicelib.errors import InvalidRequest
from chalicelib.passwords import DUMMY_HASH, HASHER, MAX_PASSWORD_BYTES, normalise_password

JSON = {"Content-Type": "application/json"}


def post(client: Client, path: str, username: str, password: str) -> Any:
    return client.http.post(path, body=json.dumps({"username": username, "password": password}), headers=JSON)


def test_hasher_meets_owasp_minimum() -> None:
    parameters = argon2.extract_parameters(HASHER.hash("any password"))

    assert parameters.type is argon2.Type.ID
    assert parameters.memory_cost >= 19 * 1024
    assert parameters.time_cost >= 2
    assert parameters.parallelism == 1


def test_dummy_hash_matches_hasher_parameters() -> None:
    # Login of an unknown user verifies against it; other parameters would change its timing.
    assert not HASHER.check_needs_rehash(DUMMY_HASH)


def test_password_at_limit_is_hashed_whole(client: Client) -> None:
    password = "p" * (MAX_PASSWORD_BYTES - 1) + "a"
    almost = "p" * (MAX_PASSWORD_BYTES - 1) + "b"
    assert post(client, "/auth/register", "alice", password).status_code == 201

    right = post(client, "/auth/login", "alice", password)
    wrong_last_byte = post(client, "/auth/login", "alice", almost)

    assert right.status_code == 200
    assert wrong_last_byte.status_code == 401


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_password_over_limit_is_rejected(client: Client, path: str) -> None:
    response = post(client, path, "alice", "p" * (MAX_PASSWORD_BYTES + 1))

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"


def test_non_ascii_password_round_trips(client: Client) -> None:
    password = "pässwörd ключ 鍵 🔑"
    post(client, "/auth/register", "alice", password)

    assert post(client, "/auth/login", "alice", password).status_code == 200


def test_password_normalised_at_register_and_login(client: Client) -> None:
    composed = "caf\u00e9 au lait"  # é as one code point
    decomposed = "cafe\u0301 au lait"  # e followed by a combining acute accent
    post(client, "/auth/register", "alice", composed)

    assert post(client, "/auth/login", "alice", decomposed).status_code == 200


def test_normalise_password_limit_counts_utf8_bytes() -> None:
    assert normalise_password("é" * (MAX_PASSWORD_BYTES // 2)) == "é" * (MAX_PASSWORD_BYTES // 2)
    with pytest.raises(InvalidRequest, match="1024 bytes"):
        normalise_password("é" * (MAX_PASSWORD_BYTES // 2 + 1))
