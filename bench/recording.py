"""Counting the AWS calls that reach moto's server, with moto's request recorder."""
from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

# The X-Amz-Target prefix of each AWS JSON protocol that keypin speaks.
_SERVICE_PREFIXES = {"AmazonSSM": "ssm", "DynamoDB_20120810": "dynamodb"}


class MotoRecorder:
    """Counts the operations that moto's server at `endpoint` receives while recording.

    moto's server records requests only when MOTO_RECORDER_FILEPATH names a writable file
    at its start. The counts are taken at the server, so they include retries.
    """

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint

    @contextmanager
    def record(self) -> Iterator[Counter[str]]:
        """Count the operations received inside the `with` block, as `service:Operation` keys.

        The counter is filled when the block ends.
        """
        counts: Counter[str] = Counter()
        self._call("reset-recording")
        self._call("start-recording")
        try:
            yield counts
        finally:
            self._call("stop-recording")
        counts.update(operations(self._call("download-recording")))

    def _call(self, action: str) -> str:
        # The endpoint is the http:// URL of the moto server that the benchmarks started.
        url = f"{self._endpoint}/moto-api/recorder/{action}"
        request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return str(response.read().decode("utf-8"))


def operations(recording: str) -> Iterator[str]:
    """Yield `service:Operation` for each request in moto's recording, one JSON object per line."""
    for line in recording.splitlines():
        if not line.strip():
            continue
        headers = {name.lower(): value for name, value in json.loads(line)["headers"].items()}
        prefix, _, operation = headers.get("x-amz-target", "unknown.unknown").partition(".")
        yield f"{_SERVICE_PREFIXES.get(prefix, prefix)}:{operation}"
