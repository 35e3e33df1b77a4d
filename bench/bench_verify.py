"""keypin's token verification against raw PyJWT with the same key and checks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from bench.conftest import WarmApp
from bench.results import Results

FIRST_SEEN_ROUNDS = 6000  # per verifier
BLOCK = 50  # tokens a verifier decodes before the next one takes its turn
WARMUP_BLOCKS = 3
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "token_use"]


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


def bench_verify_first_seen(warm_app: WarmApp, results: Results, quick: bool) -> None:
    """Time PyJWT, keypin and the by-hand reference on first-seen tokens, in interleaved blocks.

    pytest-benchmark would time the three one after another, so a burst of load from other
    processes during one of them would bias the ratios. Here every block of tokens goes to
    each verifier in turn, in a rotated order, and each call is timed on its own.
    """
    decoders: dict[str, Callable[[str], Any]] = {
        "verify.pyjwt": pyjwt_decoder(warm_app),
        "verify.keypin.first": lambda token: warm_app.codec.decode(token, "access"),
        "verify.by_hand": by_hand_decoder(warm_app),
    }
    names = list(decoders)
    blocks, warmup_blocks = (1, 0) if quick else (FIRST_SEEN_ROUNDS // BLOCK, WARMUP_BLOCKS)
    samples: dict[str, list[float]] = {name: [] for name in names}

    for block in range(warmup_blocks + blocks):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            tokens = [warm_app.access_token() for _ in range(BLOCK)]
            decode = decoders[name]
            for token in tokens:
                started = time.perf_counter()
                decode(token)
                elapsed = time.perf_counter() - started
                if block >= warmup_blocks:
                    samples[name].append(elapsed)

    for name in names:
        results.add_samples(name, samples[name])


def bench_verify_keypin_repeated(benchmark: Any, warm_app: WarmApp, results: Results) -> None:
    token = warm_app.access_token()
    warm_app.codec.decode(token, "access")

    benchmark(warm_app.codec.decode, token, "access")
    results.add_benchmark("verify.keypin.repeat", benchmark)


@pytest.fixture(autouse=True)
def _decoders_agree(warm_app: WarmApp) -> None:
    """Check that the three decoders accept the same token and return the same claims."""
    token = warm_app.access_token()
    claims = warm_app.codec.decode(token, "access")
    assert pyjwt_decoder(warm_app)(token)["jti"] == claims.jti
    assert by_hand_decoder(warm_app)(token)["jti"] == claims.jti
