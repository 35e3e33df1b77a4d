"""Low-level AWS clients with bounded timeouts and retries.

keypin builds its clients from botocore directly: boto3's session layer adds about a
hundred milliseconds of imports to every cold start and keypin uses nothing from it.
`AWS_ENDPOINT_URL` and `AWS_REGION` are read by botocore itself, so the same code talks
to AWS, to moto's server under `make run`, and to moto's in-process mock in tests.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from chalicelib import retries
from chalicelib.retries import RetryBudget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_ssm.client import SSMClient

# Lambda gives a cold start 10 s. The key read may retry 5 times, so 5 throttled
# attempts in a row still load the key. Each wait lasts at most 0.5 s, and no retry
# starts after 5 s. With 1 s to connect and 2 s to read, the worst case ends by 8 s.
SSM_RETRIES = RetryBudget(attempts=6, max_backoff_seconds=0.5, budget_seconds=5.0)
SSM_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": SSM_RETRIES.attempts}
)

# Per request: single-digit-millisecond calls, so short timeouts and waits; a client
# would rather get a fast 503 than wait for API Gateway's 29 s limit.
DYNAMODB_RETRIES = RetryBudget(attempts=6, max_backoff_seconds=0.2, budget_seconds=2.5)
DYNAMODB_CONFIG = Config(
    connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": DYNAMODB_RETRIES.attempts}
)


@functools.cache
def shared_session() -> Any:
    """Return the botocore session of this process, created on first use."""
    # One session per process: its loader caches the service models and endpoint data
    # that the SSM and DynamoDB clients share, so the second client is cheaper.
    return botocore.session.get_session()


def ssm_client(region: str | None = None) -> SSMClient:
    """Create an SSM client for reading the key parameter."""
    client: SSMClient = shared_session().create_client("ssm", region_name=region, config=SSM_CONFIG)
    retries.install(client, SSM_RETRIES)
    return client


def dynamodb_client(region: str | None = None) -> DynamoDBClient:
    """Create a DynamoDB client for the users and sessions tables."""
    client: DynamoDBClient = shared_session().create_client("dynamodb", region_name=region, config=DYNAMODB_CONFIG)
    retries.install(client, DYNAMODB_RETRIES)
    return client
