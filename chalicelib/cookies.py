"""Cookie mode: the refresh token in an HttpOnly cookie, and the CSRF check that guards it.

A login that sends ``"refresh_in_cookie": true`` gets its refresh token in a cookie that
scripts cannot read, instead of in the JSON body. ``/auth/refresh`` and ``/auth/logout``
then take the token from the cookie when their body carries none, but only from a request
that also carries the CSRF_HEADER header. A cross-origin page cannot add a custom header
without a CORS preflight, which keypin grants to KEYPIN_CORS_ALLOW_ORIGIN only, and an
HTML form cannot add one at all.

The cookie is named with the ``__Host-`` prefix, so browsers accept it only with
``Secure``, ``Path=/`` and no ``Domain``: a sibling subdomain cannot plant or overwrite it.
``Path=/`` also keeps it working under API Gateway's stage prefix (``/api/auth/…``), where
a ``__Secure-`` cookie with ``Path=/auth`` would never be sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalice.app import Request, Response

from chalicelib.auth import AuthService, TokenPair
from chalicelib.errors import InvalidGrant, InvalidRequest
from chalicelib.http import NO_STORE, empty_response, error_response, json_response, read_json_object, string_field

REFRESH_COOKIE = "__Host-keypin-refresh"
CSRF_HEADER = "X-Keypin-CSRF"
_COOKIE_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Strict"

# The content types an HTML form can send without a preflight (the CORS-safelisted ones).
# The cookie routes accept them so that a forged form post reaches the CSRF check and gets
# its 403, instead of Chalice's own 415 in another error shape.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
COOKIE_ROUTE_CONTENT_TYPES = ["application/json", *FORM_CONTENT_TYPES]


class MissingCsrfProof(InvalidRequest):
    """A request that relies on the refresh cookie lacks the CSRF header."""

    status = 403


@dataclass(frozen=True)
class PresentedToken:
    """The refresh token of a refresh or logout request, and where it came from."""

    token: str | None
    from_cookie: bool


def wants_refresh_cookie(body: dict[str, Any], cookie_mode: bool) -> bool:
    """Read the login's ``refresh_in_cookie`` field, or raise `InvalidRequest`."""
    value = body.get("refresh_in_cookie", False)
    if not isinstance(value, bool):
        raise InvalidRequest("The refresh_in_cookie field must be true or false")
    if value and not cookie_mode:
        raise InvalidRequest("This service does not offer the refresh token in a cookie")
    return value


def presented_refresh_token(request: Request | None, cookie_mode: bool) -> PresentedToken:
    """Find the refresh token of `request`: in its JSON body, else (in cookie mode) in its cookie.

    Raises `InvalidRequest` for a malformed body, and `MissingCsrfProof` when the token
    would come from the cookie but the request has no CSRF header.
    """
    if not cookie_mode:
        body = read_json_object(request)
        return PresentedToken(string_field(body, "refresh_token"), from_cookie=False)

    body = _cookie_mode_body(request)
    if "refresh_token" in body:
        return PresentedToken(string_field(body, "refresh_token"), from_cookie=False)

    headers = request.headers if request is not None else {}
    if not (headers.get(CSRF_HEADER) or "").strip():
        raise MissingCsrfProof(f"A request without refresh_token in its body must carry the {CSRF_HEADER} header")
    return PresentedToken(read_refresh_cookie(headers.get("cookie")), from_cookie=True)


def read_refresh_cookie(cookie_header: str | None) -> str | None:
    """Return the refresh token in a ``Cookie`` request header, or None."""
    for pair in (cookie_header or "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == REFRESH_COOKIE and value:
            return value
    return None


def token_response(pair: TokenPair, *, in_cookie: bool) -> Response:
    """Return the token response, with the refresh token in the cookie when `in_cookie`."""
    body = pair.as_response()
    if not in_cookie:
        return json_response(200, body, NO_STORE)

    del body["refresh_token"]
    headers = {**NO_STORE, "Set-Cookie": refresh_cookie(pair.refresh_token, body["refresh_expires_in"])}
    return json_response(200, body, headers)


def refresh_with(auth: AuthService, presented: PresentedToken) -> Response:
    """Rotate the session of `presented` and return the successor where the token came from."""
    if not presented.from_cookie:
        return token_response(auth.refresh(presented.token or ""), in_cookie=False)

    try:
        if presented.token is None:
            raise InvalidGrant("The request has no refresh token in its body or cookie")
        pair = auth.refresh(presented.token)
    except InvalidGrant as error:
        # The cookie no longer grants a session: tell the browser to drop it.
        response = error_response(error)
        response.headers["Set-Cookie"] = expired_refresh_cookie()
        return response
    return token_response(pair, in_cookie=True)


def logout_with(auth: AuthService, presented: PresentedToken) -> Response:
    """Revoke the session of `presented`; clear the cookie when the token came from it."""
    if presented.token is not None:
        auth.logout(presented.token)

    response = empty_response()
    if presented.from_cookie:
        response.headers["Set-Cookie"] = expired_refresh_cookie()
    return response


def refresh_cookie(token: str, max_age_seconds: int) -> str:
    """Build the ``Set-Cookie`` value that stores `token` for `max_age_seconds`."""
    return f"{REFRESH_COOKIE}={token}; Max-Age={max_age_seconds}; {_COOKIE_ATTRIBUTES}"


def expired_refresh_cookie() -> str:
    """Build the ``Set-Cookie`` value that deletes the refresh cookie."""
    return f"{REFRESH_COOKIE}=; Max-Age=0; {_COOKIE_ATTRIBUTES}"


def _cookie_mode_body(request: Request | None) -> dict[str, Any]:
    # A form body never carries a token, and the browser client may send no body at all:
    # both mean "use the cookie". Any other body must be a valid JSON object.
    headers = request.headers if request is not None else {}
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type in FORM_CONTENT_TYPES:
        return {}

    raw = request.raw_body if request is not None else b""
    if not raw or not raw.strip():
        return {}
    return read_json_object(request)
