"""Warm-container key refresh: when the key ring re-reads SSM, and what it keeps when SSM fails."""
from __future__ import annotations

import json
import logging
import secrets
import threading
from typing import Any

import jwt
import pytest

from chalicelib import aws
from chalicelib.errors import InvalidToken
from chalicelib.keyring import KeyRing
from chalicelib.tokens import TokenCodec
from keypin_admin.key_commands import retire_keys, rotate_keys
from tests.conftest import Stage

REFRESH_INTERVAL = 30
MAX_AGE = 300


class Clock:
    """A monotonic clock that tests move forward by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class ReadCounter:
    """Counts the GetParameter calls one SSM client sends, through a botocore event hook."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        client.meta.events.register("before-call.ssm.GetParameter", self._on_call)

    def _on_call(self, **_: Any) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring_client(provisioned: Stage) -> Any:
    """The SSM client of the key ring under test; the operator commands use another one."""
    return aws.ssm_client()


@pytest.fixture
def reads(ring_client: Any) -> ReadCounter:
    return ReadCounter(ring_client)


@pytest.fixture
def ring(provisioned: Stage, ring_client: Any, reads: ReadCounter, clock: Clock) -> KeyRing:
    return KeyRing.load(ring_client, provisioned.parameter, refresh_interval_seconds=REFRESH_INTERVAL,
                        max_age_seconds=MAX_AGE, clock=clock)


def codec_for(keys: Any) -> TokenCodec:
    return TokenCodec(keys, issuer="keypin-test", audience="keypin-test-api", leeway_seconds=30)


def access_token(codec: TokenCodec) -> str:
    claims = codec.new_claims(sub="user-1", username="alice", sid="session-1", token_use="access", ttl_seconds=900)
    return codec.encode(claims)


def forged_token(kid: str) -> str:
    return jwt.encode({"sub": "mallory"}, secrets.token_bytes(64), algorithm="HS512", headers={"kid": kid})


def operator(stage: Stage) -> tuple[Any, str]:
    """Return an SSM client of its own for the operator commands, and the parameter name."""
    return aws.ssm_client(), stage.parameter


def test_keyring_load_reads_parameter_once(ring: KeyRing, reads: ReadCounter) -> None:
    assert reads.count == 1


def test_keyring_known_kid_needs_no_read(ring: KeyRing, reads: ReadCounter, clock: Clock) -> None:
    codec = codec_for(ring)
    token = access_token(codec)

    for _ in range(50):
        clock.now += 1
        codec.decode(token, "access")

    assert reads.count == 1


def test_keyring_new_kid_after_rotation_takes_one_read(provisioned: Stage, ring: KeyRing, reads: ReadCounter,
                                                       clock: Clock) -> None:
    # GIVEN a warm container whose keys were loaded before the rotation
    warm = codec_for(ring)
    ssm, parameter = operator(provisioned)
    rotate_keys(ssm, parameter, output=lambda line: None)

    # WHEN a container started after the rotation issues a token with the new kid
    fresh = codec_for(KeyRing.load(ssm, parameter, refresh_interval_seconds=REFRESH_INTERVAL,
                                   max_age_seconds=MAX_AGE))
    token = access_token(fresh)
    clock.now += 1

    # THEN the warm container accepts it after exactly one re-read, and signs with the new key
    assert warm.decode(token, "access").username == "alice"
    assert reads.count == 2
    assert ring.signer.kid == fresh.keys.signer.kid


def test_keyring_unknown_kids_read_once_per_interval(ring: KeyRing, reads: ReadCounter, clock: Clock) -> None:
    codec = codec_for(ring)

    for _ in range(1000):
        with pytest.raises(InvalidToken):
            codec.decode(forged_token(secrets.token_urlsafe(8)), "access")

    assert reads.count == 2


def test_keyring_unknown_kid_reads_again_after_interval(ring: KeyRing, reads: ReadCounter, clock: Clock) -> None:
    assert ring.find("unknown-1") is None
    clock.now += REFRESH_INTERVAL - 1
    assert ring.find("unknown-2") is None
    assert reads.count == 2

    clock.now += 1
    assert ring.find("unknown-3") is None

    assert reads.count == 3


