"""Cookie mode: the refresh token in an HttpOnly cookie, and the CSRF header that guards it."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.cookies import CSRF_HEADER, REFRESH_COOKIE
from chalicelib.settings import Settings
from tests.conftest import Stage
from tests.support import PROJECT, cold_start

PASSWORD = "correct horse battery"
JSON = {"Content-Type": "application/json"}
CSRF = {CSRF_HEADER: "1"}


@pytest.fixture
def cookie_client(provisioned: Stage, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A client of a stage with KEYPIN_REFRESH_COOKIE=true."""
    monkeypatch.setenv("KEYPIN_REFRESH_COOKIE", "true")
    module = cold_start()
    with Client(module.app, stage_name="local", project_dir=str(PROJECT)) as client:
        yield client
    sys.modules.pop("app", None)


def post(client: Client, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    return client.http.post(path, headers={**JSON, **(headers or {})}, body=raw)


def login(client: Client, username: str, *, in_cookie: bool = True) -> Any:
    assert post(client, "/auth/register", {"username": username, "password": PASSWORD}).status_code == 201
    body = {"username": username, "password": PASSWORD, "refresh_in_cookie": in_cookie}
    response = post(client, "/auth/login", body)
    assert response.status_code == 200
    return response


def cookie_attributes(response: Any) -> dict[str, str]:
    """Parse the response's Set-Cookie header into {name or attribute: value}."""
    attributes: dict[str, str] = {}
    for part in response.headers["Set-Cookie"].split(";"):
        name, _, value = part.strip().partition("=")
        attributes[name] = value
    return attributes


def cookie_header(response: Any) -> dict[str, str]:
    return {"Cookie": f"{REFRESH_COOKIE}={cookie_attributes(response)[REFRESH_COOKIE]}"}


def test_login_in_cookie_mode_sets_cookie(cookie_client: Client, provisioned: Stage) -> None:
    response = login(cookie_client, "ada")

    attributes = cookie_attributes(response)
    assert attributes[REFRESH_COOKIE].count(".") == 2
    assert attributes["Max-Age"] == str(provisioned.settings.refresh_ttl_seconds)
    assert attributes["Path"] == "/"
    assert "Secure" in attributes
    assert "HttpOnly" in attributes
    assert attributes["SameSite"] == "Strict"
    assert "Domain" not in attributes


def test_cookie_login_omits_body_token(cookie_client: Client) -> None:
    body = login(cookie_client, "ada").json_body

    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    assert body["refresh_expires_in"] > 0


def test_login_without_cookie_flag_returns_body_token(cookie_client: Client) -> None:
    response = login(cookie_client, "native", in_cookie=False)

    assert "refresh_token" in response.json_body
    assert "Set-Cookie" not in response.headers


def test_login_cookie_flag_must_be_boolean(cookie_client: Client) -> None:
    post(cookie_client, "/auth/register", {"username": "ada", "password": PASSWORD})

    response = post(cookie_client, "/auth/login", {"username": "ada", "password": PASSWORD, "refresh_in_cookie": 1})

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"


def test_cookie_login_without_cookie_mode_400(client: Client) -> None:
    post(client, "/auth/register", {"username": "ada", "password": PASSWORD})

    response = post(client, "/auth/login", {"username": "ada", "password": PASSWORD, "refresh_in_cookie": True})

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"
    assert "Set-Cookie" not in response.headers


def test_refresh_from_cookie_rotates_cookie(cookie_client: Client) -> None:
    logged_in = login(cookie_client, "ada")

    response = post(cookie_client, "/auth/refresh", {}, {**CSRF, **cookie_header(logged_in)})

    assert response.status_code == 200
    assert "refresh_token" not in response.json_body
    assert response.headers["Cache-Control"] == "no-store"
    successor = cookie_attributes(response)[REFRESH_COOKIE]
    assert successor != cookie_attributes(logged_in)[REFRESH_COOKIE]
    assert cookie_attributes(response)["SameSite"] == "Strict"
    me = cookie_client.http.get("/me", headers={"Authorization": f"Bearer {response.json_body['access_token']}"})
    assert me.json_body["username"] == "ada"


def test_refresh_from_cookie_accepts_empty_body(cookie_client: Client) -> None:
    logged_in = login(cookie_client, "ada")

    response = post(cookie_client, "/auth/refresh", None, {**CSRF, **cookie_header(logged_in)})

    assert response.status_code == 200


def test_refresh_from_cookie_without_csrf_header_403(cookie_client: Client) -> None:
    logged_in = login(cookie_client, "ada")

    response = post(cookie_client, "/auth/refresh", {}, cookie_header(logged_in))

    assert response.status_code == 403
    assert response.json_body["error"] == "invalid_request"
    assert CSRF_HEADER in response.json_body["error_description"]
    assert "Set-Cookie" not in response.headers


def test_refresh_form_post_with_cookie_403(cookie_client: Client) -> None:
    # GIVEN the body and content type that an HTML form on another page would send
    logged_in = login(cookie_client, "ada")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **cookie_header(logged_in)}

    # WHEN it is posted with the browser's cookie but without the CSRF header
    response = cookie_client.http.post("/auth/refresh", headers=headers, body=b"refresh_token=x")

    # THEN keypin rejects it, and the cookie still refreshes for the real app
    assert response.status_code == 403
    assert response.json_body["error"] == "invalid_request"
    assert post(cookie_client, "/auth/refresh", {}, {**CSRF, **cookie_header(logged_in)}).status_code == 200


