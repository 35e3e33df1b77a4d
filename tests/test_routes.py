"""The HTTP routes through chalice.test.Client, against moto's in-process mock."""
from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.support import cold_start

JSON = {"Content-Type": "application/json"}


def post(client: Client, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, body=json.dumps(body), headers={**JSON, **(headers or {})})


def register_and_login(client: Client, username: str = "alice", password: str = "correct horse") -> dict[str, Any]:
    assert post(client, "/auth/register", {"username": username, "password": password}).status_code == 201
    response = post(client, "/auth/login", {"username": username, "password": password})
    assert response.status_code == 200
    return response.json_body  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_returns_ok(client: Client) -> None:
    response = client.http.get("/health")

    assert response.status_code == 200
    assert response.json_body == {"status": "ok"}


def test_register_returns_sub_and_username(client: Client) -> None:
    response = post(client, "/auth/register", {"username": "alice", "password": "correct horse"})

    assert response.status_code == 201
    assert response.json_body["username"] == "alice"
    assert response.json_body["sub"]


def test_register_same_name_other_spelling_is_taken(client: Client) -> None:
    post(client, "/auth/register", {"username": "alice", "password": "correct horse"})

    # Full-width letters and upper case are one user with the plain lower-case name.
    response = post(client, "/auth/register", {"username": "ＡＬＩＣＥ", "password": "correct horse"})

    assert response.status_code == 409
    assert response.json_body["error"] == "username_taken"


def test_register_short_password_is_invalid_request(client: Client) -> None:
    response = post(client, "/auth/register", {"username": "alice", "password": "short"})

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"


def test_login_returns_token_response(client: Client) -> None:
    tokens = register_and_login(client)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 1_209_600
    assert tokens["access_token"] != tokens["refresh_token"]


def test_login_response_is_not_cached(client: Client) -> None:
    post(client, "/auth/register", {"username": "alice", "password": "correct horse"})

    response = post(client, "/auth/login", {"username": "alice", "password": "correct horse"})

    assert response.headers["Cache-Control"] == "no-store"


def test_login_accepts_other_spelling_of_username(client: Client) -> None:
    post(client, "/auth/register", {"username": "alice", "password": "correct horse"})

    response = post(client, "/auth/login", {"username": "ＡＬＩＣＥ", "password": "correct horse"})

    assert response.status_code == 200


def test_login_unknown_user_like_wrong_password(client: Client) -> None:
    post(client, "/auth/register", {"username": "alice", "password": "correct horse"})

    wrong_password = post(client, "/auth/login", {"username": "alice", "password": "wrong horse"})
    unknown_user = post(client, "/auth/login", {"username": "mallory", "password": "wrong horse"})

    assert wrong_password.status_code == 401
    assert unknown_user.status_code == 401
    assert wrong_password.json_body == unknown_user.json_body
    assert wrong_password.json_body["error"] == "invalid_grant"


def test_login_password_over_1024_bytes_is_invalid_request(client: Client) -> None:
    response = post(client, "/auth/login", {"username": "alice", "password": "é" * 513})

    assert response.status_code == 400
    assert "1024 bytes" in response.json_body["error_description"]


def test_me_returns_the_user(client: Client) -> None:
    tokens = register_and_login(client)

    response = client.http.get("/me", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200
    assert response.json_body["username"] == "alice"


def test_refresh_returns_new_pair(client: Client) -> None:
    tokens = register_and_login(client)

    response = post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 200
    assert response.json_body["refresh_token"] != tokens["refresh_token"]
    assert client.http.get("/me", headers=bearer(response.json_body["access_token"])).status_code == 200


def test_refresh_with_access_token_is_invalid_grant(client: Client) -> None:
    tokens = register_and_login(client)

    response = post(client, "/auth/refresh", {"refresh_token": tokens["access_token"]})

    assert response.status_code == 401
    assert response.json_body["error"] == "invalid_grant"


def test_logout_then_refresh_is_invalid_grant(client: Client) -> None:
    tokens = register_and_login(client)

    logout = post(client, "/auth/logout", {"refresh_token": tokens["refresh_token"]})
    refresh = post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})

    assert logout.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json_body["error"] == "invalid_grant"


def test_logout_is_idempotent_and_reveals_nothing(client: Client) -> None:
    tokens = register_and_login(client)

    first = post(client, "/auth/logout", {"refresh_token": tokens["refresh_token"]})
    second = post(client, "/auth/logout", {"refresh_token": tokens["refresh_token"]})
    garbage = post(client, "/auth/logout", {"refresh_token": "not a token"})

    assert (first.status_code, second.status_code, garbage.status_code) == (204, 204, 204)


def test_register_disabled_is_forbidden(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYPIN_ALLOW_REGISTRATION", "false")
    module = cold_start()

    with Client(module.app) as other:
        response = post(other, "/auth/register", {"username": "alice", "password": "correct horse"})

    assert response.status_code == 403
    assert response.json_body["error"] == "registration_disabled"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b'"text"', b"42", b"null", b"{}", b"", b'{"username": 1, "password": 2}',
     b'{"username": "alice"}', b'{"username": null, "password": "x"}', b'{"username": "a", "password": NaN}',
     b"\xff\xfe"],
)
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_bad_credentials_body_is_invalid_request(client: Client, path: str, raw: bytes) -> None:
    response = client.http.post(path, body=raw, headers=JSON)

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"
    assert response.json_body["error_description"]


@pytest.mark.parametrize("raw", [b"[]", b"{}", b'{"refresh_token": 5}', b"{oops"])
@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_bad_refresh_body_is_invalid_request(client: Client, path: str, raw: bytes) -> None:
    response = client.http.post(path, body=raw, headers=JSON)

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/auth/refresh", "/auth/logout"])
def test_oversized_body_is_413(client: Client, path: str) -> None:
    body = json.dumps({"username": "a" * 20_000, "password": "x", "refresh_token": "y"})

    response = client.http.post(path, body=body, headers=JSON)

    assert response.status_code == 413
    assert response.json_body["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/login", {"username": "a" * 3000, "password": "correct horse"}),
        ("/auth/login", {"username": "\ud800", "password": "correct horse"}),
        ("/auth/register", {"username": "odd", "password": "\ud800 correct horse"}),
        ("/auth/login", {"username": "odd", "password": "\ud800 correct horse"}),
        ("/auth/refresh", {"refresh_token": "\udfff"}),
    ],
    ids=["login-long-username", "login-surrogate-username", "register-surrogate-password",
         "login-surrogate-password", "refresh-surrogate-token"],
)
def test_odd_text_is_invalid_request(client: Client, path: str, body: dict[str, str]) -> None:
    response = post(client, path, body)

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"
