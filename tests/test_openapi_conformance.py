"""docs/openapi.yaml against `chalice local`: every response is one that the document allows.

The server runs as `make run` serves it, cookie mode and demo routes on, against moto's
server on 127.0.0.1. schemathesis generates valid and invalid requests for every
operation and checks the status, headers and body of each response against the
document. Any 5xx response fails the run. Walkthrough tests then send the requests that generated
data cannot reach (real tokens, the refresh cookie) and the ones that Chalice rejects
itself.
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import yaml
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.support import (
    PROJECT,
    ChaliceLocal,
    MotoServer,
    http,
    start_local_server,
)

pytestmark = pytest.mark.slow

SOURCE = PROJECT / "docs" / "openapi.yaml"
SEED = 20261204
MAX_EXAMPLES = 100  # per operation, in the fuzzing phase; about 15 s in all on 2 cores
REQUEST_TIMEOUT_SECONDS = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    ignored_auth,
]
# The checks of one response, for hand-built requests. The checks above also judge how
# a request was generated, which only generated requests have.
ANSWER_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
USER = {"username": "conformance", "password": "correct horse battery"}
CSRF = {"X-Keypin-CSRF": "1"}

# NOTE: the schema is loaded from the file rather than from GET /openapi.json, because
# schemathesis 4.32.5's lazy loader (schemathesis.pytest.from_fixture) fails under
# pytest 9.2 (AttributeError on Function._nodeid). test_served_document_is_the_file checks
# that the server serves this same document.
document = schemathesis.openapi.from_path(
    SOURCE,
    config=schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        # `chalice local` serves with Python's http.server, which rejects methods it has
        # no handler for (TRACE, QUERY) with its own 501 HTML page before Chalice receives them.
        "phases": {"coverage": {"unexpected-methods": ["get", "put", "post", "delete", "patch"]}},
    }),
)
schema = document


@pytest.fixture(scope="module")
def server(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaliceLocal]:
    local = start_local_server(moto_server.endpoint, tmp_path_factory.mktemp("chalice-local"),
                               KEYPIN_REFRESH_COOKIE="true", KEYPIN_DEMO_PAGE="true")
    yield local
    local.stop()


@pytest.fixture(scope="module")
def access_token(server: ChaliceLocal) -> str:
    assert http("POST", f"{server.url}/auth/register", USER)[0] == 201
    status, tokens, _ = http("POST", f"{server.url}/auth/login", USER)
    assert status == 200
    token: str = tokens["access_token"]
    return token


@schema.parametrize()
def test_generated_requests_get_documented_responses(case: schemathesis.Case[Any], server: ChaliceLocal) -> None:
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=REQUEST_TIMEOUT_SECONDS)


def call_documented(server: ChaliceLocal, path: str, method: str, **parts: Any) -> Any:
    """Send one request built from the document's operation and validate the response against it."""
    case = schema[path][method].Case(**parts)
    return case.call_and_validate(base_url=server.url, checks=ANSWER_CHECKS, timeout=REQUEST_TIMEOUT_SECONDS)


def refresh_cookie(response: Any) -> dict[str, str]:
    """Return the refresh cookie that `response` sets, as a request's cookies."""
    name, _, rest = response.headers["set-cookie"][0].partition("=")
    return {name: rest.split(";", 1)[0]}


