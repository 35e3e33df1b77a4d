"""The OpenAPI document: valid, in step with its served JSON copy, and covering every route."""
from __future__ import annotations

import json
import subprocess
import sys
from types import ModuleType
from typing import Any

import yaml
from chalice.test import Client
from openapi_spec_validator import validate

from tests.support import PROJECT

SOURCE = PROJECT / "docs" / "openapi.yaml"
SERVED = PROJECT / "chalicelib" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def source_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    return document


def documented_operations() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in source_document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_openapi_yaml_is_valid_openapi_3_1() -> None:
    document = source_document()

    validate(document)
    assert document["openapi"].startswith("3.1.")


def test_openapi_json_has_the_yaml_content() -> None:
    served = json.loads(SERVED.read_text(encoding="utf-8"))

    assert served == source_document(), "chalicelib/openapi.json is out of date; run `make openapi`"


def test_openapi_json_is_byte_for_byte_current() -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "build-openapi"), "--check"],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr


def test_openapi_documents_every_route(app_module: ModuleType) -> None:
    routes = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}

    assert routes - documented_operations() == set(), "routes missing from docs/openapi.yaml"


def test_openapi_documents_only_routes(app_module: ModuleType) -> None:
    routes = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}
    unrouted = documented_operations() - routes

    assert unrouted == set(), "operations in docs/openapi.yaml that app.py lacks"


def test_openapi_route_serves_the_document(client: Client) -> None:
    response = client.http.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == json.loads(SERVED.read_text(encoding="utf-8"))
