"""API Gateway REST proxy events and a Lambda context, for calling the Chalice handler directly."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that a handler may read."""

    function_name: str = "keypin-bench"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def proxy_event(method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    """Build the event that API Gateway (REST API, proxy integration) sends for one request."""
    all_headers = {"Host": "bench.execute-api.us-east-1.amazonaws.com", "Accept": "application/json",
                   **(headers or {})}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "keypin-bench"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
