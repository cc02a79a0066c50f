"""The one exception type users see: printed as a single line by the CLI, exit code 2."""

from __future__ import annotations


class MdaError(Exception):
    """A user-facing error: bad input, unreadable file, corrupt artifact, value out of range."""
