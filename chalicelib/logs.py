"""Logging set-up that keeps secrets out of the logs, even at DEBUG level."""
from __future__ import annotations

import logging

# At DEBUG, botocore logs whole request parameters and response bodies: the key
# parameter's decrypted value among them (GetParameter, PutParameter).
PAYLOAD_LOGGERS = ("botocore.endpoint", "botocore.parsers")


class _DropDebugRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def configure() -> None:
    """Log keypin's INFO lines (keys loaded, re-read) and hide botocore's payload dumps."""
    logging.getLogger("chalicelib").setLevel(logging.INFO)
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _DropDebugRecords) for existing in logger.filters):
            logger.addFilter(_DropDebugRecords())
