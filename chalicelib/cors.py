"""CORS for the one trusted origin of KEYPIN_CORS_ALLOW_ORIGIN, with credentials.

Chalice adds the headers of a route's `CORSConfig` to every response of the route, error
responses included. It also builds the preflight response itself: `chalice local`
generates it for each OPTIONS request, and `chalice deploy` configures it in API Gateway,
importing app.py with the stage's environment variables. (`chalice.test.Client` 1.34 fails on that
generated response, whose body is None, so preflights are tested against `chalice local`.)
"""
from __future__ import annotations

from chalice.app import CORSConfig

from chalicelib.cookies import CSRF_HEADER

# Headers a cross-origin page may read: the Bearer challenge and the retry delay.
EXPOSED_HEADERS = ["WWW-Authenticate", "Retry-After"]
PREFLIGHT_MAX_AGE_SECONDS = 600


def route_cors(allow_origin: str | None) -> CORSConfig | bool:
    """Return the CORS setting for every route: a config for `allow_origin`, or False for none.

    Chalice adds Authorization and Content-Type to the allowed request headers by itself.
    """
    if allow_origin is None:
        return False
    return CORSConfig(
        allow_origin=allow_origin,
        allow_headers=[CSRF_HEADER],
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
        allow_credentials=True,
    )
