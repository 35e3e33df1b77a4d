"""Every token fault on a protected route is a 401 with the Bearer challenge, never 403, 422 or 500."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from chalice.test import Client

from tests.conftest import Stage

JSON = {"Content-Type": "application/json"}


def secret_of(jwk: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64decode(jwk["k"] + "=" * (-len(jwk["k"]) % 4))


def claims(stage: Stage, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": stage.variables["KEYPIN_ISSUER"], "aud": stage.variables["KEYPIN_AUDIENCE"], "sub": "user-1",
            "username": "alice", "sid": "session-1", "iat": now, "exp": now + 300, "jti": "token-1",
            "token_use": "access"}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def forge(jwk: dict[str, Any], payload: dict[str, Any], *, kid: Any = None, secret: bytes | None = None,
          algorithm: str = "HS512") -> str:
    return jwt.encode(payload, secret or secret_of(jwk), algorithm=algorithm,
                      headers={"kid": jwk["kid"] if kid is None else kid})


def segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def sign_by_hand(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """Build an HS512 JWS without PyJWT, for headers PyJWT refuses to write."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def get_me(client: Client, authorization: str | None) -> Any:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.http.get("/me", headers=headers)


def assert_invalid_token(response: Any, *, token_sent: bool = True) -> None:
    assert response.status_code == 401
    assert response.json_body["error"] == "invalid_token"
    assert response.json_body["error_description"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="keypin"')
    assert ('error="invalid_token"' in challenge) is token_sent


def test_valid_forged_token_is_accepted(client: Client, provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    # The forging helper itself must produce a token keypin accepts, or the faults below prove nothing.
    response = get_me(client, f"Bearer {forge(signing_jwk, claims(provisioned))}")

    assert response.status_code == 200
    assert response.json_body == {"sub": "user-1", "username": "alice"}


@pytest.mark.parametrize("authorization", [None, "", "Basic YWxpY2U6cHc=", "Bearer", "Bearer   "])
def test_missing_bearer_token_is_challenge_without_error(client: Client, authorization: str | None) -> None:
    assert_invalid_token(get_me(client, authorization), token_sent=False)


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c", "a.b.c.d", "....", "eyJ.eyJ.sig", "x" * 9000])
def test_malformed_token_is_invalid_token(client: Client, token: str) -> None:
    assert_invalid_token(get_me(client, f"Bearer {token}"))


def test_scheme_is_case_insensitive(client: Client, provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    response = get_me(client, f"bearer {forge(signing_jwk, claims(provisioned))}")

    assert response.status_code == 200


def test_bad_signature_is_invalid_token(client: Client, provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    token = forge(signing_jwk, claims(provisioned), secret=b"w" * 64)

    assert_invalid_token(get_me(client, f"Bearer {token}"))


def test_expired_token_is_invalid_token(client: Client, provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    now = int(time.time())
    token = forge(signing_jwk, claims(provisioned, iat=now - 1000, exp=now - 31))

    response = get_me(client, f"Bearer {token}")

    assert_invalid_token(response)
    assert "expired" in response.json_body["error_description"]


def test_expiry_within_leeway_is_accepted(client: Client, provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    now = int(time.time())
    token = forge(signing_jwk, claims(provisioned, iat=now - 1000, exp=now - 10))

    assert get_me(client, f"Bearer {token}").status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"aud": ["another-api"]},
        {"token_use": "refresh"},
        {"token_use": None},
        {"exp": None},
        {"iat": None},
        {"sub": None},
        {"jti": None},
        {"iss": None},
        {"aud": None},
        {"sub": 42},
        {"exp": "soon"},
        {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200},
    ],
    ids=lambda overrides: ",".join(f"{name}={value!r}" for name, value in overrides.items()),
)
def test_bad_claims_are_invalid_token(
    client: Client, provisioned: Stage, signing_jwk: dict[str, Any], overrides: dict[str, Any]
) -> None:
    token = forge(signing_jwk, claims(provisioned, **overrides))

    assert_invalid_token(get_me(client, f"Bearer {token}"))


@pytest.mark.parametrize("kid", ["unknown", "../../x", "k" * 10_000, 7, ["list"]])
def test_unknown_kid_is_invalid_token(
    client: Client, provisioned: Stage, signing_jwk: dict[str, Any], kid: Any
) -> None:
    header = {"alg": "HS512", "typ": "JWT", "kid": kid}
    token = sign_by_hand(header, claims(provisioned), secret_of(signing_jwk))

    assert_invalid_token(get_me(client, f"Bearer {token}"))


@pytest.mark.parametrize("algorithm", ["HS256", "HS384"])
def test_other_hmac_algorithm_with_real_key_is_invalid_token(
    client: Client, provisioned: Stage, signing_jwk: dict[str, Any], algorithm: str
) -> None:
    token = forge(signing_jwk, claims(provisioned), algorithm=algorithm)

    assert_invalid_token(get_me(client, f"Bearer {token}"))


def test_unsigned_token_is_invalid_token(client: Client, provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    token = f"{segment({'alg': 'none', 'kid': signing_jwk['kid']})}.{segment(claims(provisioned))}."

    assert_invalid_token(get_me(client, f"Bearer {token}"))


def test_refresh_token_is_no_access_token(client: Client) -> None:
    credentials = json.dumps({"username": "alice", "password": "correct horse"})
    client.http.post("/auth/register", body=credentials, headers=JSON)
    tokens = client.http.post("/auth/login", body=credentials, headers=JSON).json_body

    response = get_me(client, f"Bearer {tokens['refresh_token']}")

    assert_invalid_token(response)
    assert "access token" in response.json_body["error_description"]


def test_logout_all_without_token_is_invalid_token(client: Client) -> None:
    assert_invalid_token(client.http.post("/auth/logout-all"), token_sent=False)
