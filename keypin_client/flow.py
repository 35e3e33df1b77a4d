"""The refresh flow shared by the sync and async wrappers of `KeypinAuth`.

The flow decides what to send and does no I/O and no locking itself. It yields steps. For a
`Send` step the wrapper sends the request through the client and sends the response back
into the flow. For `ACQUIRE` and `RELEASE` it takes and drops the refresh lock, which is a
`threading.Lock` for the sync client or an `asyncio.Lock` for the async one. The wrapper
releases a held lock itself when the flow raises or is closed.
"""
from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from keypin_client.errors import RefreshFailed, SessionExpired
from keypin_client.storage import TokenStorage
from keypin_client.tokens import TokenPair, error_code, json_body, parse_token_response, refresh_due

logger = logging.getLogger(__name__)

# One auth-param of an RFC 7235 challenge: a token name, then a token or a quoted string.
_AUTH_PARAM = re.compile(r"""([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)""")


class RefreshLock(enum.Enum):
    """A request to the wrapper to take or drop the refresh lock."""

    ACQUIRE = "acquire"
    RELEASE = "release"


@dataclass(frozen=True)
class Send:
    """A request for the wrapper to send; with `read_body` the wrapper reads the response body first."""

    request: httpx.Request
    read_body: bool = False


Step = Send | RefreshLock
Flow = Generator[Step, httpx.Response | None, None]


class RefreshFlow:
    """Attach the access token, refresh it at most once per request, and retry at most once."""

    def __init__(self, refresh_url: httpx.URL, storage: TokenStorage, margin_seconds: float | None) -> None:
        self.refresh_url = refresh_url
        self.storage = storage
        self.margin_seconds = margin_seconds

    def run(self, request: httpx.Request) -> Flow:
        """Send `request` with a bearer token; the generator protocol is described in the module docstring."""
        tokens = self.storage.load()
        if tokens is None:
            raise SessionExpired("No tokens are stored; log in first")

        refreshed = False
        if refresh_due(tokens.access_token, time.time(), self.margin_seconds):
            tokens, refreshed = yield from self._refresh_once(request, stale=tokens)

        response = yield from self._send(authorize(request, tokens))
        if not is_invalid_token(response):
            return  # Success, or a failure that a new access token would not fix.
        if refreshed:
            return  # This request has refreshed already; refreshing again could loop.
        if not is_replayable(request):
            return  # The body was a stream and has been consumed, so the 401 is returned.

        tokens, _ = yield from self._refresh_once(request, stale=tokens)
        yield Send(authorize(request, tokens))

    def _refresh_once(self, request: httpx.Request, stale: TokenPair) -> Generator[Step, httpx.Response | None,
                                                                                   tuple[TokenPair, bool]]:
        """Return a pair newer than `stale` and whether this call sent the refresh request.

        A caller that waited for the lock while another caller refreshed finds a new pair in
        storage and uses it, so a crowd of callers with one stale pair sends one refresh.
        """
        yield RefreshLock.ACQUIRE
        current = self.storage.load()
        if current is None:
            raise SessionExpired("The session ended while this request waited for a refresh; log in again")

        if current.access_token != stale.access_token:
            yield RefreshLock.RELEASE
            return current, False

        fresh = yield from self._refresh(current, request)
        yield RefreshLock.RELEASE
        return fresh, True

    def _refresh(self, current: TokenPair, request: httpx.Request) -> Generator[Step, httpx.Response | None, TokenPair]:
        refresh_request = httpx.Request(
            "POST",
            self.refresh_url,
            json={"refresh_token": current.refresh_token},
            headers={"Accept": "application/json"},
            # Without the client's timeout, which httpx passes in this extension, a refresh
            # would wait for the server forever while every other caller waits for the lock.
            extensions={name: value for name, value in request.extensions.items() if name == "timeout"},
        )
        response = yield from self._send(refresh_request, read_body=True)

        if response.status_code == 401:
            self.storage.clear()
            logger.info("Session ended: refresh at %s returned 401 %s", self.refresh_url, error_code(response))
            raise SessionExpired(f"The refresh token was rejected ({error_code(response)}); log in again")

        if response.status_code != 200:
            raise RefreshFailed(
                f"Refresh failed with status {response.status_code}; the tokens are kept, so retry later",
                response.status_code,
                error_code(response),
                response.headers.get("Retry-After"),
            )

        fresh = parse_token_response(json_body(response))
        if fresh is None:
            raise RefreshFailed("The refresh response is not a token response; the tokens are kept",
                                response.status_code, None, None)

        self.storage.save(fresh)
        logger.debug("Access token refreshed through %s", self.refresh_url)
        return fresh

    @staticmethod
    def _send(request: httpx.Request, read_body: bool = False) -> Generator[Step, httpx.Response | None,
                                                                             httpx.Response]:
        response = yield Send(request, read_body)
        if response is None:
            raise RuntimeError("the auth wrapper sent back no response for a Send step")
        return response


def authorize(request: httpx.Request, tokens: TokenPair) -> httpx.Request:
    """Set the bearer token of `request` and return it."""
    request.headers["Authorization"] = f"Bearer {tokens.access_token}"
    return request


def is_invalid_token(response: httpx.Response) -> bool:
    """Tell whether `response` is a 401 whose Bearer challenge has `error="invalid_token"` (RFC 6750 §3)."""
    if response.status_code != 401:
        return False

    for challenge in response.headers.get_list("WWW-Authenticate"):
        if not challenge.strip().lower().startswith("bearer"):
            continue
        for name, value in _AUTH_PARAM.findall(challenge):
            if name.lower() == "error" and value.strip('"') == "invalid_token":
                return True
    return False


def is_replayable(request: httpx.Request) -> bool:
    """Tell whether the body of `request` can be sent again.

    httpx keeps bytes, JSON and form bodies, and any body after `request.read()`, as a
    `ByteStream`. Iterator, generator and multipart bodies are streams that may be consumed.
    """
    return isinstance(request.stream, httpx.ByteStream)
