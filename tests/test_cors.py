"""CORS with credentials for the one origin named in KEYPIN_CORS_ALLOW_ORIGIN.

chalice.test.Client cannot send a preflight: for an OPTIONS request that no route handles,
Chalice 1.34 generates a response whose body is None, and the client's response parsing
raises AttributeError on it. The preflight tests therefore run against `chalice local`.
"""
from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from chalice.test import Client

from chalicelib.cookies import CSRF_HEADER
from chalicelib.settings import Settings, SettingsError
from tests.conftest import Stage
from tests.support import (
    PROJECT,
    ChaliceLocal,
    MotoServer,
    cold_start,
    start_local_server,
)

APP_ORIGIN = "http://127.0.0.1:5173"
PREFLIGHT = {
    "Origin": APP_ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": f"content-type,{CSRF_HEADER.lower()}",
}

ClientFactory = Callable[[str], Client]


@pytest.fixture
def client_with_origin(provisioned: Stage, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """Build a client of a stage whose KEYPIN_CORS_ALLOW_ORIGIN is the given value."""
    clients: list[Client] = []

    def build(origin: str) -> Client:
        monkeypatch.setenv("KEYPIN_CORS_ALLOW_ORIGIN", origin)
        client = Client(cold_start().app, stage_name="local", project_dir=str(PROJECT))
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
    sys.modules.pop("app", None)


@pytest.fixture(scope="module")
def cors_server(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaliceLocal]:
    """`chalice local` of a stage with cookie mode and CORS for APP_ORIGIN."""
    local = start_local_server(moto_server.endpoint, tmp_path_factory.mktemp("cors-local"),
                               KEYPIN_CORS_ALLOW_ORIGIN=APP_ORIGIN, KEYPIN_REFRESH_COOKIE="true")
    yield local
    local.stop()


def preflight(server: ChaliceLocal, path: str, method: str) -> dict[str, str]:
    headers = {**PREFLIGHT, "Access-Control-Request-Method": method}
    request = urllib.request.Request(f"{server.url}{path}", method="OPTIONS", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return dict(response.headers)


@pytest.mark.slow
def test_preflight_allows_origin_with_credentials(cors_server: ChaliceLocal) -> None:
    headers = preflight(cors_server, "/auth/refresh", "POST")

    assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"].split(",")


@pytest.mark.slow
def test_preflight_allows_csrf_and_authorization_headers(cors_server: ChaliceLocal) -> None:
    headers = preflight(cors_server, "/me", "GET")

    allowed = {name.lower() for name in headers["Access-Control-Allow-Headers"].split(",")}
    assert CSRF_HEADER.lower() in allowed
    assert "authorization" in allowed
    assert "content-type" in allowed


def test_unauthorized_response_carries_cors_headers(client_with_origin: ClientFactory) -> None:
    client = client_with_origin(APP_ORIGIN)

    response = client.http.get("/me", headers={"Origin": APP_ORIGIN})

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"].split(",")


def test_csrf_rejection_carries_cors_headers(
    client_with_origin: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYPIN_REFRESH_COOKIE", "true")
    client = client_with_origin(APP_ORIGIN)

    response = client.http.post("/auth/refresh", headers={"Content-Type": "application/json"}, body=b"{}")

    assert response.status_code == 403
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_cors_off_by_default(client: Client) -> None:
    health = client.http.get("/health", headers={"Origin": APP_ORIGIN})
    unauthorized = client.http.get("/me", headers={"Origin": APP_ORIGIN})

    assert "Access-Control-Allow-Origin" not in health.headers
    assert "Access-Control-Allow-Origin" not in unauthorized.headers
    assert "Access-Control-Allow-Credentials" not in unauthorized.headers


@pytest.mark.parametrize("value", ["*", "null"])
def test_cors_wildcard_origin_stops_cold_start(client_with_origin: ClientFactory, value: str) -> None:
    with pytest.raises(SettingsError, match="KEYPIN_CORS_ALLOW_ORIGIN"):
        client_with_origin(value)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.com:443/", "https://app.example.com"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("", None),
    ],
)
def test_cors_origin_setting_normalised(value: str, origin: str | None) -> None:
    settings = Settings.from_environ({"KEYPIN_CORS_ALLOW_ORIGIN": value})

    assert settings.cors_allow_origin == origin


@pytest.mark.parametrize(
    "value",
    ["app.example.com", "https://app.example.com/login", "https://app.example.com?x=1", "ftp://app.example.com",
     "https://user@app.example.com", "https://app.example.com:99999"],
)
def test_cors_origin_setting_rejects_non_origin(value: str) -> None:
    with pytest.raises(SettingsError, match="KEYPIN_CORS_ALLOW_ORIGIN"):
        Settings.from_environ({"KEYPIN_CORS_ALLOW_ORIGIN": value})