def test_refresh_without_cookie_401_clears_cookie(cookie_client: Client) -> None:
    response = post(cookie_client, "/auth/refresh", {}, CSRF)

    assert response.status_code == 401
    assert response.json_body["error"] == "invalid_grant"
    assert cookie_attributes(response)["Max-Age"] == "0"
    assert cookie_attributes(response)[REFRESH_COOKIE] == ""


def test_refresh_malformed_json_in_cookie_mode_400(cookie_client: Client) -> None:
    response = cookie_client.http.post("/auth/refresh", headers={**JSON, **CSRF}, body=b"{")

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"


def test_refresh_body_token_needs_no_header(cookie_client: Client) -> None:
    tokens = login(cookie_client, "native", in_cookie=False).json_body

    response = post(cookie_client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 200
    assert "refresh_token" in response.json_body
    assert "Set-Cookie" not in response.headers


def test_logout_from_cookie_revokes_and_clears(cookie_client: Client) -> None:
    logged_in = login(cookie_client, "ada")

    response = post(cookie_client, "/auth/logout", {}, {**CSRF, **cookie_header(logged_in)})

    assert response.status_code == 204
    assert cookie_attributes(response)["Max-Age"] == "0"
    assert cookie_attributes(response)["Path"] == "/"
    again = post(cookie_client, "/auth/refresh", {}, {**CSRF, **cookie_header(logged_in)})
    assert again.status_code == 401


def test_logout_from_cookie_without_csrf_header_403(cookie_client: Client) -> None:
    logged_in = login(cookie_client, "ada")

    response = post(cookie_client, "/auth/logout", {}, cookie_header(logged_in))

    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert post(cookie_client, "/auth/refresh", {}, {**CSRF, **cookie_header(logged_in)}).status_code == 200


def test_logout_without_cookie_still_clears(cookie_client: Client) -> None:
    response = post(cookie_client, "/auth/logout", {}, CSRF)

    assert response.status_code == 204
    assert cookie_attributes(response)["Max-Age"] == "0"


def test_refresh_body_still_required_without_cookie_mode(client: Client) -> None:
    response = post(client, "/auth/refresh", {}, CSRF)

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_request"


def test_settings_cookie_and_demo_off_by_default() -> None:
    settings = Settings.from_environ({})

    assert settings.refresh_cookie is False
    assert settings.demo_page is False
    assert settings.cors_allow_origin is None
