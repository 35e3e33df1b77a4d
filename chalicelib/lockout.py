"""Login lockout per normalised username, after repeated failures.

After the 5th consecutive failure a username is locked for 1 second; each further
failure doubles the lock, up to 15 minutes. While locked, every attempt is rejected
without checking the password and without being counted. A successful login resets the
count. Unknown usernames are counted the same way, so the responses do not reveal which
usernames exist.

The counters live in the sessions table under keys `login-failures:<username>`. Session
ids are URL-safe base64 and never contain a colon, so the two kinds of item cannot meet.
Counter items have no `sub`, so the user index of the table never lists them.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from chalicelib.errors import TooManyRequests
from chalicelib.sessions import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

FAILURES_BEFORE_LOCK = 5
FIRST_LOCK_SECONDS = 1
MAX_LOCK_SECONDS = 15 * 60
COUNTER_PREFIX = "login-failures:"
COUNTER_LIFETIME_SECONDS = 24 * 60 * 60  # DynamoDB TTL deletes counters untouched for a day


def lock_seconds(failures: int) -> int:
    """Return how long `failures` consecutive failures lock the username, in seconds."""
    if failures < FAILURES_BEFORE_LOCK:
        return 0
    doublings = min(failures - FAILURES_BEFORE_LOCK, 10)  # 2**10 s already exceeds the cap
    return min(FIRST_LOCK_SECONDS * (1 << doublings), MAX_LOCK_SECONDS)


class LoginLockout:
    """Counts failed logins per normalised username in DynamoDB."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def check(self, username_key: str) -> int:
        """Return the current failure count, or raise `TooManyRequests` while locked."""
        response = self._dynamodb.get_item(
            TableName=self._table, Key=self._key(username_key), ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return 0

        remaining = float(item.get("locked_until", {}).get("N", "0")) - time.time()
        if remaining > 0:
            raise TooManyRequests(
                "Too many failed logins for this username; retry later",
                retry_after_seconds=max(1, math.ceil(remaining)),
            )
        return int(item.get("failures", {}).get("N", "0"))

    def record_failure(self, username_key: str) -> None:
        """Count one more failure and lock the username when the count calls for it."""
        now = time.time()
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(username_key),
            UpdateExpression="ADD failures :one SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":ttl": {"N": str(int(now) + MAX_LOCK_SECONDS + COUNTER_LIFETIME_SECONDS)},
            },
            ReturnValues="UPDATED_NEW",
        )
        failures = int(response["Attributes"]["failures"]["N"])

        lock = lock_seconds(failures)
        if lock == 0:
            return
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(username_key),
            UpdateExpression="SET locked_until = :until",
            ExpressionAttributeValues={":until": {"N": f"{now + lock:.3f}"}},
        )

    def record_success(self, username_key: str) -> None:
        """Reset the failure count after a successful login."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(username_key),
            UpdateExpression="SET failures = :zero REMOVE locked_until",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    @staticmethod
    def _key(username_key: str) -> dict[str, dict[str, str]]:
        return {"sid": {"S": COUNTER_PREFIX + username_key}}
