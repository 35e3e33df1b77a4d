"""The demo routes: served only with KEYPIN_DEMO_PAGE=true, in keypin's error shape otherwise."""
from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from chalice.test import Client

from tests.conftest import Stage
from tests.support import PROJECT, cold_start


@pytest.fixture
def demo_client(provisioned: Stage, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("KEYPIN_DEMO_PAGE", "true")
    with Client(cold_start().app, stage_name="local", project_dir=str(PROJECT)) as client:
        yield client
    sys.modules.pop("app", None)


def test_demo_page_served_as_html(demo_client: Client) -> None:
    response = demo_client.http.get("/demo")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'from "./demo/keypin.js"' in response.body


def test_demo_client_module_served_as_javascript(demo_client: Client) -> None:
    response = demo_client.http.get("/demo/keypin.js")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.body == (PROJECT / "clients" / "browser" / "keypin.js").read_bytes()


@pytest.mark.parametrize("path", ["/demo", "/demo/keypin.js"])
def test_demo_routes_404_when_off(client: Client, path: str) -> None:
    response = client.http.get(path)

    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"
    assert "KEYPIN_DEMO_PAGE" in response.json_body["error_description"]
