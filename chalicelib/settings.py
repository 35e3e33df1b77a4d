"""Settings read from environment variables, validated once per cold start."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_STAGE = "local"


class SettingsError(Exception):
    """An environment variable contains a value keypin cannot use."""


@dataclass(frozen=True)
class Settings:
    """keypin's configuration for one stage."""

    stage: str
    key_parameter: str
    users_table: str
    sessions_table: str
    issuer: str
    audience: str
    access_ttl_seconds: int
    refresh_ttl_seconds: int
    leeway_seconds: int
    allow_registration: bool
    refresh_reuse_grace_seconds: int
    key_refresh_interval_seconds: int
    key_max_age_seconds: int
    refresh_cookie: bool
    demo_page: bool
    cors_allow_origin: str | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from `environ`, with defaults derived from `KEYPIN_STAGE`."""
        stage = environ.get("KEYPIN_STAGE", DEFAULT_STAGE).strip() or DEFAULT_STAGE
        reader = _Reader(environ)
        return cls(
            stage=stage,
            key_parameter=reader.text("KEYPIN_KEY_PARAMETER", f"/keypin/{stage}/signing-keys"),
            users_table=reader.text("KEYPIN_USERS_TABLE", f"keypin-{stage}-users"),
            sessions_table=reader.text("KEYPIN_SESSIONS_TABLE", f"keypin-{stage}-sessions"),
            issuer=reader.text("KEYPIN_ISSUER", f"keypin-{stage}"),
            audience=reader.text("KEYPIN_AUDIENCE", f"keypin-{stage}-api"),
            access_ttl_seconds=reader.seconds("KEYPIN_ACCESS_TTL_SECONDS", 900, minimum=1),
            refresh_ttl_seconds=reader.seconds("KEYPIN_REFRESH_TTL_SECONDS", 1_209_600, minimum=1),
            leeway_seconds=reader.seconds("KEYPIN_LEEWAY_SECONDS", 30, minimum=0),
            allow_registration=reader.flag("KEYPIN_ALLOW_REGISTRATION", True),
            refresh_reuse_grace_seconds=reader.seconds("KEYPIN_REFRESH_REUSE_GRACE_SECONDS", 30, minimum=0),
            key_refresh_interval_seconds=reader.seconds("KEYPIN_KEY_REFRESH_INTERVAL_SECONDS", 30, minimum=0),
            key_max_age_seconds=reader.seconds("KEYPIN_KEY_MAX_AGE_SECONDS", 300, minimum=0),
            refresh_cookie=reader.flag("KEYPIN_REFRESH_COOKIE", False),
            demo_page=reader.flag("KEYPIN_DEMO_PAGE", False),
            cors_allow_origin=reader.origin("KEYPIN_CORS_ALLOW_ORIGIN"),
        )


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Reader:
    """Typed access to environment variables, with errors that name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def seconds(self, name: str, default: int, *, minimum: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default

        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number of seconds, got {raw!r}") from None

        if value < minimum:
            raise SettingsError(f"{name} must be a number of seconds of at least {minimum}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default

        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def origin(self, name: str) -> str | None:
        """Read one origin (``scheme://host[:port]``) in the form browsers send it, or None."""
        raw = self._raw(name)
        if raw is None:
            return None
        if raw in {"*", "null"}:
            raise SettingsError(f"{name} must name one origin, not {raw!r}: CORS with credentials needs one")

        parts = urlsplit(raw)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SettingsError(f"{name} must be an http or https origin such as https://app.example.com, got {raw!r}")
        if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username or parts.password:
            raise SettingsError(f"{name} must be an origin without a path, query or user name, got {raw!r}")

        try:
            port_number = parts.port
        except ValueError:
            raise SettingsError(f"{name} has an invalid port, got {raw!r}") from None

        # The Origin request header is lowercase, without a default port or a trailing slash.
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        port = "" if port_number in {None, _DEFAULT_PORTS[parts.scheme]} else f":{port_number}"
        return f"{parts.scheme}://{host}{port}"
