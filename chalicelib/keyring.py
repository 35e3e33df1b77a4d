"""The signing keys of a warm container, re-read from SSM after a rotation.

A cold start loads the key set once. After that the parameter is read again only when:
- a token names a `kid` that is not in the loaded set, at most once per refresh interval,
  so a flood of forged `kid`s costs at most one GetParameter call per interval;
- the loaded set is older than the maximum age, so every container moves to a new signer.

A failed re-read keeps the keys already loaded, logs a warning and is retried no sooner
than one refresh interval later; it never empties the set.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.keys import KeySet, SigningKey
from chalicelib.keystore import KeyLoadError, load_key_set

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class KeyRing:
    """The container's current key set, with the signer and lookup by `kid` that tokens need."""

    def __init__(
        self,
        ssm: SSMClient,
        parameter: str,
        keys: KeySet,
        *,
        refresh_interval_seconds: int,
        max_age_seconds: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._ssm = ssm
        self._parameter = parameter
        self._keys = keys
        self._refresh_interval = refresh_interval_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()

        self._fresh_until = clock() + max_age_seconds
        self._last_unknown_kid_read: float | None = None
        self._rejected_since_read = 0

    @classmethod
    def load(
        cls,
        ssm: SSMClient,
        parameter: str,
        *,
        refresh_interval_seconds: int,
        max_age_seconds: int,
        clock: Clock = time.monotonic,
    ) -> KeyRing:
        """Load the key set with one GetParameter call; raise `KeyLoadError` when it cannot be used."""
        keys = load_key_set(ssm, parameter)
        return cls(
            ssm,
            parameter,
            keys,
            refresh_interval_seconds=refresh_interval_seconds,
            max_age_seconds=max_age_seconds,
            clock=clock,
        )

    @property
    def keys(self) -> KeySet:
        """The loaded key set, re-read first when it is older than the maximum age."""
        if self._clock() < self._fresh_until:
            return self._keys

        # Another thread that is already re-reading will replace the set; this request
        # goes on with the current one instead of waiting for SSM.
        if not self._lock.acquire(blocking=False):
            return self._keys
        try:
            if self._clock() >= self._fresh_until:
                self._reread(f"the loaded set is older than {self._max_age} s")
            return self._keys
        finally:
            self._lock.release()

    @property
    def signer(self) -> SigningKey:
        return self.keys.signer

    def find(self, kid: str) -> SigningKey | None:
        """Return the key named `kid`, re-reading the parameter once if the loaded set lacks it."""
        key = self.keys.find(kid)
        if key is not None:
            return key

        # NOTE: this lock is blocking so that a request whose kid a concurrent re-read is
        # about to load waits for that read instead of being rejected.
        with self._lock:
            key = self._keys.find(kid)
            if key is not None:
                # Another thread re-read the parameter while this one waited.
                return key

            now = self._clock()
            if self._last_unknown_kid_read is not None and now - self._last_unknown_kid_read < self._refresh_interval:
                self._rejected_since_read += 1
                return None

            self._last_unknown_kid_read = now
            self._reread("a token names a kid that is not in the loaded set")
            return self._keys.find(kid)

    def _reread(self, reason: str) -> None:
        """Replace the key set with the parameter's current value; the caller holds the lock."""
        if self._rejected_since_read:
            logger.info("Rejected %d tokens with unknown kids since the last re-read", self._rejected_since_read)
            self._rejected_since_read = 0

        logger.info("Re-reading signing keys from %s: %s", self._parameter, reason)
        try:
            keys = load_key_set(self._ssm, self._parameter)
        except KeyLoadError as exc:
            # The error names the parameter and the failure, never key material.
            self._fresh_until = self._clock() + self._refresh_interval
            logger.warning("Keeping the loaded signing keys (kids %s): %s", ", ".join(self._keys.kids), exc)
            return

        self._keys = keys
        self._fresh_until = self._clock() + self._max_age
