"""keypin's token verification against raw PyJWT with the same key and checks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from bench.conftest import WarmApp
from bench.results import Results

FIRST_SEEN_ROUNDS = 5000
WARMUP_ROUNDS = 200
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "token_use"]


def fresh_tokens(warm_app: WarmApp, quick: bool) -> Iterator[str]:
    """Yield enough distinct access tokens for one first-seen benchmark."""
    count = 2 if quick else FIRST_SEEN_ROUNDS + WARMUP_ROUNDS
    return iter([warm_app.access_token() for _ in range(count)])


def pyjwt_decoder(warm_app: WarmApp) -> Callable[[str], dict[str, Any]]:
    """Return raw PyJWT verification with keypin's key, algorithm list and claim checks."""
    secret = warm_app.codec.keys.signer.secret
    settings = warm_app.settings

    def decode(token: str) -> dict[str, Any]:
        payload: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS512"], issuer=settings.issuer, audience=settings.audience,
            leeway=settings.leeway_seconds, options={"require": REQUIRED_CLAIMS},
        )
        if payload["token_use"] != "access":
            raise jwt.InvalidTokenError("not an access token")
        return payload

    return decode


def by_hand_decoder(warm_app: WarmApp) -> Callable[[str], dict[str, Any]]:
    """Return the reference cost: HMAC-SHA512, base64url and JSON, with no claim checks."""
    secret = warm_app.codec.keys.signer.secret

    def decode(token: str) -> dict[str, Any]:
        signing_input, _, signature = token.rpartition(".")
        expected = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha512).digest()
        if not hmac.compare_digest(expected, _b64url(signature)):
            raise ValueError("bad signature")
        header, _, payload = signing_input.partition(".")
        json.loads(_b64url(header))
        result: dict[str, Any] = json.loads(_b64url(payload))
        return result

    return decode


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def first_seen(benchmark: Any, decode: Callable[..., Any], tokens: Iterator[str], *extra: Any) -> None:
    benchmark.pedantic(decode, setup=lambda: ((next(tokens), *extra), {}),
                       rounds=FIRST_SEEN_ROUNDS, warmup_rounds=WARMUP_ROUNDS)


def bench_verify_pyjwt(benchmark: Any, warm_app: WarmApp, results: Results, quick: bool) -> None:
    first_seen(benchmark, pyjwt_decoder(warm_app), fresh_tokens(warm_app, quick))
    results.add_benchmark("verify.pyjwt", benchmark)


def bench_verify_keypin_first_seen(benchmark: Any, warm_app: WarmApp, results: Results, quick: bool) -> None:
    first_seen(benchmark, warm_app.codec.decode, fresh_tokens(warm_app, quick), "access")
    results.add_benchmark("verify.keypin.first", benchmark)


def bench_verify_keypin_repeated(benchmark: Any, warm_app: WarmApp, results: Results) -> None:
    token = warm_app.access_token()
    warm_app.codec.decode(token, "access")

    benchmark(warm_app.codec.decode, token, "access")
    results.add_benchmark("verify.keypin.repeat", benchmark)


def bench_verify_by_hand(benchmark: Any, warm_app: WarmApp, results: Results, quick: bool) -> None:
    first_seen(benchmark, by_hand_decoder(warm_app), fresh_tokens(warm_app, quick))
    results.add_benchmark("verify.by_hand", benchmark)


@pytest.fixture(autouse=True)
def _decoders_agree(warm_app: WarmApp) -> None:
    """Check that the three decoders accept the same token and return the same claims."""
    token = warm_app.access_token()
    claims = warm_app.codec.decode(token, "access")
    assert pyjwt_decoder(warm_app)(token)["jti"] == claims.jti
    assert by_hand_decoder(warm_app)(token)["jti"] == claims.jti
