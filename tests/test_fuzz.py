"""Generated bodies and tokens against every route: never a 5xx, always the JSON error shape."""
from __future__ import annotations

import base64
import json
from typing import Any

from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = {"Content-Type": "application/json"}
BODY_ROUTES = ["/auth/register", "/auth/login", "/auth/refresh", "/auth/logout"]
FIELDS = ["username", "password", "refresh_token", "refresh_in_cookie"]
DISTINCT_INPUTS: set[tuple[str, str]] = set()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)
surrogate_text = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=5)  # lone UTF-16 halves
field_values = st.one_of(json_values, st.text(max_size=300), st.text(min_size=1000, max_size=3000), surrogate_text)
object_bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), field_values, max_size=4)
raw_bodies = st.one_of(
    object_bodies.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


segments = st.one_of(
    st.binary(max_size=60).map(b64url),
    json_values.map(lambda value: b64url(json.dumps(value).encode())),
    st.text(alphabet="ABCxyz019-_.=+/ ", max_size=30),
)
tokens = st.one_of(
    st.lists(segments, min_size=1, max_size=6).map(".".join),
    st.text(max_size=100),
    st.text(alphabet="abc", min_size=8000, max_size=9000),
)
authorizations = st.one_of(tokens.map(lambda token: f"Bearer {token}"), st.text(max_size=60),
                           tokens.map(lambda token: f"Basic {token}"))


def assert_keypin_answer(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.body[:200])
    if response.status_code >= 400:
        body = response.json_body
        assert isinstance(body, dict)
        assert isinstance(body.get("error"), str)
        assert isinstance(body.get("error_description"), str)


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(BODY_ROUTES), raw=raw_bodies)
def test_generated_bodies_get_keypin_answers(client: Client, route: str, raw: bytes) -> None:
    DISTINCT_INPUTS.add((route, raw.hex()))

    response = client.http.post(route, body=raw, headers=JSON)

    assert_keypin_answer(response)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from([("GET", "/me"), ("POST", "/auth/logout-all")]), authorization=authorizations)
def test_generated_bearer_headers_get_401(client: Client, route: tuple[str, str], authorization: str) -> None:
    DISTINCT_INPUTS.add((route[1], authorization))
    headers = {"Authorization": authorization} if authorization.isprintable() else {}

    response = client.http.request(route[0], route[1], headers=headers)

    assert response.status_code == 401
    assert_keypin_answer(response)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="keypin"')


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(token=tokens)
def test_generated_refresh_tokens_are_invalid_grant(client: Client, token: str) -> None:
    DISTINCT_INPUTS.add(("/auth/refresh token", token))

    response = client.http.post("/auth/refresh", body=json.dumps({"refresh_token": token}), headers=JSON)

    assert_keypin_answer(response)
    assert response.status_code in (400, 401, 413)


def test_generated_inputs_are_at_least_300() -> None:
    # Runs after the generated tests above in this file; they fill DISTINCT_INPUTS.
    assert len(DISTINCT_INPUTS) >= 300, "run the whole file: the generated tests above collect the inputs"
