"""Strict checks of a compact JWS and its claims, before and after the signature check.

PyJWT verifies the signature, and keypin parses the header and payload itself so that
it can reject what PyJWT lets through: duplicate members (RFC 7519 §4 lets a parser
reject them instead of keeping the last one), a `crit` header, non-integer times and
claims of the wrong type.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

import jwt
from jwt.api_jws import PyJWS

from chalicelib.errors import InvalidToken
from chalicelib.keys import ALGORITHM

MAX_TOKEN_LENGTH = 8192  # characters; checked before any base64 or JSON decoding

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_JWS = PyJWS(options={"verify_signature": True})
_STRING_CLAIMS = ("iss", "sub", "username", "sid", "jti", "token_use")


def check_shape(token: str) -> tuple[str, str]:
    """Return the header and payload segments of a three-part base64url token."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("The token is too long")
    if not _COMPACT_JWS.match(token):
        raise InvalidToken("The token is not a signed JWT in compact form")

    header, payload, _ = token.split(".")
    return header, payload


def parse_header(segment: str) -> str:
    """Check the JOSE header and return its `kid`."""
    header = parse_segment(segment, "header")
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("The token is not signed with HS512")
    # RFC 7515 §4.1.11: a recipient must reject a token whose crit header it does not process.
    if "crit" in header:
        raise InvalidToken("The token has a critical header keypin does not support")

    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("The token header has no key id")
    return kid


def verify_signature(token: str, secret: bytes) -> None:
    """Check the HS512 signature of `token` with `secret`."""
    try:
        _JWS.decode_complete(token, secret, algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError:
        raise InvalidToken("The token signature is invalid") from None
    except jwt.PyJWTError:
        raise InvalidToken("The token is malformed") from None


def parse_segment(segment: str, name: str) -> dict[str, Any]:
    """Decode one base64url segment as a JSON object without duplicate members."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidToken(f"The token {name} is not valid base64url-encoded JSON") from None

    if not isinstance(value, dict):
        raise InvalidToken(f"The token {name} is not a JSON object")
    return value


def check_claims(payload: dict[str, Any], *, issuer: str, audience: str, leeway: int) -> None:
    """Check types, issuer, audience and times of a verified payload."""
    for name in _STRING_CLAIMS:
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise InvalidToken(f"The token has no valid {name} claim")
    for name in ("iat", "exp"):
        if not _is_time(payload.get(name)):
            raise InvalidToken(f"The token has no valid {name} claim")
    if "nbf" in payload and not _is_time(payload["nbf"]):
        raise InvalidToken("The token has no valid nbf claim")

    if payload["iss"] != issuer or not _has_audience(payload.get("aud"), audience):
        raise InvalidToken("The token was issued for another service")

    check_times(payload["exp"], max(payload["iat"], payload.get("nbf", 0)), leeway)


def check_times(exp: int, not_before: int, leeway: int) -> None:
    """Reject a token outside [not_before, exp], widened by `leeway` seconds of clock skew."""
    now = time.time()
    if now > exp + leeway:
        raise InvalidToken("The token has expired")
    if not_before > now + leeway:
        raise InvalidToken("The token is not valid yet")


def _has_audience(aud: Any, audience: str) -> bool:
    # RFC 7519 §4.1.3: aud is one string or an array of strings, and must name us.
    if isinstance(aud, str):
        return aud == audience
    return isinstance(aud, list) and all(isinstance(item, str) for item in aud) and audience in aud


def _is_time(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member")
    return members


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
