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
def test_hs256_hs384_with_real_key_rejected(
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


def hostile_tokens(stage: Stage, jwk: dict[str, Any]) -> dict[str, str]:
    """Tokens that must all be refused, by name; each is built with the real key where it matters."""
    secret = secret_of(jwk)
    good = claims(stage)
    header = {"alg": "HS512", "typ": "JWT", "kid": jwk["kid"]}
    now = int(time.time())
    tokens = {
        f"alg {alg}": f"{segment({'alg': alg, 'kid': jwk['kid']})}.{segment(good)}."
        for alg in ("none", "None", "NONE", "nOnE")
    }
    tokens.update({
        "alg missing": sign_by_hand({"typ": "JWT", "kid": jwk["kid"]}, good, secret),
        "crit header": sign_by_hand({**header, "crit": ["exp"]}, good, secret),
        "two segments": f"{segment(header)}.{segment(good)}",
        "four segments": sign_by_hand(header, good, secret) + ".extra",
        "jwe five segments": ".".join([segment({"alg": "dir", "enc": "A256GCM"}), "", "aXY", "Y2lwaGVy", "dGFn"]),
        "header not base64url": "!!!." + sign_by_hand(header, good, secret).split(".", 1)[1],
        "header json array": sign_by_hand([header], good, secret),
        "payload json string": sign_by_hand(header, "claims", secret),
        "payload not json": ".".join([segment(header), base64.urlsafe_b64encode(b"{oops").decode().rstrip("="),
                                      "c2ln"]),
        "duplicate sub": _with_duplicate_sub(header, good, secret),
        "sub number": sign_by_hand(header, {**good, "sub": 42}, secret),
        "exp string": sign_by_hand(header, {**good, "exp": str(now + 300)}, secret),
        "exp boolean": sign_by_hand(header, {**good, "exp": True}, secret),
        "aud list without us": sign_by_hand(header, {**good, "aud": ["other", "another"]}, secret),
        "nbf in the future": sign_by_hand(header, {**good, "nbf": now + 3600}, secret),
        "iat in the future": sign_by_hand(header, {**good, "iat": now + 3600}, secret),
        "exp past leeway": sign_by_hand(header, {**good, "iat": now - 1000, "exp": now - 31}, secret),
        "over 8 KB": sign_by_hand(header, {**good, "padding": "x" * 8200}, secret),
        "kid path": sign_by_hand({**header, "kid": "../../x"}, good, secret),
        "kid 10 KB": sign_by_hand({**header, "kid": "k" * 10_240}, good, secret),
        "kid object": sign_by_hand({**header, "kid": {"a": 1}}, good, secret),
    })
    return tokens


def _with_duplicate_sub(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    body = json.dumps(payload)[:-1] + ', "sub": "someone-else"}'
    signing_input = f"{segment(header)}.{base64.urlsafe_b64encode(body.encode()).rstrip(b'=').decode()}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


HOSTILE_NAMES = [
    "alg none", "alg None", "alg NONE", "alg nOnE", "alg missing", "crit header", "two segments", "four segments",
    "jwe five segments", "header not base64url", "header json array", "payload json string", "payload not json",
    "duplicate sub", "sub number", "exp string", "exp boolean", "aud list without us", "nbf in the future",
    "iat in the future", "exp past leeway", "over 8 KB", "kid path", "kid 10 KB", "kid object",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_token_on_me_is_401(
    client: Client, provisioned: Stage, signing_jwk: dict[str, Any], name: str
) -> None:
    token = hostile_tokens(provisioned, signing_jwk)[name]

    assert_invalid_token(get_me(client, f"Bearer {token}"))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_token_on_refresh_is_401(
    client: Client, provisioned: Stage, signing_jwk: dict[str, Any], name: str
) -> None:
    token = hostile_tokens(provisioned, signing_jwk)[name]

    response = client.http.post("/auth/refresh", body=json.dumps({"refresh_token": token}), headers=JSON)

    assert response.status_code == 401
    assert response.json_body["error"] == "invalid_grant"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_hostile_corpus_is_complete(provisioned: Stage, signing_jwk: dict[str, Any]) -> None:
    assert sorted(hostile_tokens(provisioned, signing_jwk)) == sorted(HOSTILE_NAMES)


def test_oversized_token_rejected_before_decoding(client: Client) -> None:
    # Not base64url at all: only a length check can reject it without decoding errors.
    response = get_me(client, "Bearer " + "%" * 9000)

    assert_invalid_token(response)
    assert response.json_body["error_description"] == "The token is too long"