def test_token_lifecycle_matches_document(server: ChaliceLocal) -> None:
    # GIVEN a registered user, WHEN it logs in, reads /me, refreshes and logs out
    credentials = {"username": "lifecycle", "password": "correct horse battery"}
    assert call_documented(server, "/auth/register", "POST", body=credentials).status_code == 201
    tokens = call_documented(server, "/auth/login", "POST", body=credentials).json()

    # THEN every response is the documented success, in the documented shape
    me = call_documented(server, "/me", "GET", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    refreshed = call_documented(server, "/auth/refresh", "POST", body={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    logout = call_documented(server, "/auth/logout", "POST", body={"refresh_token": refreshed.json()["refresh_token"]})
    assert logout.status_code == 204
    everywhere = call_documented(
        server, "/auth/logout-all", "POST", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert everywhere.status_code == 204


def test_rejected_tokens_match_document(server: ChaliceLocal, access_token: str) -> None:
    refresh = call_documented(server, "/auth/refresh", "POST", body={"refresh_token": access_token})
    assert refresh.status_code == 401

    me = call_documented(server, "/me", "GET", headers={"Authorization": f"Bearer {access_token}x"})
    assert me.status_code == 401
    assert 'error="invalid_token"' in me.headers["www-authenticate"][0]


def test_cookie_mode_matches_document(server: ChaliceLocal) -> None:
    # GIVEN a cookie-mode login
    credentials = {"username": "cookie-user", "password": "correct horse battery"}
    assert call_documented(server, "/auth/register", "POST", body=credentials).status_code == 201
    login = call_documented(server, "/auth/login", "POST", body={**credentials, "refresh_in_cookie": True})
    assert "refresh_token" not in login.json()
    cookie = refresh_cookie(login)

    # WHEN refresh and logout rely on the cookie, with and without the CSRF header
    no_csrf = call_documented(server, "/auth/refresh", "POST", cookies=cookie)
    refreshed = call_documented(server, "/auth/refresh", "POST", cookies=cookie, headers=CSRF)
    cookie = refresh_cookie(refreshed)
    logout = call_documented(server, "/auth/logout", "POST", cookies=cookie, headers=CSRF)

    # THEN each response is the documented one
    assert no_csrf.status_code == 403
    assert refreshed.status_code == 200
    assert logout.status_code == 204
    assert "Max-Age=0" in logout.headers["set-cookie"][0]


ODD_CREDENTIALS = [
    # json.dumps escapes a lone surrogate as \ud800, which is valid JSON.
    pytest.param("/auth/login", {"username": "a" * 3000, "password": "correct horse"}, id="login-3000-char-username"),
    pytest.param("/auth/login", {"username": "\ud800", "password": "correct horse"}, id="login-surrogate-username"),
    pytest.param("/auth/register", {"username": "odd", "password": "\ud800 correct horse"}, id="register-surrogate-pw"),
    pytest.param("/auth/login", {"username": "odd", "password": "\ud800 correct horse"}, id="login-surrogate-pw"),
]


@pytest.mark.parametrize(("path", "body"), ODD_CREDENTIALS)
def test_odd_credentials_get_client_errors(server: ChaliceLocal, path: str, body: dict[str, str]) -> None:
    status, answer, _ = http("POST", f"{server.url}{path}", body)

    assert 400 <= status < 500, answer


def components() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    found: dict[str, Any] = document["components"]
    return found


def response_schema(name: str) -> dict[str, Any]:
    response = components()["responses"][name]
    reference: str = response["content"]["application/json"]["schema"]["$ref"]
    name = reference.rsplit("/", 1)[1]
    schema_object: dict[str, Any] = components()["schemas"][name]
    return schema_object


CHALICE_ANSWERS = [
    # (method, path, request headers, expected status, documented response)
    ("GET", "/no-such-route", {}, 403, "UnknownPath"),
    ("GET", "/auth/login", {}, 405, "MethodNotAllowed"),
    ("HEAD", "/health", {}, 405, "MethodNotAllowed"),
    ("POST", "/auth/login", {"Content-Type": "text/xml"}, 415, "UnsupportedMediaType"),
    ("GET", "/me", {"Content-Type": "text/csv"}, 415, "UnsupportedMediaType"),
]


@pytest.mark.parametrize("answer", CHALICE_ANSWERS, ids=lambda answer: f"{answer[0]} {answer[1]} {answer[3]}")
def test_chalice_errors_match_document(
    server: ChaliceLocal, answer: tuple[str, str, dict[str, str], int, str]
) -> None:
    method, path, headers, status, documented = answer

    actual_status, body, actual_headers = http(method, f"{server.url}{path}", "x" if headers else None, headers)

    assert actual_status == status
    for name, header in components()["responses"][documented].get("headers", {}).items():
        assert not header.get("required") or name in actual_headers, f"{name} is missing"
    if method != "HEAD":
        jsonschema_rs.validate(response_schema(documented), body)


def test_served_document_is_the_file(server: ChaliceLocal) -> None:
    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=REQUEST_TIMEOUT_SECONDS) as response:
        served = json.loads(response.read())

    assert served == yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