def test_keyring_concurrent_unknown_kids_read_once(ring: KeyRing, reads: ReadCounter) -> None:
    codec = codec_for(ring)
    tokens = [forged_token(secrets.token_urlsafe(8)) for _ in range(1000)]
    rejected: list[int] = []

    def verify(batch: list[str]) -> None:
        count = 0
        for token in batch:
            try:
                codec.decode(token, "access")
            except InvalidToken:
                count += 1
        rejected.append(count)

    threads = [threading.Thread(target=verify, args=(tokens[start::8],)) for start in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(rejected) == 1000
    assert reads.count == 2


def test_keyring_rereads_after_max_age(provisioned: Stage, ring: KeyRing, reads: ReadCounter, clock: Clock) -> None:
    first_signer = ring.signer.kid
    ssm, parameter = operator(provisioned)
    rotate_keys(ssm, parameter, output=lambda line: None)

    clock.now += MAX_AGE - 1
    assert ring.signer.kid == first_signer
    clock.now += 1
    new_signer = ring.signer.kid

    assert new_signer != first_signer
    assert reads.count == 2


def test_keyring_retired_kid_rejected_after_max_age(provisioned: Stage, ring: KeyRing, clock: Clock) -> None:
    # GIVEN a token signed with the first key, then a rotation and the retirement of that key
    codec = codec_for(ring)
    token = access_token(codec)
    ssm, parameter = operator(provisioned)
    rotate_keys(ssm, parameter, output=lambda line: None)
    retire_keys(ssm, parameter, kid=ring.signer.kid, older_than_seconds=None, output=lambda line: None)

    # WHEN the loaded set reaches its maximum age
    clock.now += MAX_AGE

    # THEN the warm container no longer accepts the token
    with pytest.raises(InvalidToken, match="unknown key"):
        codec.decode(token, "access")


def test_keyring_failed_reread_keeps_keys(provisioned: Stage, ring: KeyRing, reads: ReadCounter, clock: Clock,
                                          caplog: pytest.LogCaptureFixture) -> None:
    codec = codec_for(ring)
    token = access_token(codec)
    ssm, parameter = operator(provisioned)
    ssm.delete_parameter(Name=parameter)

    clock.now += MAX_AGE
    with caplog.at_level(logging.WARNING, logger="chalicelib.keyring"):
        claims = codec.decode(token, "access")

    assert claims.username == "alice"
    assert reads.count == 2
    assert "Keeping the loaded signing keys" in caplog.text
    assert parameter in caplog.text


def test_keyring_failed_reread_retried_after_interval(provisioned: Stage, ring: KeyRing, reads: ReadCounter,
                                                      clock: Clock) -> None:
    ssm, parameter = operator(provisioned)
    ssm.delete_parameter(Name=parameter)

    clock.now += MAX_AGE
    ring.signer  # noqa: B018 -- reading the property is the request
    clock.now += REFRESH_INTERVAL - 1
    ring.signer  # noqa: B018
    assert reads.count == 2

    clock.now += 1
    ring.signer  # noqa: B018

    assert reads.count == 3


def test_keyring_malformed_value_keeps_keys_and_hides_it(provisioned: Stage, ring: KeyRing, clock: Clock,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a parameter overwritten with a key that is too short to use
    loaded = ring.signer.kid
    ssm, parameter = operator(provisioned)
    short_k = jwt.utils.base64url_encode(secrets.token_bytes(32)).decode()
    ssm.put_parameter(Name=parameter, Value=json.dumps({"kty": "oct", "k": short_k}), Type="SecureString",
                      Overwrite=True)

    # WHEN the unknown kid of a forged token makes the ring re-read
    with caplog.at_level(logging.INFO, logger="chalicelib"):
        assert ring.find("forged") is None

    # THEN the loaded key still signs and the log names the problem but not the value
    assert ring.signer.kid == loaded
    assert "32 bytes" in caplog.text
    assert short_k not in caplog.text


def test_keyring_logs_no_key_material(provisioned: Stage, ring: KeyRing, clock: Clock,
                                      caplog: pytest.LogCaptureFixture) -> None:
    ssm, parameter = operator(provisioned)
    rotate_keys(ssm, parameter, output=lambda line: None)
    value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]

    with caplog.at_level(logging.DEBUG, logger="chalicelib"):
        ring.find("forged")
        clock.now += MAX_AGE
        ring.find("other")

    for jwk in json.loads(value)["keys"]:
        assert jwk["k"] not in caplog.text
