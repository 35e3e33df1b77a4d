"""Refresh-token sessions (token families) in DynamoDB, with rotation and reuse detection.

One item per session, keyed by `sid`. It stores the claims of the family's current
refresh token and the `jti` of the token that it replaced, never a token itself. A
refresh rotates the family with one conditional write, so that of several concurrent
refreshes with one token exactly one creates the successor (RFC 9700 §4.14.2).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.errors import InvalidGrant
from chalicelib.tokens import Claims

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

logger = logging.getLogger(__name__)

USER_INDEX = "sub-index"
TTL_ATTRIBUTE = "expires_at"

_SESSION_ENDED = "The refresh token is no longer valid"


@dataclass(frozen=True)
class SessionState:
    """One stored session as read from the table."""

    sid: str
    sub: str
    current: Claims
    previous_jti: str | None
    rotated_at: int | None
    revoked: bool

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SessionState:
        current = Claims(
            sub=item["sub"]["S"],
            username=item["username"]["S"],
            sid=item["sid"]["S"],
            jti=item["current_jti"]["S"],
            iat=int(item["current_iat"]["N"]),
            exp=int(item[TTL_ATTRIBUTE]["N"]),
            token_use="refresh",
        )
        return cls(
            sid=current.sid,
            sub=current.sub,
            current=current,
            previous_jti=item["previous_jti"]["S"] if "previous_jti" in item else None,
            rotated_at=int(item["rotated_at"]["N"]) if "rotated_at" in item else None,
            revoked="revoked_at" in item,
        )


class SessionStore:
    """Reads and writes the sessions table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, reuse_grace_seconds: int) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._grace = reuse_grace_seconds

    def start(self, refresh: Claims) -> None:
        """Store a new session whose current refresh token has the claims `refresh`."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "sid": {"S": refresh.sid},
                "sub": {"S": refresh.sub},
                "username": {"S": refresh.username},
                "current_jti": {"S": refresh.jti},
                "current_iat": {"N": str(refresh.iat)},
                TTL_ATTRIBUTE: {"N": str(refresh.exp)},
                "created_at": {"N": str(refresh.iat)},
            },
            ConditionExpression="attribute_not_exists(sid)",
        )

    def rotate(self, presented: Claims, successor: Claims) -> Claims:
        """Replace the presented refresh token by `successor` and return the claims to sign.

        Within the reuse grace window, the token that was just replaced gets the claims of
        the successor that the first refresh stored, so concurrent refreshes of one token
        all receive the same refresh token. Any other reuse revokes the whole family.
        """
        state = self._read(presented.sid)
        now = int(time.time())
        if state is None or state.revoked or state.current.exp <= now:
            raise InvalidGrant(_SESSION_ENDED)

        if state.current.jti == presented.jti:
            return self._replace(state, presented, successor, now)
        return self._answer_replaced(state, presented, now)

    def revoke(self, sid: str) -> None:
        """Revoke one session; revoking an unknown or revoked session does nothing."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"sid": {"S": sid}},
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression="attribute_exists(sid) AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def revoke_all(self, sub: str) -> int:
        """Revoke every session of the user `sub` and return how many were live."""
        # NOTE: the user index is eventually consistent, so a session started in the
        # last moment before this call may be missed; its tokens stay valid.
        revoked = 0
        paginator = self._dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=USER_INDEX,
            KeyConditionExpression="#sub = :sub",
            ExpressionAttributeNames={"#sub": "sub"},
            ExpressionAttributeValues={":sub": {"S": sub}},
            ProjectionExpression="sid, revoked_at",
        )
        for page in pages:
            for item in page.get("Items", []):
                if "revoked_at" in item:
                    continue
                self.revoke(item["sid"]["S"])
                revoked += 1
        return revoked

    def _read(self, sid: str) -> SessionState | None:
        response = self._dynamodb.get_item(TableName=self._table, Key={"sid": {"S": sid}}, ConsistentRead=True)
        item = response.get("Item")
        return SessionState.from_item(item) if item is not None else None

    def _replace(self, state: SessionState, presented: Claims, successor: Claims, now: int) -> Claims:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"sid": {"S": state.sid}},
                UpdateExpression=(
                    "SET previous_jti = current_jti, current_jti = :next_jti, "
                    "current_iat = :next_iat, expires_at = :next_exp, rotated_at = :now"
                ),
                ConditionExpression="current_jti = :presented_jti AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={
                    ":presented_jti": {"S": presented.jti},
                    ":next_jti": {"S": successor.jti},
                    ":next_iat": {"N": str(successor.iat)},
                    ":next_exp": {"N": str(successor.exp)},
                    ":now": {"N": str(now)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return self._after_lost_race(exc, presented, successor, now)
        return successor

    def _after_lost_race(self, exc: ClientError, presented: Claims, successor: Claims, now: int) -> Claims:
        # Another request rotated (or revoked) the family between our read and write.
        # The failed write returns the item as it now is, so no extra read is needed.
        item: dict[str, AttributeValueTypeDef] | None = exc.response.get("Item")  # type: ignore[assignment]
        if item is None:
            raise InvalidGrant(_SESSION_ENDED) from None

        state = SessionState.from_item(item)
        if state.revoked:
            raise InvalidGrant(_SESSION_ENDED) from None
        if state.current.jti == successor.jti:
            # Our own write went through, but its response was lost and botocore retried it.
            return successor
        return self._answer_replaced(state, presented, now)

    def _answer_replaced(self, state: SessionState, presented: Claims, now: int) -> Claims:
        just_replaced = state.previous_jti == presented.jti and state.rotated_at is not None
        if just_replaced and self._grace > 0 and now - (state.rotated_at or 0) <= self._grace:
            return state.current

        logger.warning(
            "Refresh token reuse detected for user %s in session %s; revoking the session", state.sub, state.sid
        )
        self.revoke(state.sid)
        raise InvalidGrant(_SESSION_ENDED)


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
