"""The bearer-token guard shared by every protected route."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Response

from chalicelib.auth import AuthService
from chalicelib.errors import InvalidToken
from chalicelib.tokens import Claims


class BearerGuard:
    """A decorator that verifies the access token and passes its claims to the view.

    Usage: ``@app.route("/me")`` above ``@handles_errors`` above ``@guard``; the view
    receives the verified `Claims` as its first argument.
    """

    def __init__(self, app: Chalice, auth: Callable[[], AuthService]) -> None:
        self._app = app
        self._auth = auth

    def __call__(self, view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            request = self._app.current_request
            header = request.headers.get("authorization") if request is not None else None
            token = bearer_token(header)
            claims = self._auth().authenticate(token)
            return view(claims, *args, **kwargs)

        return wrapper


def bearer_token(header: str | None) -> str:
    """Return the token of an `Authorization: Bearer` header, or raise `InvalidToken`."""
    if header is None or not header.strip():
        raise InvalidToken("The request has no bearer token", token_sent=False)

    scheme, _, token = header.strip().partition(" ")
    # RFC 7235 §2.1: the scheme name is case-insensitive.
    if scheme.lower() != "bearer":
        raise InvalidToken("The Authorization header does not use the Bearer scheme", token_sent=False)

    token = token.strip()
    if not token:
        raise InvalidToken("The Authorization header has no token", token_sent=False)
    return token


def claims_view(claims: Claims) -> dict[str, Any]:
    """Return the public view of the authenticated user."""
    return {"sub": claims.sub, "username": claims.username}
