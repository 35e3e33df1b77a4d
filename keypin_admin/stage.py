"""Creating a stage's tables and key parameter, idempotently."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.sessions import TTL_ATTRIBUTE, USER_INDEX
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_ssm.client import SSMClient

Report = Callable[[str], None]


def ensure_tables(dynamodb: DynamoDBClient, settings: Settings, report: Report) -> None:
    """Create the users and sessions tables when missing, on-demand with TTL."""
    _ensure_table(
        dynamodb,
        settings.users_table,
        report,
        AttributeDefinitions=[{"AttributeName": "username_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "username_key", "KeyType": "HASH"}],
    )
    _ensure_table(
        dynamodb,
        settings.sessions_table,
        report,
        AttributeDefinitions=[
            {"AttributeName": "sid", "AttributeType": "S"},
            {"AttributeName": "sub", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "sid", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": USER_INDEX,
                "KeySchema": [{"AttributeName": "sub", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["revoked_at"]},
            }
        ],
    )


def _ensure_table(dynamodb: DynamoDBClient, name: str, report: Report, **schema: object) -> None:
    try:
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **schema)  # type: ignore[arg-type]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        report(f"table {name}: already exists")
        return

    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
    report(f"table {name}: created (on-demand, TTL on {TTL_ATTRIBUTE})")


def read_parameter(ssm: SSMClient, name: str) -> str | None:
    """Return the decrypted value of parameter `name`, or None when it does not exist."""
    try:
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"].get("Value")
    except ssm.exceptions.ParameterNotFound:
        return None


def put_key_parameter(ssm: SSMClient, name: str, value: str, *, kms_key_id: str | None, overwrite: bool) -> None:
    """Store `value` as the SecureString key parameter `name`."""
    options: dict[str, object] = {"Name": name, "Value": value, "Type": "SecureString", "Overwrite": overwrite}
    if kms_key_id:
        options["KeyId"] = kms_key_id
    if not overwrite:
        options["Description"] = "keypin signing keys (JWK Set); the first key signs"
    ssm.put_parameter(**options)  # type: ignore[arg-type]
