"""Users in DynamoDB, keyed by their normalised username."""
from __future__ import annotations

import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.errors import InvalidRequest, UsernameTaken

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

MAX_USERNAME_LENGTH = 64  # characters, after normalisation


@dataclass(frozen=True)
class User:
    """A stored user: stable id, display name and password hash."""

    sub: str
    username: str
    password_hash: str


def normalise_username(username: str) -> str:
    """Return the lookup form of `username`: NFKC, case-folded, NFKC again.

    NFKC folds compatibility forms (full-width letters, ligatures) into one spelling;
    case folding makes "Alice" and "alice" one user. Case folding can leave text that is
    not in NFKC, hence the second pass (Unicode Standard Annex #31, §5).
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def validate_username(username: str) -> str:
    """Return `username` in NFKC form, or raise `InvalidRequest` if it cannot be a name."""
    display = unicodedata.normalize("NFKC", username).strip()
    if not display:
        raise InvalidRequest("The username is empty")
    if len(display) > MAX_USERNAME_LENGTH:
        raise InvalidRequest(f"The username is longer than {MAX_USERNAME_LENGTH} characters")
    if any(unicodedata.category(char).startswith("C") for char in display):
        raise InvalidRequest("The username contains control or unassigned characters")
    return display


class UserStore:
    """Reads and writes the users table; the partition key `username_key` is the normalised name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def create(self, username: str, password_hash: str) -> User:
        """Store a new user, or raise `UsernameTaken` when the normalised name exists."""
        user = User(sub=str(uuid.uuid4()), username=username, password_hash=password_hash)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "username_key": {"S": normalise_username(username)},
                    "username": {"S": user.username},
                    "sub": {"S": user.sub},
                    "password_hash": {"S": password_hash},
                    "created_at": {"N": str(int(time.time()))},
                },
                ConditionExpression="attribute_not_exists(username_key)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise UsernameTaken("This username is already registered") from exc
            raise
        return user

    def find(self, username: str) -> User | None:
        """Return the user stored under the normalised `username`, or None."""
        response = self._dynamodb.get_item(
            TableName=self._table,
            Key={"username_key": {"S": normalise_username(username)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        return User(sub=item["sub"]["S"], username=item["username"]["S"], password_hash=item["password_hash"]["S"])
