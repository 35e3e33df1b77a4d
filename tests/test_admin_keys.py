"""The `keys` commands of the operator CLI, in-process against moto's mock."""
from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet as JoseKeySet
from joserfc.jwt import JWTClaimsRegistry

from chalicelib import aws
from chalicelib.keyring import KeyRing
from chalicelib.keys import parse_key_set, thumbprint
from chalicelib.tokens import TokenCodec
from keypin_admin.cli import main
from keypin_admin.jwks import new_jwk
from keypin_admin.key_commands import parse_duration
from keypin_admin.stage import put_key_parameter
from tests.conftest import Stage

FIXTURES = Path(__file__).parent / "fixtures"
WEBCRYPTO_JWK = FIXTURES / "webcrypto-hs512.jwk.json"
DAY = 86_400


def stored_keys(stage: Stage) -> list[dict[str, Any]]:
    value = aws.ssm_client().get_parameter(Name=stage.parameter, WithDecryption=True)["Parameter"]["Value"]
    keys: list[dict[str, Any]] = json.loads(value)["keys"]
    return keys


def store_keys(stage: Stage, keys: list[dict[str, Any]]) -> None:
    put_key_parameter(aws.ssm_client(), stage.parameter, json.dumps({"keys": keys}), kms_key_id=None, overwrite=True)


def aged_jwk(days: int, kid: str) -> dict[str, Any]:
    return {**new_jwk(), "kid": kid, "created_at": int(time.time()) - days * DAY}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write_jwk(tmp_path: Path, jwk: dict[str, Any]) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(jwk), encoding="utf-8")
    return path


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def empty_stage(mocked_aws: None, stage: Stage) -> Stage:
    """A stage with no key parameter yet."""
    return stage


def test_keys_init_creates_one_key(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keys", "init")

    keys = stored_keys(empty_stage)
    assert status == 0
    assert len(keys) == 1
    assert len(base64.urlsafe_b64decode(keys[0]["k"] + "==")) == 64
    assert keys[0]["kid"] in out


def test_keys_init_rejects_existing_parameter(provisioned: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    before = stored_keys(provisioned)

    status, _, err = run(capsys, "keys", "init")

    assert status == 1
    assert "already exists" in err
    assert stored_keys(provisioned) == before


def test_keys_rotate_puts_new_signer_first(provisioned: Stage, signing_jwk: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keys", "rotate")

    keys = stored_keys(provisioned)
    assert status == 0
    assert len(keys) == 2
    assert keys[1] == signing_jwk
    assert keys[0]["kid"] != signing_jwk["kid"]
    assert f"kid {keys[0]['kid']} now signs" in out


def test_keys_rotate_keeps_kms_key(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "keys", "init", "--kms-key-id", "alias/keypin-test")

    run(capsys, "keys", "rotate")

    described = aws.ssm_client().describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [empty_stage.parameter]}]
    )["Parameters"]
    assert described[0]["KeyId"] == "alias/keypin-test"
    assert described[0]["Version"] == 2


def test_keys_rotate_without_parameter_fails(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "keys", "rotate")

    assert status == 1
    assert "does not exist" in err
    assert "keys init" in err


def test_keys_retire_removes_verification_key(provisioned: Stage, signing_jwk: dict[str, Any],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "keys", "rotate")

    status, out, _ = run(capsys, "keys", "retire", "--kid", signing_jwk["kid"])

    kids = [key["kid"] for key in stored_keys(provisioned)]
    assert status == 0
    assert signing_jwk["kid"] not in kids
    assert len(kids) == 1
    assert f"kid {signing_jwk['kid']}: retired" in out


def test_keys_retire_rejects_signing_key(provisioned: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "keys", "rotate")
    signer = stored_keys(provisioned)[0]["kid"]

    status, _, err = run(capsys, "keys", "retire", "--kid", signer)

    assert status == 1
    assert "is the signing key" in err
    assert "keys rotate" in err
    assert len(stored_keys(provisioned)) == 2


