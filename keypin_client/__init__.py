"""keypin's Python client: an httpx auth class that refreshes keypin's JWTs at call time.

Not deployed to Lambda; it needs httpx and PyJWT (for reading `exp`, never for verifying).
"""
from __future__ import annotations

from keypin_client.auth import KeypinAuth
from keypin_client.client import async_login, login
from keypin_client.errors import KeypinClientError, LoginFailed, RefreshFailed, SessionExpired
from keypin_client.storage import MemoryTokenStorage, TokenStorage
from keypin_client.tokens import TokenPair

__all__ = [
    "KeypinAuth",
    "KeypinClientError",
    "LoginFailed",
    "MemoryTokenStorage",
    "RefreshFailed",
    "SessionExpired",
    "TokenPair",
    "TokenStorage",
    "async_login",
    "login",
]
