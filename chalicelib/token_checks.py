"""Strict checks of a compact JWS and its claims, before and after the signature check.

PyJWT's HS512 algorithm verifies the signature. keypin parses the header and payload
itself, so that it can reject what `jwt.decode` lets through: duplicate members, which
RFC 7519 §4 lets a parser reject instead of keeping the last one, a `crit` header,
non-integer times and claims of the wrong type.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_decode

from chalicelib.errors import InvalidToken
from chalicelib.keys import ALGORITHM

MAX_TOKEN_LENGTH = 8192  # characters; checked before any base64 or JSON decoding

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_HS512 = HMACAlgorithm(HMACAlgorithm.SHA512)
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
    """Check the HS512 signature of `token`, already checked by `check_shape`, with `secret`."""
    signing_input, _, signature_segment = token.rpartition(".")
    try:
        signature = base64url_decode(signature_segment)
    except (binascii.Error, ValueError):
        raise InvalidToken("The token signature is not valid base64url") from None

    # PyJWT's HMAC algorithm compares in constant time. Calling it directly, rather than
    # through jwt.decode, skips a second parse of the header and payload that keypin
    # already parses strictly itself.
    if not _HS512.verify(signing_input.encode("ascii"), secret, signature):
        raise InvalidToken("The token signature is invalid")


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
