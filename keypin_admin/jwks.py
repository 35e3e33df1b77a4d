"""Creating signing keys and reading and writing JWK Set documents."""
from __future__ import annotations

import base64
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from chalicelib.keys import ALGORITHM, MIN_KEY_BYTES, parse_key_set, thumbprint


def new_jwk() -> dict[str, Any]:
    """Return a new random HS512 key as a JWK, with its thumbprint as `kid`."""
    k = base64.urlsafe_b64encode(secrets.token_bytes(MIN_KEY_BYTES)).rstrip(b"=").decode("ascii")
    # created_at is keypin's own JWK member (RFC 7517 §4 allows others); it dates the key.
    return {"kty": "oct", "alg": ALGORITHM, "use": "sig", "kid": thumbprint(k), "k": k, "created_at": int(time.time())}


def dump_jwk_set(keys: list[dict[str, Any]]) -> str:
    """Serialise `keys` as a JWK Set, after checking that keypin can load it."""
    text = json.dumps({"keys": keys}, separators=(",", ":"))
    parse_key_set(text)
    return text


def write_private_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 and write `text`; an existing file is never replaced."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def jwk_members(text: str) -> list[dict[str, Any]]:
    """Return the JWKs of a JWK or JWK Set document, unchanged, after checking that keypin can load it.

    Raises `InvalidKeyError`, whose message contains no key material.
    """
    parse_key_set(text)
    document: dict[str, Any] = json.loads(text)
    members: list[dict[str, Any]] = document.get("keys", [document])
    return members


def kid_of(jwk: dict[str, Any]) -> str:
    """Return the `kid` keypin uses for `jwk`: its own, or its RFC 7638 thumbprint."""
    kid = jwk.get("kid")
    return kid if isinstance(kid, str) else thumbprint(jwk["k"])


def created_at(jwk: dict[str, Any]) -> int | None:
    """Return the creation time that `new_jwk` recorded, in epoch seconds, or None for other keys."""
    value = jwk.get("created_at")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
