"""Parsing JWKs and JWK Sets into keypin's key set."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest

from chalicelib.keys import InvalidKeyError, parse_key_set, thumbprint


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oct_jwk(size: int = 64, **members: Any) -> dict[str, Any]:
    return {"kty": "oct", "k": b64url(secrets.token_bytes(size)), **members}


def test_parse_key_set_single_jwk_is_a_set_of_one() -> None:
    jwk = oct_jwk(alg="HS512", kid="only")

    key_set = parse_key_set(json.dumps(jwk))

    assert key_set.kids == ("only",)
    assert key_set.signer.secret == base64.urlsafe_b64decode(jwk["k"] + "==")


def test_parse_key_set_first_key_signs_all_verify() -> None:
    document = {"keys": [oct_jwk(kid="new"), oct_jwk(kid="old")]}

    key_set = parse_key_set(json.dumps(document))

    assert key_set.signer.kid == "new"
    assert key_set.find("old") is not None
    assert key_set.find("unknown") is None


def test_parse_key_set_missing_kid_is_rfc7638_thumbprint() -> None:
    jwk = oct_jwk()

    key_set = parse_key_set(json.dumps(jwk))

    assert key_set.signer.kid == thumbprint(jwk["k"])


def test_thumbprint_matches_rfc7638_construction() -> None:
    # RFC 7638 §3: SHA-256 over {"k":...,"kty":"oct"} with sorted members and no whitespace.
    k = "GawgguFyGrWKav7AX4VKUg"
    expected = b64url(hashlib.sha256(b'{"k":"GawgguFyGrWKav7AX4VKUg","kty":"oct"}').digest())

    assert thumbprint(k) == expected


def test_parse_key_set_accepts_webcrypto_export() -> None:
    # The shape crypto.subtle.exportKey("jwk", key) gives for an HMAC SHA-512 key.
    jwk = {"kty": "oct", "k": b64url(secrets.token_bytes(128)), "alg": "HS512", "key_ops": ["sign", "verify"],
           "ext": True}

    key_set = parse_key_set(json.dumps(jwk))

    assert key_set.signer.kid == thumbprint(jwk["k"])
    assert len(key_set.signer.secret) == 128


def test_parse_key_set_absent_alg_means_hs512() -> None:
    key_set = parse_key_set(json.dumps(oct_jwk()))

    assert len(key_set.keys) == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"keys": []}', "no keys"),
        ('{"keys": {}}', "list"),
        ('{"keys": [1]}', "not a JSON object"),
    ],
)
def test_parse_key_set_rejects_malformed_document(text: str, fragment: str) -> None:
    with pytest.raises(InvalidKeyError, match=fragment):
        parse_key_set(text)


@pytest.mark.parametrize(
    ("jwk", "fragment"),
    [
        (oct_jwk(alg="HS256"), "alg 'HS256'"),
        (oct_jwk(alg="none"), "alg 'none'"),
        ({**oct_jwk(), "kty": "RSA"}, "kty 'RSA'"),
        ({"k": b64url(secrets.token_bytes(64))}, "kty missing"),
        (oct_jwk(size=32), "32 bytes"),
        (oct_jwk(size=63), "63 bytes"),
        ({"kty": "oct"}, '"k"'),
        ({"kty": "oct", "k": "not base64url!"}, '"k"'),
        (oct_jwk(use="enc"), "use 'enc'"),
        (oct_jwk(key_ops=["encrypt"]), "key_ops"),
        (oct_jwk(kid=7), "kid"),
        (oct_jwk(kid=""), "kid"),
    ],
)
def test_parse_key_set_rejects_unusable_key(jwk: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidKeyError, match=fragment.replace("(", r"\(")) as info:
        parse_key_set(json.dumps(jwk))

    if isinstance(jwk.get("k"), str):
        assert jwk["k"] not in str(info.value)


def test_parse_key_set_rejects_duplicate_kids() -> None:
    document = {"keys": [oct_jwk(kid="same"), oct_jwk(kid="same")]}

    with pytest.raises(InvalidKeyError, match="two keys"):
        parse_key_set(json.dumps(document))


def test_signing_key_repr_hides_secret() -> None:
    jwk = oct_jwk(kid="visible")

    key_set = parse_key_set(json.dumps(jwk))

    assert "secret" not in repr(key_set.signer)
    assert "visible" in repr(key_set.signer)
