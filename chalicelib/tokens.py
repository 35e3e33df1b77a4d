"""Issuing and verifying HS512 access and refresh tokens."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from chalicelib.errors import InvalidToken
from chalicelib.keys import ALGORITHM, KeySource
from chalicelib.token_cache import VerifiedTokenCache
from chalicelib.token_checks import (
    check_claims,
    check_shape,
    check_times,
    parse_header,
    parse_segment,
    verify_signature,
)

TokenUse = Literal["access", "refresh"]

# Verified access tokens kept per container; 2,048 entries of about 1 KB each.
VERIFIED_CACHE_ENTRIES = 2048
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
        self._verified: VerifiedTokenCache[Claims] = VerifiedTokenCache(VERIFIED_CACHE_ENTRIES)

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
        header_segment, payload_segment = check_shape(token)

        cached = self._verified.get(token)
        if cached is not None and self.keys.find(cached[0].kid) is cached[0]:
            claims = cached[1]
            check_times(claims.exp, claims.iat, self._leeway)
            return _expect_use(claims, expected_use)

        key = self.keys.find(parse_header(header_segment))
        if key is None:
            raise InvalidToken("The token was signed with an unknown key")
        verify_signature(token, key.secret)

        payload = parse_segment(payload_segment, "payload")
        check_claims(payload, issuer=self._issuer, audience=self._audience, leeway=self._leeway)
        claims = _claims_from(payload)
        self._verified.put(token, key, claims)
        return _expect_use(claims, expected_use)


def _claims_from(payload: dict[str, Any]) -> Claims:
    token_use = payload["token_use"]
    if token_use not in ("access", "refresh"):
        raise InvalidToken("The token has no valid token_use claim")

    return Claims(
        sub=payload["sub"],
        username=payload["username"],
        sid=payload["sid"],
        jti=payload["jti"],
        iat=payload["iat"],
        exp=payload["exp"],
        token_use=token_use,
    )


def _expect_use(claims: Claims, expected_use: TokenUse) -> Claims:
    if claims.token_use != expected_use:
        raise InvalidToken(_WRONG_USE[expected_use])
    return claims