def test_keys_retire_rejects_last_key(provisioned: Stage, signing_jwk: dict[str, Any],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "keys", "retire", "--kid", signing_jwk["kid"])

    assert status == 1
    assert "last key" in err
    assert stored_keys(provisioned) == [signing_jwk]


def test_keys_retire_unknown_kid_fails(provisioned: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "keys", "retire", "--kid", "no-such-kid")

    assert status == 1
    assert "no key with kid 'no-such-kid'" in err


def test_keys_retire_older_than_keeps_signer_and_undated(provisioned: Stage,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an old signer, an old and a recent verification key, and one imported without a date
    undated = {"kty": "oct", "k": b64url(secrets.token_bytes(64)), "kid": "imported"}
    store_keys(provisioned, [aged_jwk(400, "signer"), aged_jwk(200, "old"), aged_jwk(10, "recent"), undated])

    # WHEN keys older than 90 days are retired
    status, out, _ = run(capsys, "keys", "retire", "--older-than", "90d")

    # THEN only the old verification key goes
    assert status == 0
    assert [key["kid"] for key in stored_keys(provisioned)] == ["signer", "recent", "imported"]
    assert "kid old: retired" in out
    assert "kid signer: kept" in out
    assert "kid imported: kept" in out


def test_keys_retire_older_than_nothing_to_do(provisioned: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keys", "retire", "--older-than", "1d")

    assert status == 0
    assert "no key retired" in out
    assert len(stored_keys(provisioned)) == 1


def test_keys_retire_requires_kid_or_age(provisioned: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["keys", "retire"])

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--kid" in err


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("30m", 1800), ("12h", 43_200), ("90d", 90 * DAY),
                                               ("2w", 14 * DAY)])
def test_parse_duration_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "90", "d", "1.5d", "-1d", "3y"])
def test_parse_duration_rejects_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_keys_show_lists_kids_roles_and_times(provisioned: Stage, signing_jwk: dict[str, Any],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "keys", "rotate")
    keys = stored_keys(provisioned)

    status, out, _ = run(capsys, "keys", "show")

    lines = out.splitlines()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(signing_jwk["created_at"]))
    assert status == 0
    assert lines[0].split() == ["KID", "CREATED", "ROLE"]
    assert lines[1].startswith(keys[0]["kid"])
    assert lines[1].endswith("signs and verifies")
    assert lines[2].split()[:2] == [signing_jwk["kid"], created]
    assert lines[2].endswith("verifies")
    for key in keys:
        assert key["k"] not in out


def test_keys_import_webcrypto_export_as_is(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    exported = json.loads(WEBCRYPTO_JWK.read_text())

    status, out, _ = run(capsys, "keys", "import", str(WEBCRYPTO_JWK))

    assert status == 0
    assert stored_keys(empty_stage) == [exported]
    assert thumbprint(exported["k"]) in out
    assert exported["k"] not in out


def test_keys_import_webcrypto_signs_and_verifies(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the key exported by crypto.subtle.exportKey("jwk", ...) in Node, without a kid
    exported = json.loads(WEBCRYPTO_JWK.read_text())
    run(capsys, "keys", "import", str(WEBCRYPTO_JWK))

    # WHEN a container loads the parameter and issues a token
    ring = KeyRing.load(aws.ssm_client(), empty_stage.parameter, refresh_interval_seconds=30, max_age_seconds=300)
    codec = TokenCodec(ring, issuer="keypin-test", audience="keypin-test-api", leeway_seconds=30)
    claims = codec.new_claims(sub="user-1", username="alice", sid="session-1", token_use="access", ttl_seconds=60)
    token = codec.encode(claims)

    # THEN it signs with the imported key under its thumbprint and verifies the token
    assert ring.signer.kid == thumbprint(exported["k"])
    assert ring.signer.secret == base64.urlsafe_b64decode(exported["k"] + "==")
    assert codec.decode(token, "access") == claims


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"k": b64url(secrets.token_bytes(32))}, "32 bytes of key material; HS512 needs at least 64"),
        ({"kty": "RSA"}, "kty 'RSA'; keypin needs a symmetric key"),
    ],
)
def test_keys_import_rejects_unusable_webcrypto_key(empty_stage: Stage, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str], change: dict[str, str],
                                                    fragment: str) -> None:
    jwk = {**json.loads(WEBCRYPTO_JWK.read_text()), **change}

    status, out, err = run(capsys, "keys", "import", str(write_jwk(tmp_path, jwk)))

    assert status == 1
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert jwk["k"] not in err + out
    assert aws.ssm_client().describe_parameters()["Parameters"] == []


