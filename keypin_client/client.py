"""`login` and `async_login`: an httpx client with a fresh keypin session in one call."""
from __future__ import annotations

from typing import Any

import httpx

from keypin_client.auth import KeypinAuth
from keypin_client.errors import LoginFailed
from keypin_client.storage import TokenStorage
from keypin_client.tokens import TokenPair, error_code, json_body, parse_token_response

LOGIN_PATH = "/auth/login"


def login(
    base_url: str,
    username: str,
    password: str,
    *,
    storage: TokenStorage | None = None,
    refresh_margin: float | None = None,
    **client_options: Any,
) -> httpx.Client:
    """Log in and return an `httpx.Client` for `base_url` that refreshes its token itself.

    `client_options` go to `httpx.Client` (`timeout`, `transport`, `event_hooks`, …). The
    tokens go to `storage`, in memory by default. Raises `LoginFailed` when the server
    rejects the login; the caller closes the returned client.
    """
    auth = KeypinAuth(base_url, storage=storage, refresh_margin=refresh_margin)
    client = httpx.Client(base_url=base_url, auth=auth, **client_options)
    try:
        # httpx.Auth() adds nothing: the login request carries the password, not a bearer token.
        response = client.post(LOGIN_PATH, json={"username": username, "password": password}, auth=httpx.Auth())
        auth.storage.save(_login_tokens(response))
    except BaseException:
        client.close()
        raise
    return client


async def async_login(
    base_url: str,
    username: str,
    password: str,
    *,
    storage: TokenStorage | None = None,
    refresh_margin: float | None = None,
    **client_options: Any,
) -> httpx.AsyncClient:
    """Log in and return an `httpx.AsyncClient`; the async counterpart of `login`."""
    auth = KeypinAuth(base_url, storage=storage, refresh_margin=refresh_margin)
    client = httpx.AsyncClient(base_url=base_url, auth=auth, **client_options)
    try:
        response = await client.post(LOGIN_PATH, json={"username": username, "password": password},
                                   auth=httpx.Auth())
        auth.storage.save(_login_tokens(response))
    except BaseException:
        await client.aclose()
        raise
    return client


def _login_tokens(response: httpx.Response) -> TokenPair:
    if response.status_code != 200:
        code = error_code(response)
        body = json_body(response)
        description = body.get("error_description") if isinstance(body, dict) else None
        detail = f": {description}" if isinstance(description, str) else ""
        raise LoginFailed(
            f"Login failed with status {response.status_code} ({code}){detail}", response.status_code, code
        )

    tokens = parse_token_response(json_body(response))
    if tokens is None:
        raise LoginFailed("The login response is not a token response", response.status_code, None)
    return tokens
