"""The IAM policy files of the dev and prod stages grant only what keypin's Lambda code calls.

The AWS calls are found by reading chalicelib's source: every method called on a client
named `dynamodb` or `ssm` (`self._dynamodb.put_item(...)`, `ssm.get_parameter(...)`) is
one API action. A new call without a matching grant, or a grant that no code uses, fails here.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.sessions import USER_INDEX
from chalicelib.settings import Settings

PROJECT = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT / ".chalice"
DEPLOYED_STAGES = ("dev", "prod")

# Static policy files are plain JSON that `chalice deploy` sends to IAM unchanged, so they
# name the account and region with IAM policy variables that IAM resolves per request.
REGION = "${aws:RequestedRegion}"
ACCOUNT = "${aws:PrincipalAccount}"

CLIENT_SERVICES = frozenset({"dynamodb", "ssm"})
# Client methods that build helpers instead of calling AWS. Their first argument names the operation.
OPERATION_FACTORIES = frozenset({"get_paginator", "get_waiter"})
# Each module that calls DynamoDB or SSM, and the policy statement that must grant its calls.
# The login-failure counters of lockout.py live in the sessions table.
STATEMENT_OF_MODULE = {
    "users.py": "Users",
    "sessions.py": "Sessions",
    "lockout.py": "Sessions",
    "keystore.py": "ReadSigningKeys",
}
LOG_ACTIONS = frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"})

# The region and account fields may hold a policy variable, which contains a colon itself.
_FIELD = r"\$\{[^}]+\}|[^:]*"
ARN = re.compile(rf"^arn:aws:(?P<service>[a-z0-9-]+):(?P<region>{_FIELD}):(?P<account>{_FIELD}):(?P<resource>.+)$")


def load_policy(stage: str) -> dict[str, Any]:
    return json.loads((CHALICE_DIR / f"policy-{stage}.json").read_text())


def statements_by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _client_service(receiver: ast.expr) -> str | None:
    name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", None)
    if name is None:
        return None
    service = name.lstrip("_")
    return service if service in CLIENT_SERVICES else None


def _pascal_case(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def aws_actions_called(source: Path) -> set[str]:
    """Return the IAM actions (`dynamodb:GetItem`, …) of the client calls in `source`."""
    actions: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        service = _client_service(node.func.value)
        if service is None:
            continue

        method = node.func.attr
        if method in OPERATION_FACTORIES:
            first = node.args[0]
            assert isinstance(first, ast.Constant), f"{source.name}: {method} needs a literal operation name"
            method = str(first.value)
        actions.add(f"{service}:{_pascal_case(method)}")
    return actions


def calls_by_module() -> dict[str, set[str]]:
    """Return the AWS actions of each chalicelib module that calls DynamoDB or SSM."""
    found = {path.name: aws_actions_called(path) for path in sorted((PROJECT / "chalicelib").glob("*.py"))}
    return {name: actions for name, actions in found.items() if actions}


def parameter_arn(stage: str, region: str = REGION, account: str = ACCOUNT) -> str:
    name = Settings.from_environ({"KEYPIN_STAGE": stage}).key_parameter
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def test_config_stages_use_policy_files() -> None:
    config = json.loads((CHALICE_DIR / "config.json").read_text())

    for stage in DEPLOYED_STAGES:
        settings = config["stages"][stage]
        assert settings["autogen_policy"] is False, stage
        assert settings["iam_policy_file"] == f"policy-{stage}.json", stage
        assert (CHALICE_DIR / settings["iam_policy_file"]).is_file(), stage


def test_code_calls_map_to_statements() -> None:
    unmapped = set(calls_by_module()) - set(STATEMENT_OF_MODULE)

    assert not unmapped, (
        f"chalicelib modules {sorted(unmapped)} call AWS; add them to STATEMENT_OF_MODULE "
        "and grant their actions in .chalice/policy-*.json and infra/resources.json"
    )


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_statements_match_code_calls(stage: str) -> None:
    statements = statements_by_sid(load_policy(stage))
    expected: dict[str, set[str]] = {}
    for module, actions in calls_by_module().items():
        expected.setdefault(STATEMENT_OF_MODULE.get(module, module), set()).update(actions)

    for sid, actions in expected.items():
        assert sid in statements, f"no statement {sid} for the calls {sorted(actions)}"
        assert set(as_list(statements[sid]["Action"])) == actions, sid


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_grants_no_other_action(stage: str) -> None:
    called = set().union(*calls_by_module().values())
    granted = {action for statement in load_policy(stage)["Statement"] for action in as_list(statement["Action"])}

    # kms:Decrypt is what GetParameter WithDecryption needs on the parameter's KMS key.
    allowed = called | LOG_ACTIONS | ({"kms:Decrypt"} if "ssm:GetParameter" in called else set())
    assert granted <= allowed, sorted(granted - allowed)
    assert called <= granted, sorted(called - granted)


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_statements_are_plain_allows(stage: str) -> None:
    for statement in load_policy(stage)["Statement"]:
        sid = statement.get("Sid")
        assert sid, statement
        assert statement["Effect"] == "Allow", sid
        assert "NotAction" not in statement, sid
        assert "NotResource" not in statement, sid
        assert all("*" not in action for action in as_list(statement["Action"])), sid


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_resources_pin_account_and_region(stage: str) -> None:
    for statement in load_policy(stage)["Statement"]:
        for resource in as_list(statement["Resource"]):
            match = ARN.match(resource)
            assert match is not None, f"{statement['Sid']}: {resource} is not an ARN"
            assert match["region"] == REGION, resource
            assert match["account"] == ACCOUNT, resource


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_wildcards_only_for_logs_and_pinned_key(stage: str) -> None:
    statements = statements_by_sid(load_policy(stage))

    for sid, statement in statements.items():
        wildcards = [resource for resource in as_list(statement["Resource"]) if "*" in resource]
        if sid in {"Logs", "DecryptSigningKeysThroughSsm"}:
            continue
        assert not wildcards, f"{sid}: {wildcards}"

    # The log group is the function's own, and `:*` covers its log streams.
    for resource in as_list(statements["Logs"]["Resource"]):
        match = ARN.match(resource)
        assert match is not None, resource
        assert match["resource"] in {f"log-group:/aws/lambda/keypin-{stage}", f"log-group:/aws/lambda/keypin-{stage}:*"}


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_kms_decrypt_pinned_by_conditions(stage: str) -> None:
    # A static policy cannot name a key ARN that exists only after the key is created, so
    # the statement names the key by its alias and the ciphertext by the parameter's ARN.
    statement = statements_by_sid(load_policy(stage))["DecryptSigningKeysThroughSsm"]
    equals = statement["Condition"]["StringEquals"]
    any_equals = statement["Condition"]["ForAnyValue:StringEquals"]

    assert statement["Resource"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"
    assert equals["kms:ViaService"] == f"ssm.{REGION}.amazonaws.com"
    assert equals["kms:EncryptionContext:PARAMETER_ARN"] == parameter_arn(stage)
    assert any_equals["kms:ResourceAliases"] == f"alias/keypin-{stage}"


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_policy_names_stage_resources(stage: str) -> None:
    settings = Settings.from_environ({"KEYPIN_STAGE": stage})
    statements = statements_by_sid(load_policy(stage))
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"

    assert statements["ReadSigningKeys"]["Resource"] == parameter_arn(stage)
    assert as_list(statements["Users"]["Resource"]) == [table + settings.users_table]
    assert as_list(statements["Sessions"]["Resource"]) == [
        table + settings.sessions_table,
        f"{table}{settings.sessions_table}/index/{USER_INDEX}",
    ]


def test_scanner_finds_paginated_query() -> None:
    # GIVEN the sessions module, whose logout-all pages through the user index
    # WHEN its client calls are read
    actions = aws_actions_called(PROJECT / "chalicelib" / "sessions.py")

    # THEN the paginator counts as the Query it sends
    assert "dynamodb:Query" in actions
    assert "dynamodb:GetPaginator" not in actions
