"""Registration, login, refresh and logout: keypin's use cases, free of HTTP."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import InvalidGrant, InvalidRequest, InvalidToken, RegistrationDisabled
from chalicelib.lockout import LoginLockout
from chalicelib.passwords import (
    MIN_PASSWORD_LENGTH,
    burn_verification,
    hash_password,
    normalise_password,
    verify_password,
)
from chalicelib.sessions import SessionStore
from chalicelib.settings import Settings
from chalicelib.tokens import Claims, TokenCodec
from chalicelib.users import User, UserStore, normalise_username, validate_username

_BAD_CREDENTIALS = "The username or password is incorrect"


@dataclass(frozen=True)
class TokenPair:
    """An access token and a refresh token issued together."""

    access_token: str
    refresh_token: str
    access_ttl_seconds: int
    refresh_expires_at: int
    issued_at: int

    def as_response(self) -> dict[str, Any]:
        """Return the OAuth 2.0 token response body (RFC 6749 §5.1)."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_seconds,
            "refresh_token": self.refresh_token,
            "refresh_expires_in": max(0, self.refresh_expires_at - self.issued_at),
        }


class AuthService:
    """Runs each auth use case against the users and sessions tables."""

    def __init__(
        self, settings: Settings, codec: TokenCodec, users: UserStore, sessions: SessionStore, lockout: LoginLockout
    ) -> None:
        self.settings = settings
        self.codec = codec
        self._users = users
        self._sessions = sessions
        self._lockout = lockout

    def register(self, username: str, password: str) -> User:
        """Create a user, or raise `RegistrationDisabled`, `InvalidRequest` or `UsernameTaken`."""
        if not self.settings.allow_registration:
            raise RegistrationDisabled("Registration is disabled for this service")

        display_name = validate_username(username)
        password = normalise_password(password)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidRequest(f"The password must have at least {MIN_PASSWORD_LENGTH} characters")

        return self._users.create(display_name, hash_password(password))

    def login(self, username: str, password: str) -> TokenPair:
        """Check the credentials and start a session, or raise `InvalidGrant` or `TooManyRequests`."""
        password = normalise_password(password)
        # A name that registration would reject cannot exist; it gets 400 before any lookup.
        username = validate_username(username)
        username_key = normalise_username(username)
        earlier_failures = self._lockout.check(username_key)

        user = self._users.find(username)
        if user is None:
            burn_verification(password)
        if user is None or not verify_password(user.password_hash, password):
            self._lockout.record_failure(username_key)
            raise InvalidGrant(_BAD_CREDENTIALS)

        if earlier_failures:
            self._lockout.record_success(username_key)
        refresh = self.codec.new_claims(
            sub=user.sub,
            username=user.username,
            sid=secrets.token_urlsafe(16),
            token_use="refresh",
            ttl_seconds=self.settings.refresh_ttl_seconds,
        )
        self._sessions.start(refresh)
        return self._pair(refresh)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate the session of `refresh_token` and issue a new pair, or raise `InvalidGrant`."""
        try:
            presented = self.codec.decode(refresh_token, "refresh")
        except InvalidToken as exc:
            raise InvalidGrant(exc.description) from None

        successor = self.codec.new_claims(
            sub=presented.sub,
            username=presented.username,
            sid=presented.sid,
            token_use="refresh",
            ttl_seconds=self.settings.refresh_ttl_seconds,
        )
        return self._pair(self._sessions.rotate(presented, successor))

    def logout(self, refresh_token: str) -> None:
        """Revoke the session of `refresh_token`; an invalid token is ignored, without a hint."""
        try:
            presented = self.codec.decode(refresh_token, "refresh")
        except InvalidToken:
            return
        self._sessions.revoke(presented.sid)

    def logout_all(self, access: Claims) -> int:
        """Revoke every session of the user of `access` and return how many were live."""
        return self._sessions.revoke_all(access.sub)

    def authenticate(self, access_token: str) -> Claims:
        """Verify a bearer access token and return its claims, or raise `InvalidToken`."""
        return self.codec.decode(access_token, "access")

    def _pair(self, refresh: Claims) -> TokenPair:
        access = self.codec.new_claims(
            sub=refresh.sub,
            username=refresh.username,
            sid=refresh.sid,
            token_use="access",
            ttl_seconds=self.settings.access_ttl_seconds,
        )
        return TokenPair(
            access_token=self.codec.encode(access),
            refresh_token=self.codec.encode(refresh),
            access_ttl_seconds=self.settings.access_ttl_seconds,
            refresh_expires_at=refresh.exp,
            issued_at=access.iat,
        )

