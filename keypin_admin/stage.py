"""Creating a stage's tables and key parameter, idempotently."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.sessions import TTL_ATTRIBUTE, USER_INDEX
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_ssm.client import SSMClient

Report = Callable[[str], None]

# PutParameter rejects longer values: 4 KB in the Standard tier, 8 KB in the Advanced tier
# (AWS Systems Manager user guide, "Managing parameter tiers").
MAX_VALUE_LENGTH = {"Standard": 4096, "Advanced": 8192}


@dataclass(frozen=True)
class StoredParameter:
    """The key parameter as SSM stores it: the decrypted value and what a rewrite must keep."""

    value: str
    version: int
    kms_key_id: str | None
    tier: str

    @property
    def max_value_length(self) -> int:
        return MAX_VALUE_LENGTH.get(self.tier, MAX_VALUE_LENGTH["Standard"])


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


def read_stored_parameter(ssm: SSMClient, name: str) -> StoredParameter | None:
    """Return parameter `name` with its version, KMS key and tier, or None when it does not exist."""
    try:
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None

    # GetParameter does not return the KMS key, and a rewrite must name it again because
    # PutParameter without KeyId uses the account's default key (SSM API reference, KeyId).
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    metadata = described[0] if described else {}
    return StoredParameter(
        value=parameter.get("Value", ""),
        version=parameter.get("Version", 0),
        kms_key_id=metadata.get("KeyId"),
        tier=metadata.get("Tier", "Standard"),
    )


def put_key_parameter(ssm: SSMClient, name: str, value: str, *, kms_key_id: str | None, overwrite: bool) -> int:
    """Store `value` as the SecureString key parameter `name` and return its new version."""
    options: dict[str, object] = {"Name": name, "Value": value, "Type": "SecureString", "Overwrite": overwrite}
    if kms_key_id:
        options["KeyId"] = kms_key_id
    if not overwrite:
        options["Description"] = "keypin signing keys (JWK Set); the first key signs"
    return ssm.put_parameter(**options)["Version"]  # type: ignore[arg-type]
