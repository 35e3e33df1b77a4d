"""HMAC signing keys: parsing a JWK or JWK Set (RFC 7517) into a key set.

Error messages name the key by its position and `kid`, never by its material: an `oct`
JWK's `k` member is the secret itself.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ALGORITHM = "HS512"
MIN_KEY_BYTES = 64  # RFC 7518 §3.2: an HS512 key is at least as long as the hash output.
MAX_KID_LENGTH = 128

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_SIGNING_OPS = frozenset({"sign", "verify"})


class InvalidKeyError(ValueError):
    """The JWK or JWK Set cannot be used as keypin's signing keys."""


@dataclass(frozen=True)
class SigningKey:
    """One HS512 key and its key id."""

    kid: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class KeySet:
    """The loaded keys: the first one signs, every one verifies."""

    keys: tuple[SigningKey, ...]

    @property
    def signer(self) -> SigningKey:
        return self.keys[0]

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)

    def find(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


class KeySource(Protocol):
    """The source of signing keys for tokens: a fixed `KeySet`, or a key ring that re-reads SSM."""

    @property
    def signer(self) -> SigningKey: ...

    def find(self, kid: str) -> SigningKey | None: ...


def thumbprint(k: str) -> str:
    """Return the RFC 7638 JWK thumbprint of an `oct` key, base64url-encoded SHA-256."""
    # RFC 7638 §3.2: the required members of an oct key, sorted, without whitespace.
    canonical = json.dumps({"k": k, "kty": "oct"}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_key_set(text: str) -> KeySet:
    """Parse a JWK Set `{"keys": [...]}` or a single JWK into a key set."""
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidKeyError("the value is not valid JSON") from None

    if not isinstance(document, dict):
        raise InvalidKeyError("the value must be a JSON object: a JWK or a JWK Set")

    members = document.get("keys", [document])
    if not isinstance(members, list):
        raise InvalidKeyError('"keys" must be a list of JWKs')
    if not members:
        raise InvalidKeyError('the JWK Set has no keys ("keys" is empty)')

    keys = tuple(parse_jwk(member, position) for position, member in enumerate(members))
    _reject_duplicate_kids(keys)
    return KeySet(keys)


def parse_jwk(member: Any, position: int = 0) -> SigningKey:
    """Validate one JWK and return it as a signing key; `position` only labels errors."""
    label = f"key {position}"
    if not isinstance(member, Mapping):
        raise InvalidKeyError(f"{label} is not a JSON object")

    kid = member.get("kid")
    if kid is not None:
        _check_kid(kid, label)
        label = f"key {position} (kid {kid!r})"

    kty = member.get("kty")
    if kty != "oct":
        raise InvalidKeyError(f'{label} has kty {_describe(kty)}; keypin needs a symmetric key, kty "oct"')

    alg = member.get("alg", ALGORITHM)
    if alg != ALGORITHM:
        raise InvalidKeyError(f"{label} has alg {_describe(alg)}; keypin signs with {ALGORITHM} only")

    _check_usage(member, label)
    secret = _decode_k(member.get("k"), label)
    if len(secret) < MIN_KEY_BYTES:
        raise InvalidKeyError(
            f"{label} has {len(secret)} bytes of key material; {ALGORITHM} needs at least {MIN_KEY_BYTES}"
        )

    return SigningKey(kid=kid if kid is not None else thumbprint(member["k"]), secret=secret)


def _check_kid(kid: Any, label: str) -> None:
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise InvalidKeyError(f'{label} has a "kid" that is not a string of 1 to {MAX_KID_LENGTH} characters')


def _check_usage(member: Mapping[str, Any], label: str) -> None:
    use = member.get("use")
    if use is not None and use != "sig":
        raise InvalidKeyError(f'{label} has use {_describe(use)}; a signing key has use "sig"')

    # WebCrypto exports add key_ops (["sign", "verify"]) and ext; both are accepted as they are.
    key_ops = member.get("key_ops")
    if key_ops is None:
        return
    if not isinstance(key_ops, list) or not _SIGNING_OPS.intersection(op for op in key_ops if isinstance(op, str)):
        raise InvalidKeyError(f'{label} has key_ops without "sign" or "verify"')


def _decode_k(k: Any, label: str) -> bytes:
    if not isinstance(k, str) or not _BASE64URL.match(k):
        raise InvalidKeyError(f'{label} has no "k" member in base64url')

    padded = k.rstrip("=") + "=" * (-len(k.rstrip("=")) % 4)
    try:
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        raise InvalidKeyError(f'{label} has a "k" member that is not valid base64url') from None


def _reject_duplicate_kids(keys: tuple[SigningKey, ...]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key.kid in seen:
            raise InvalidKeyError(f"the JWK Set contains two keys with kid {key.kid!r}")
        seen.add(key.kid)


def _describe(value: Any) -> str:
    """Name a header value for a message; only `kty`, `alg` and `use` pass through here."""
    if isinstance(value, str):
        return repr(value[:32])
    return "missing" if value is None else f"of type {type(value).__name__}"
