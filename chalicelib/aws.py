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

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_ssm.client import SSMClient

# Lambda gives a cold start 10 s. Worst case for the key read: 4 attempts of at most
# 1 s connect + 2 s read, plus standard-mode backoff (jittered, about 3.5 s on average
# over the three waits), which outlasts a short throttling burst without a runaway init.
SSM_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 4})

# Per request: API Gateway waits 29 s, and a client would rather get a fast 503.
DYNAMODB_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 3})


@functools.cache
def shared_session() -> Any:
    """Return the botocore session of this process, created on first use."""
    # One session per process: its loader caches the service models and endpoint data
    # that the SSM and DynamoDB clients share, so the second client is cheaper.
    return botocore.session.get_session()


def ssm_client(region: str | None = None) -> SSMClient:
    """Create an SSM client for reading the key parameter."""
    client: SSMClient = shared_session().create_client("ssm", region_name=region, config=SSM_CONFIG)
    return client


def dynamodb_client(region: str | None = None) -> DynamoDBClient:
    """Create a DynamoDB client for the users and sessions tables."""
    client: DynamoDBClient = shared_session().create_client("dynamodb", region_name=region, config=DYNAMODB_CONFIG)
    return client
