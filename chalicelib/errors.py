"""keypin's domain errors, each with the HTTP status and OAuth error code it maps to.

Codes follow RFC 6749 §5.2 and RFC 6750 §3.1. Descriptions go to clients (and into the
`WWW-Authenticate` header), so they are short ASCII sentences without double quotes and
never contain a token, a password or key material.
"""
from __future__ import annotations


class KeypinError(Exception):
    """Root of the errors that keypin turns into JSON error responses."""

    status = 400
    code = "invalid_request"
    retry_after_seconds: int | None = None  # sent as Retry-After when set

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(KeypinError):
    """The request body or a field in it is missing or malformed."""


class PayloadTooLarge(KeypinError):
    """The request body is larger than any valid request to the route."""

    status = 413


class InvalidGrant(KeypinError):
    """The credentials or refresh token do not grant a session."""

    status = 401
    code = "invalid_grant"


class InvalidToken(KeypinError):
    """The bearer token is missing, malformed, expired or not valid for this API."""

    status = 401
    code = "invalid_token"

    def __init__(self, description: str, *, token_sent: bool = True) -> None:
        super().__init__(description)
        self.token_sent = token_sent


class UsernameTaken(KeypinError):
    """Registration with a username that already exists."""

    status = 409
    code = "username_taken"


class RegistrationDisabled(KeypinError):
    """Registration is switched off for this stage."""

    status = 403
    code = "registration_disabled"


class TooManyRequests(KeypinError):
    """Logins for this username are locked after repeated failures."""

    status = 429
    code = "too_many_requests"

    def __init__(self, description: str, *, retry_after_seconds: int) -> None:
        super().__init__(description)
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(KeypinError):
    """A dependency (DynamoDB) failed or throttled; the client may retry."""

    status = 503
    code = "service_unavailable"

    def __init__(self, description: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(description)
        self.retry_after_seconds = retry_after_seconds
