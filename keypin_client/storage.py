"""Token storage: the hook for persistent storage and the in-memory default."""
from __future__ import annotations

import threading
from typing import Protocol

from keypin_client.tokens import TokenPair


class TokenStorage(Protocol):
    """Storage hook for the current token pair.

    `KeypinAuth` calls `save` and `clear` only while it holds its refresh lock, so one instance
    never writes twice at once. `load` may run in several threads at once and must return the
    last pair saved, or None after `clear` or before any `save`.
    """

    def load(self) -> TokenPair | None: ...

    def save(self, tokens: TokenPair) -> None: ...

    def clear(self) -> None: ...


class MemoryTokenStorage:
    """Keeps the token pair in memory only, so the session ends with the process."""

    def __init__(self, tokens: TokenPair | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()

    def load(self) -> TokenPair | None:
        with self._lock:
            return self._tokens

    def save(self, tokens: TokenPair) -> None:
        with self._lock:
            self._tokens = tokens

    def clear(self) -> None:
        with self._lock:
            self._tokens = None
