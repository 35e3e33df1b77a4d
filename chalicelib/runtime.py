"""Building keypin's services once per container, and deciding when.

A Lambda cold start and `chalice local` load the signing keys at import, before the
first request. `chalice package` and `chalice deploy` also import `app.py`, but only to
find the routes. That import must not read SSM, because the deployer may have no access
to the key. Chalice sets AWS_CHALICE_CLI_MODE for every command, `chalice local` included,
so the running command is read from Chalice's command-line context instead, or from
CHALICE_WORKER, which only the reloader of `chalice local` sets.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib import aws
from chalicelib.auth import AuthService
from chalicelib.keyring import KeyRing
from chalicelib.lockout import LoginLockout
from chalicelib.sessions import SessionStore
from chalicelib.settings import Settings
from chalicelib.tokens import TokenCodec
from chalicelib.users import UserStore

logger = logging.getLogger(__name__)

SERVING_COMMANDS = frozenset({"local"})


@dataclass(frozen=True)
class Services:
    """Everything a request needs, built from one read of the settings and keys."""

    settings: Settings
    auth: AuthService


def build_services(environ: Mapping[str, str]) -> Services:
    """Read the settings, load the signing keys from SSM and connect the tables."""
    settings = Settings.from_environ(environ)
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")

    keys = KeyRing.load(
        aws.ssm_client(region),
        settings.key_parameter,
        refresh_interval_seconds=settings.key_refresh_interval_seconds,
        max_age_seconds=settings.key_max_age_seconds,
    )
    codec = TokenCodec(
        keys, issuer=settings.issuer, audience=settings.audience, leeway_seconds=settings.leeway_seconds
    )

    dynamodb = aws.dynamodb_client(region)
    users = UserStore(dynamodb, settings.users_table)
    sessions = SessionStore(
        dynamodb, settings.sessions_table, reuse_grace_seconds=settings.refresh_reuse_grace_seconds
    )
    lockout = LoginLockout(dynamodb, settings.sessions_table)
    return Services(settings=settings, auth=AuthService(settings, codec, users, sessions, lockout))


def should_load_at_import(environ: Mapping[str, str]) -> bool:
    """Tell whether this import serves requests (load now) or only inspects the app."""
    if environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return True
    if not environ.get("AWS_CHALICE_CLI_MODE"):
        # A plain import: tests, scripts and benchmarks serve requests in-process.
        return True
    return is_chalice_local(environ)


def is_chalice_local(environ: Mapping[str, str]) -> bool:
    """Tell whether `chalice local` is importing the app to serve it."""
    if not environ.get("AWS_CHALICE_CLI_MODE"):
        return False
    if environ.get("CHALICE_WORKER"):
        # Only `chalice local` with its reloader runs a worker process, and the worker
        # imports the app on a thread of its own, where click has no context.
        return True
    return _chalice_command() in SERVING_COMMANDS


def widen_local_backlog() -> None:
    """Let `chalice local` queue 128 pending connections instead of socketserver's 5.

    With a backlog of 5, a burst of concurrent requests (several browser tabs, a client
    refreshing from 20 threads) gets connection resets from `chalice local`, which Lambda
    behind API Gateway never shows. The server is created after the app is imported, so
    setting the class attribute here takes effect.
    """
    from chalice import local  # noqa: PLC0415 (development server, absent from Lambda)

    local.ThreadedHTTPServer.request_queue_size = 128


def _chalice_command() -> str | None:
    # Chalice's CLI is built on click, and app.py is imported inside the command's
    # callback, so click's current context names the command. click is not in the
    # Lambda runtime, hence the import here, reached only under AWS_CHALICE_CLI_MODE.
    import click  # noqa: PLC0415

    context = click.get_current_context(silent=True)
    return context.info_name if context is not None else None


class Runtime:
    """The services of this container, built on first use and then kept."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._environ = environ
        self._services: Services | None = None
        self._lock = threading.Lock()

    def services(self) -> Services:
        """Return the services, building them on the first call."""
        if self._services is not None:
            return self._services

        # chalice local serves requests on threads; build once even if two arrive together.
        with self._lock:
            if self._services is None:
                self._services = build_services(self._environ)
            return self._services

    def auth(self) -> AuthService:
        return self.services().auth

    def start(self) -> None:
        """Build the services now when this import will serve requests."""
        if is_chalice_local(self._environ):
            widen_local_backlog()
        if should_load_at_import(self._environ):
            self.services()
            return
        logger.info("Not loading signing keys: this import only inspects the app (chalice package or deploy)")
