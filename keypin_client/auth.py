"""`KeypinAuth`: the httpx auth class that keeps a keypin access token fresh."""
from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, Generator

import httpx

from keypin_client.flow import Flow, RefreshFlow, RefreshLock, Send
from keypin_client.storage import MemoryTokenStorage, TokenStorage
from keypin_client.tokens import TokenPair

REFRESH_PATH = "/auth/refresh"


class KeypinAuth(httpx.Auth):
    """Attach keypin's bearer token and refresh it at call time, never on a background timer.

    A request refreshes first when its access token is within the margin of `exp`. The margin
    is the smaller of 30 seconds and a quarter of the token's lifetime, unless `refresh_margin`
    sets it in seconds. A 401 whose `WWW-Authenticate` has `error="invalid_token"` refreshes once
    and retries once, unless this request has refreshed already or its body was a consumed
    stream; then the 401 is returned. A rejected refresh clears `storage` and raises
    `SessionExpired`.

    The refresh request is sent through the client that sends the request, so its transport,
    event hooks and proxies see it. Threads of a sync client, or tasks of an async client in
    one event loop, that find the same stale token send one refresh between them.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        storage: TokenStorage | None = None,
        tokens: TokenPair | None = None,
        refresh_margin: float | None = None,
    ) -> None:
        if refresh_margin is not None and refresh_margin < 0:
            raise ValueError(f"refresh_margin must be zero or more seconds, not {refresh_margin}")

        self.storage: TokenStorage = storage if storage is not None else MemoryTokenStorage()
        if tokens is not None:
            self.storage.save(tokens)

        self._flow = RefreshFlow(endpoint_url(base_url, REFRESH_PATH), self.storage, refresh_margin)
        self._thread_lock = threading.Lock()
        # NOTE: an asyncio.Lock binds to the event loop that first waits on it, so each loop
        # gets its own. Single flight therefore applies within one loop, and sync and async
        # clients that share one KeypinAuth do not wait for each other's refresh.
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow.run(request)
        lock_held = False
        try:
            step = next(flow)
            while True:
                response: httpx.Response | None = None
                if step is RefreshLock.ACQUIRE:
                    self._thread_lock.acquire()
                    lock_held = True
                elif step is RefreshLock.RELEASE:
                    self._thread_lock.release()
                    lock_held = False
                else:
                    response = yield step.request
                    if step.read_body:
                        response.read()

                next_step = _advance(flow, response)
                if next_step is None:
                    return
                step = next_step
        finally:
            flow.close()
            if lock_held:
                self._thread_lock.release()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow.run(request)
        lock = self._loop_lock()
        lock_held = False
        try:
            step = next(flow)
            while True:
                response: httpx.Response | None = None
                if step is RefreshLock.ACQUIRE:
                    await lock.acquire()
                    lock_held = True
                elif step is RefreshLock.RELEASE:
                    lock.release()
                    lock_held = False
                else:
                    response = yield step.request
                    if step.read_body:
                        await response.aread()

                next_step = _advance(flow, response)
                if next_step is None:
                    return
                step = next_step
        finally:
            flow.close()
            if lock_held:
                lock.release()

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        # Creating the lock needs no await, so no other task of this loop runs in between.
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        return lock


def _advance(flow: Flow, response: httpx.Response | None) -> RefreshLock | Send | None:
    try:
        return flow.send(response)
    except StopIteration:
        return None


def endpoint_url(base_url: str | httpx.URL, path: str) -> httpx.URL:
    """Return the URL of `path` under `base_url`, keeping a path prefix as httpx's `base_url` does."""
    base = httpx.URL(base_url)
    prefix = base.raw_path.split(b"?")[0].rstrip(b"/")
    return base.copy_with(raw_path=prefix + b"/" + path.lstrip("/").encode("ascii"))
