"""The OpenAPI document of keypin's HTTP API, served at GET /openapi.json.

The file is generated from docs/openapi.yaml by scripts/build-openapi, because Lambda
receives only app.py and chalicelib/.
"""
from __future__ import annotations

import functools
from pathlib import Path

from chalice.app import Response

DOCUMENT_PATH = Path(__file__).resolve().parent / "openapi.json"


@functools.cache
def document_text() -> str:
    """Read the JSON document, once per container."""
    return DOCUMENT_PATH.read_text(encoding="utf-8")


def openapi_response() -> Response:
    """Return the OpenAPI document as a JSON response."""
    return Response(body=document_text(), status_code=200, headers={"Content-Type": "application/json"})
