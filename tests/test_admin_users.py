"""`keypin_admin users add` stores users that log in over HTTP exactly as registered ones do."""
from __future__ import annotations

import io
import json

import pytest
from chalice.test import Client

from keypin_admin.cli import main as admin

JSON = {"Content-Type": "application/json"}


def test_users_add_password_normalised_like_register(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("cafe\u0301 au lait\n"))  # e plus a combining accent
    assert admin(["users", "add", "alice", "--stage", "test"]) == 0

    response = client.http.post("/auth/login", body=json.dumps({"username": "alice", "password": "caf\u00e9 au lait"}),
                                headers=JSON)

    assert response.status_code == 200


def test_users_add_empty_stdin_says_no_password(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    status = admin(["users", "add", "alice", "--stage", "test"])

    assert status == 1
    assert "no password given" in capsys.readouterr().err
