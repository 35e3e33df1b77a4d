"""A small cache of tokens this container has already verified."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from chalicelib.keys import SigningKey

Value = TypeVar("Value")


class VerifiedTokenCache(Generic[Value]):
    """Remember verified tokens, keyed by the whole token, evicting the least recently used.

    An entry remembers the key that verified it: a hit counts only while that same key is
    still loaded, so a retired key stops opening cached tokens at the next key re-read.
    Callers still check expiry on every hit.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[SigningKey, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[SigningKey, Value] | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
            return entry

    def put(self, token: str, key: SigningKey, value: Value) -> None:
        if self._max_entries <= 0:
            return
        with self._lock:
            self._entries[token] = (key, value)
            self._entries.move_to_end(token)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
