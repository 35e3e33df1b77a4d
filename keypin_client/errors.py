"""Exceptions raised by keypin's Python client."""
from __future__ import annotations


class KeypinClientError(Exception):
    """Base class of the client's own errors; httpx's transport errors pass through unchanged."""


class SessionExpired(KeypinClientError):
    """The session has ended: the refresh token was rejected or no tokens are stored, so log in again."""


class RefreshFailed(KeypinClientError):
    """A refresh request received a response other than a new token pair or a 401, and the tokens are kept.

    `status_code` is the HTTP status, `error` the `error` member of the JSON body (or None) and
    `retry_after` the `Retry-After` header (or None), so a caller can wait and try again.
    """

    def __init__(self, message: str, status_code: int, error: str | None, retry_after: str | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.retry_after = retry_after


class LoginFailed(KeypinClientError):
    """The login request was rejected; `status_code` and `error` come from the response."""

    def __init__(self, message: str, status_code: int, error: str | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
