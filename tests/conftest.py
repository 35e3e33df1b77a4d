"""Shared fixtures: fake AWS credentials, moto (in-process and as a server), fresh app imports.

Every test runs with dummy credentials and either moto's in-process mock or a moto server
on 127.0.0.1; no fixture ever leaves a real AWS endpoint reachable.
"""
from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws
from chalicelib.settings import Settings
from keypin_admin.jwks import dump_jwk_set, new_jwk
from keypin_admin.stage import ensure_tables, put_key_parameter
from tests.support import FAKE_AWS, PROJECT, AwsEvents, MotoServer, cold_start, stage_variables


@dataclass(frozen=True)
class Stage:
    """Resource names of one test's stage, unique per test."""

    variables: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.from_environ(self.variables)

    @property
    def parameter(self) -> str:
        return self.variables["KEYPIN_KEY_PARAMETER"]


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Stage:
    """Fake credentials and unique resource names in the environment; no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)

    variables = stage_variables(uuid.uuid4().hex[:10])
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Stage(variables)


@pytest.fixture
def mocked_aws(stage: Stage) -> Iterator[None]:
    """moto's in-process mock of every AWS service, started before any client exists."""
    with mock_aws():
        yield


@pytest.fixture
def signing_jwk() -> dict[str, Any]:
    return new_jwk()


@pytest.fixture
def provisioned(mocked_aws: None, stage: Stage, signing_jwk: dict[str, Any]) -> Stage:
    """The stage's tables and key parameter, created in moto's mock."""
    ensure_tables(aws.dynamodb_client(), stage.settings, lambda line: None)
    put_key_parameter(aws.ssm_client(), stage.parameter, dump_jwk_set([signing_jwk]), kms_key_id=None, overwrite=False)
    return stage


@pytest.fixture
def app_module(provisioned: Stage) -> Iterator[ModuleType]:
    module = cold_start()
    yield module
    sys.modules.pop("app", None)


@pytest.fixture
def client(app_module: ModuleType) -> Iterator[Client]:
    with Client(app_module.app, stage_name="local", project_dir=str(PROJECT)) as test_client:
        yield test_client


@pytest.fixture
def served(
    stage: Stage, moto_server: MotoServer, signing_jwk: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Stage:
    """The stage's tables and key parameter in moto's server; this process's clients talk to it.

    Use it where a test injects AWS faults with a before-send handler: without moto's
    in-process mock, a response returned by the handler means no request reaches moto.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    ensure_tables(aws.dynamodb_client(), stage.settings, lambda line: None)
    put_key_parameter(aws.ssm_client(), stage.parameter, dump_jwk_set([signing_jwk]), kms_key_id=None, overwrite=False)
    return stage


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server on a free loopback port, shared by the cross-process tests."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws_events() -> Iterator[AwsEvents]:
    """Event handlers on keypin's botocore session, removed after the test."""
    events = AwsEvents(aws.shared_session().get_component("event_emitter"))
    yield events
    events.close()