def test_keys_import_existing_parameter_needs_append(provisioned: Stage, signing_jwk: dict[str, Any],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "keys", "import", str(WEBCRYPTO_JWK))

    assert status == 1
    assert "--append" in err
    assert stored_keys(provisioned) == [signing_jwk]


def test_keys_import_append_adds_verification_key(provisioned: Stage, signing_jwk: dict[str, Any],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    exported = json.loads(WEBCRYPTO_JWK.read_text())

    status, _, _ = run(capsys, "keys", "import", "--append", str(WEBCRYPTO_JWK))

    assert status == 0
    assert stored_keys(provisioned) == [signing_jwk, exported]
    assert parse_key_set(json.dumps({"keys": stored_keys(provisioned)})).signer.kid == signing_jwk["kid"]


def test_keys_import_append_rejects_duplicate_kid(provisioned: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "keys", "import", "--append", str(WEBCRYPTO_JWK))

    status, _, err = run(capsys, "keys", "import", "--append", str(WEBCRYPTO_JWK))

    assert status == 1
    assert "already has kid" in err
    assert len(stored_keys(provisioned)) == 2


def test_keys_import_missing_file_fails(empty_stage: Stage, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "keys", "import", str(tmp_path / "absent.json"))

    assert status == 1
    assert "cannot read" in err
    assert "No such file" in err


def imported_codec(stage: Stage, capsys: pytest.CaptureFixture[str]) -> TokenCodec:
    """Import the WebCrypto fixture and return a codec that loads it as a cold start does."""
    assert run(capsys, "keys", "import", str(WEBCRYPTO_JWK))[0] == 0
    ring = KeyRing.load(aws.ssm_client(), stage.parameter, refresh_interval_seconds=30, max_age_seconds=300)
    return TokenCodec(ring, issuer="keypin-test", audience="keypin-test-api", leeway_seconds=30)


def test_imported_key_token_verifies_in_joserfc(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    codec = imported_codec(empty_stage, capsys)
    claims = codec.new_claims(sub="user-1", username="alice", sid="session-1", token_use="access", ttl_seconds=60)

    verified = joserfc_jwt.decode(codec.encode(claims), JoseKeySet.import_key_set({"keys": stored_keys(empty_stage)}),
                                  algorithms=["HS512"])
    JWTClaimsRegistry(iss={"essential": True, "value": "keypin-test"},
                      aud={"essential": True, "value": "keypin-test-api"}).validate(verified.claims)

    assert verified.header["kid"] == thumbprint(json.loads(WEBCRYPTO_JWK.read_text())["k"])
    assert verified.claims["username"] == "alice"
    assert verified.claims["jti"] == claims.jti


def test_joserfc_token_verifies_in_keypin(empty_stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a token that joserfc signs with the imported key and keypin's claims
    codec = imported_codec(empty_stage, capsys)
    jose_keys = JoseKeySet.import_key_set({"keys": stored_keys(empty_stage)})
    now = int(time.time())
    payload = {"iss": "keypin-test", "aud": "keypin-test-api", "sub": "user-1", "username": "alice",
               "sid": "session-1", "iat": now, "exp": now + 60, "jti": "jti-1", "token_use": "access"}
    key = jose_keys.keys[0]
    token = joserfc_jwt.encode({"alg": "HS512", "kid": key.thumbprint()}, payload, key, algorithms=["HS512"])

    # WHEN keypin verifies it
    claims = codec.decode(token, "access")

    # THEN the claims are the ones joserfc signed
    assert claims.sub == "user-1"
    assert claims.jti == "jti-1"
    assert claims.exp == now + 60
