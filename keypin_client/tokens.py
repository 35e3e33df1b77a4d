"""Token pairs, the token response and the refresh schedule read from an access token."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import jwt

# A token is refreshed at the latest this many seconds before its `exp`, or a quarter of its
# lifetime before it when the lifetime is shorter than 2 minutes.
MAX_DEFAULT_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token issued with it."""

    access_token: str
    refresh_token: str

    def __repr__(self) -> str:
        # Tokens are credentials, so the repr keeps them out of logs and tracebacks.
        return "TokenPair(access_token=..., refresh_token=...)"


def parse_token_response(body: Any) -> TokenPair | None:
    """Return the pair in a token response body, or None when the body is not one."""
    if not isinstance(body, dict):
        return None

    access_token = body.get("access_token")
    refresh_token = body.get("refresh_token")
    if not isinstance(access_token, str) or not access_token:
        return None
    if not isinstance(refresh_token, str) or not refresh_token:
        return None
    return TokenPair(access_token, refresh_token)


def json_body(response: httpx.Response) -> Any:
    """Return the parsed JSON body of a read response, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def error_code(response: httpx.Response) -> str | None:
    """Return the `error` member of a JSON error body, or None."""
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def refresh_due(access_token: str, now: float, margin_seconds: float | None) -> bool:
    """Tell whether `access_token` expires within the refresh margin of `now` (Unix seconds).

    The claims are read without verifying the signature, only to schedule the refresh: the
    server verifies every token it receives. With `margin_seconds` None the margin is the
    smaller of 30 seconds and a quarter of the token's lifetime (`exp - iat`). A token without
    a numeric `exp` is never refreshed early, so only a 401 from the server refreshes it.
    """
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False

    expires_at = _number(claims.get("exp"))
    if expires_at is None:
        return False

    if margin_seconds is None:
        margin_seconds = default_margin(claims)
    return now >= expires_at - margin_seconds


def default_margin(claims: dict[str, Any]) -> float:
    """Return the smaller of 30 seconds and a quarter of the lifetime in `claims`."""
    issued_at = _number(claims.get("iat"))
    expires_at = _number(claims.get("exp"))
    if issued_at is None or expires_at is None:
        return MAX_DEFAULT_MARGIN_SECONDS

    lifetime = max(0.0, expires_at - issued_at)
    return min(MAX_DEFAULT_MARGIN_SECONDS, lifetime / 4)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
