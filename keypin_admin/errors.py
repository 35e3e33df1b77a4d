"""The error of the operator CLI."""
from __future__ import annotations


class AdminError(Exception):
    """A command cannot go on; the message is printed as one line."""
