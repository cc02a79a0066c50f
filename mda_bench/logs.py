"""Logging: progress and messages go to stderr and to one log file per command in the store.

Results go to stdout (click.echo); everything a user watches while it runs goes through the
`mda_bench` logger: INFO by default, DEBUG with -v, WARNING and above with -q.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from pathlib import Path

log = logging.getLogger("mda_bench")
_console_level = logging.INFO


def chatty() -> bool:
    """Whether progress belongs on the console (not under -q)."""
    return _console_level <= logging.INFO


class _Stderr(logging.StreamHandler):
    """A stderr handler that writes to whatever sys.stderr is now (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup(verbosity: int) -> None:
    """Configure the logger once per command: verbosity -1 (quiet), 0 or 1 (verbose)."""
    global _console_level
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    _console_level = level
    log.setLevel(logging.DEBUG)  # the file gets everything; the console its level
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    console = _Stderr()
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(console)


def attach_file(store_root: Path, command: str) -> Path | None:
    """Also log to <store>/logs/<time>-<pid>-<command>.log; None (and a debug line) where the
    store cannot be written, e.g. a read-only store that is only read."""
    folder = Path(store_root) / "logs"
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{command}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(folder / name, encoding="utf-8")
    except OSError as exc:
        log.debug(f"no log file in {folder}: {exc}")
        return None
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    detach_file()
    log.addHandler(handler)
    log.debug("command: " + shlex.join(["mda-bench", *sys.argv[1:]]))
    return folder / name


def detach_file() -> None:
    """Close the command's log file (at the end of the command)."""
    for h in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
        log.removeHandler(h)
        h.close()
