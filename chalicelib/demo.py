"""The demo page and the browser client module, served from the checkout for local use.

Chalice deploys only app.py and chalicelib/, not clients/browser/, so these routes serve
files only where the checkout is present: under `make run`, which sets KEYPIN_DEMO_PAGE.
"""
from __future__ import annotations

from pathlib import Path

from chalice.app import Response

from chalicelib.errors import KeypinError

BROWSER_CLIENT_DIR = Path(__file__).resolve().parent.parent / "clients" / "browser"
DEMO_PAGE = ("demo.html", "text/html; charset=utf-8")
CLIENT_MODULE = ("keypin.js", "text/javascript; charset=utf-8")


class NotFound(KeypinError):
    """The requested resource does not exist on this stage."""

    status = 404
    code = "not_found"


def demo_file(enabled: bool, file: tuple[str, str]) -> Response:
    """Return one file of clients/browser/ with its content type, or raise `NotFound`."""
    if not enabled:
        raise NotFound("The demo page is off; set KEYPIN_DEMO_PAGE=true to serve it")

    name, content_type = file
    try:
        text = (BROWSER_CLIENT_DIR / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"clients/browser/{name} is not in this deployment; the demo runs from a checkout") from None

    headers: dict[str, str | list[str]] = {
        "Content-Type": content_type,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body=text, status_code=200, headers=headers)
