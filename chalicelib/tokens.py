"""Issuing and verifying HS512 access and refresh tokens."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from chalicelib.errors import InvalidToken
from chalicelib.keys import ALGORITHM, KeySource

TokenUse = Literal["access", "refresh"]

MAX_TOKEN_LENGTH = 8192  # bytes; checked before any base64 or JSON decoding
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "token_use"]
_STRING_CLAIMS = ("sub", "username", "sid", "jti")
_WRONG_USE: dict[TokenUse, str] = {
    "access": "The token is not an access token",
    "refresh": "The token is not a refresh token",
}


@dataclass(frozen=True)
class Claims:
    """The verified or to-be-signed claims of one keypin token."""

    sub: str
    username: str
    sid: str
    jti: str
    iat: int
    exp: int
    token_use: TokenUse


class TokenCodec:
    """Signs tokens with the key set's signer and verifies them against every key in it."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway_seconds: int) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    def new_claims(self, *, sub: str, username: str, sid: str, token_use: TokenUse, ttl_seconds: int) -> Claims:
        """Return fresh claims with a random `jti`, issued now."""
        now = int(time.time())
        return Claims(sub, username, sid, secrets.token_urlsafe(16), now, now + ttl_seconds, token_use)

    def encode(self, claims: Claims) -> str:
        """Sign `claims`; the same claims and key always give the same token."""
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": claims.sub,
            "username": claims.username,
            "sid": claims.sid,
            "iat": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
            "token_use": claims.token_use,
        }
        signer = self.keys.signer
        return jwt.encode(payload, signer.secret, algorithm=ALGORITHM, headers={"kid": signer.kid})

    def decode(self, token: str, expected_use: TokenUse) -> Claims:
        """Verify `token` and return its claims, or raise `InvalidToken`."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("The token is too long")
        if token.count(".") != 2:
            raise InvalidToken("The token is not a signed JWT")

        key = self.keys.find(_read_kid(token))
        if key is None:
            raise InvalidToken("The token was signed with an unknown key")

        payload = _verified_payload(
            token, key.secret, issuer=self._issuer, audience=self._audience, leeway=self._leeway
        )
        return _claims_from(payload, expected_use)


def _read_kid(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("The token header is malformed") from None

    # RFC 7515 §4.1.11: a recipient must reject a token whose crit header it does not process.
    if "crit" in header:
        raise InvalidToken("The token has a critical header keypin does not support")

    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("The token header has no key id")
    return kid


def _verified_payload(token: str, secret: bytes, *, issuer: str, audience: str, leeway: int) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("The token is not valid yet") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("The token signature is invalid") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidToken("The token is not signed with HS512") from None
    except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
        raise InvalidToken("The token was issued for another service") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The token has no {exc.claim} claim") from None
    except jwt.PyJWTError:
        raise InvalidToken("The token is malformed") from None
    return payload


def _claims_from(payload: dict[str, Any], expected_use: TokenUse) -> Claims:
    token_use = payload.get("token_use")
    if token_use != expected_use:
        raise InvalidToken(_WRONG_USE[expected_use])

    for name in _STRING_CLAIMS:
        if not isinstance(payload.get(name), str):
            raise InvalidToken(f"The token has no valid {name} claim")

    for name in ("iat", "exp"):
        if isinstance(payload[name], bool) or not isinstance(payload[name], int):
            raise InvalidToken(f"The token has no valid {name} claim")

    return Claims(
        sub=payload["sub"],
        username=payload["username"],
        sid=payload["sid"],
        jti=payload["jti"],
        iat=payload["iat"],
        exp=payload["exp"],
        token_use=expected_use,
    )
