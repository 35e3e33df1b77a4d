"""No key material, token or password in any log record, at any level, of a full run."""
from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws
from keypin_admin.cli import main as admin
from tests.conftest import Stage
from tests.support import cold_start

JSON = {"Content-Type": "application/json"}
PASSWORD = "correct horse battery"
WRONG_PASSWORD = "wrong horse battery"


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.http.post(path, body=json.dumps(body), headers=JSON)


def stored_keys(stage: Stage) -> list[dict[str, Any]]:
    value = aws.ssm_client().get_parameter(Name=stage.parameter, WithDecryption=True)["Parameter"]["Value"]
    keys: list[dict[str, Any]] = json.loads(value)["keys"]
    return keys


def secret_forms(jwk: dict[str, Any]) -> list[str]:
    raw = base64.urlsafe_b64decode(jwk["k"] + "=" * (-len(jwk["k"]) % 4))
    return [jwk["k"], raw.hex(), repr(raw)[2:40], base64.b64encode(raw).decode()]


def test_full_run_logs_no_secret(provisioned: Stage, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens_seen: list[str] = []

    # GIVEN a cold start, a user, a login and a failed login
    module = cold_start()
    with Client(module.app) as client:
        post(client, "/auth/register", {"username": "alice", "password": PASSWORD})
        post(client, "/auth/login", {"username": "alice", "password": WRONG_PASSWORD})
        first = post(client, "/auth/login", {"username": "alice", "password": PASSWORD}).json_body
        tokens_seen += [first["access_token"], first["refresh_token"]]

        # WHEN the session rotates, a replaced token comes back late, and the key rotates
        second = post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]}).json_body
        tokens_seen += [second["access_token"], second["refresh_token"]]
        assert admin(["keys", "rotate", "--stage", "test"]) == 0
        rotated = cold_start()
    with Client(rotated.app) as client:
        third = post(client, "/auth/refresh", {"refresh_token": second["refresh_token"]}).json_body
        tokens_seen += [third["access_token"], third["refresh_token"]]
        client.http.get("/me", headers={"Authorization": f"Bearer {third['access_token']}"})
        client.http.get("/me", headers={"Authorization": "Bearer not.a.token"})
        post(client, "/auth/logout", {"refresh_token": third["refresh_token"]})
        post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]})

    # THEN nothing secret appears in any record, while the records are really there
    records = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert any("Loaded signing keys" in record for record in records)
    secrets = [form for jwk in stored_keys(provisioned) for form in secret_forms(jwk)]
    secrets += tokens_seen + [token.split(".")[2] for token in tokens_seen] + [PASSWORD, WRONG_PASSWORD]
    leaks = [(secret[:12], record[:80]) for record in records for secret in secrets if secret in record]
    assert leaks == []


def test_debug_logging_hides_aws_payloads(provisioned: Stage, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    cold_start()

    loggers = {record.name for record in caplog.records}
    assert any(name.startswith("botocore.") for name in loggers)
    assert "botocore.endpoint" not in loggers
    assert "botocore.parsers" not in loggers
    assert "chalicelib.keystore" in loggers
