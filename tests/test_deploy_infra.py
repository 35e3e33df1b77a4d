"""infra/resources.json: the tables match what bootstrap creates, and its role policy is pinned.

The template is merged into Chalice's output by `chalice package --merge-template`, so its
`ApiHandlerRole` and `APIHandler` entries are partial and only the merged result is a
complete template (tests/test_deploy_package.py lints that result).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from chalicelib import aws
from chalicelib.sessions import TTL_ATTRIBUTE, USER_INDEX
from chalicelib.settings import Settings
from keypin_admin.stage import ensure_tables
from tests.test_deploy_policy import as_list, load_policy, statements_by_sid

PROJECT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = PROJECT / "infra" / "resources.json"
TABLES = {"UsersTable": "users", "SessionsTable": "sessions"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TEMPLATE_PATH.read_text())
    return loaded


@pytest.fixture
def bootstrapped_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    """The tables that `keypin_admin bootstrap` creates, described by moto's in-process mock."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")

    settings = Settings.from_environ({"KEYPIN_STAGE": "deploytest"})
    with mock_aws():
        dynamodb = aws.dynamodb_client("us-east-1")
        ensure_tables(dynamodb, settings, lambda line: None)
        described = {}
        for resource, table in (("UsersTable", settings.users_table), ("SessionsTable", settings.sessions_table)):
            described[resource] = {
                **dynamodb.describe_table(TableName=table)["Table"],
                "TimeToLive": dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"],
            }
        yield described


def _sorted_attributes(definitions: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(definitions, key=lambda definition: definition["AttributeName"])


@pytest.mark.parametrize("resource", sorted(TABLES))
def test_template_table_keys_match_bootstrap(
    template: dict[str, Any], bootstrapped_tables: dict[str, dict[str, Any]], resource: str
) -> None:
    declared = template["Resources"][resource]["Properties"]
    created = bootstrapped_tables[resource]

    assert declared["KeySchema"] == created["KeySchema"]
    assert _sorted_attributes(declared["AttributeDefinitions"]) == _sorted_attributes(created["AttributeDefinitions"])
    assert declared["TimeToLiveSpecification"]["AttributeName"] == created["TimeToLive"]["AttributeName"]
    assert created["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]


def test_template_user_index_matches_bootstrap(
    template: dict[str, Any], bootstrapped_tables: dict[str, dict[str, Any]]
) -> None:
    [declared] = template["Resources"]["SessionsTable"]["Properties"]["GlobalSecondaryIndexes"]
    [created] = bootstrapped_tables["SessionsTable"]["GlobalSecondaryIndexes"]

    assert declared["IndexName"] == created["IndexName"] == USER_INDEX
    assert declared["KeySchema"] == created["KeySchema"]
    assert declared["Projection"] == created["Projection"]


@pytest.mark.parametrize(("resource", "suffix"), sorted(TABLES.items()))
def test_template_tables_are_durable_and_on_demand(template: dict[str, Any], resource: str, suffix: str) -> None:
    table = template["Resources"][resource]
    properties = table["Properties"]

    assert table["Type"] == "AWS::DynamoDB::Table"
    assert properties["TableName"] == {"Fn::Sub": f"keypin-${{Stage}}-{suffix}"}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # Replacing or deleting the stack must never drop users or sessions.
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_template_key_is_retained_and_rotated(template: dict[str, Any]) -> None:
    key = template["Resources"]["SigningKeyEncryptionKey"]
    alias = template["Resources"]["SigningKeyEncryptionKeyAlias"]["Properties"]

    # Deleting the KMS key makes the parameter, and with it every signing key, unreadable.
    assert key["DeletionPolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert alias["AliasName"] == {"Fn::Sub": "alias/keypin-${Stage}"}


def test_template_key_data_use_through_ssm(template: dict[str, Any]) -> None:
    statements = template["Resources"]["SigningKeyEncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    data_actions = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"}

    for statement in statements:
        actions = set(as_list(statement["Action"]))
        assert "kms:*" not in actions, statement["Sid"]
        if not actions & data_actions:
            continue
        conditions = statement["Condition"]["StringEquals"]
        assert conditions["kms:ViaService"] == {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}, statement["Sid"]
        assert "kms:EncryptionContext:PARAMETER_ARN" in conditions, statement["Sid"]


def _merged_statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [policy] = template["Resources"]["ApiHandlerRole"]["Properties"]["Policies"]
    return statements_by_sid(policy["PolicyDocument"])


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_template_role_policy_grants_policy_file_actions(template: dict[str, Any], stage: str) -> None:
    merged = _merged_statements(template)
    static = statements_by_sid(load_policy(stage))

    assert set(merged) == set(static)
    for sid, statement in static.items():
        expected = set(as_list(statement["Action"]))
        if sid == "Logs":
            # The template creates the log group itself, with a retention period.
            expected.discard("logs:CreateLogGroup")
        assert set(as_list(merged[sid]["Action"])) == expected, sid


def test_template_role_policy_has_no_wildcard(template: dict[str, Any]) -> None:
    for sid, statement in _merged_statements(template).items():
        for resource in as_list(statement["Resource"]):
            assert not isinstance(resource, str), f"{sid}: {resource} must come from the stack"
            assert "*" not in json.dumps(resource), f"{sid}: {resource}"


def test_template_role_policy_pins_account_and_region(template: dict[str, Any]) -> None:
    statements = _merged_statements(template)
    parameter = statements["ReadSigningKeys"]["Resource"]["Fn::Sub"]
    decrypt = statements["DecryptSigningKeysThroughSsm"]

    assert parameter.startswith("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/")
    assert decrypt["Resource"] == {"Fn::GetAtt": ["SigningKeyEncryptionKey", "Arn"]}
    assert decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == {"Fn::Sub": parameter}


def test_template_function_uses_stack_resources(template: dict[str, Any]) -> None:
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]

    assert variables["KEYPIN_STAGE"] == {"Ref": "Stage"}
    assert variables["KEYPIN_USERS_TABLE"] == {"Ref": "UsersTable"}
    assert variables["KEYPIN_SESSIONS_TABLE"] == {"Ref": "SessionsTable"}
    assert variables["KEYPIN_KEY_PARAMETER"] == {"Fn::Sub": "/keypin/${Stage}/signing-keys"}


def test_template_throttles_login(template: dict[str, Any]) -> None:
    [login] = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]

    # API Gateway encodes each slash of a stage method path as ~1.
    assert login["ResourcePath"] == "/~1auth~1login"
    assert login["HttpMethod"] == "POST"
    assert login["ThrottlingRateLimit"] == {"Ref": "LoginRateLimit"}
    assert login["ThrottlingBurstLimit"] == {"Ref": "LoginBurstLimit"}
