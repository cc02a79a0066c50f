"""Progress: a tqdm bar on a terminal, a plain line every so often anywhere else.

Piped to a file or run under a scheduler, a redrawn bar is either silent or noise; there the
same tqdm object writes its status line through the `mda_bench` logger (so it also reaches the
run's log file in the store) at most once every `MDA_PROGRESS_SECONDS` (default 30).
"""

from __future__ import annotations

import io
import logging
import os
import sys

from tqdm import tqdm

from .logs import chatty

log = logging.getLogger("mda_bench")


class _ToLog(io.TextIOBase):
    """A file-like sink for tqdm that turns each redraw into one log line."""

    def write(self, s: str) -> int:
        line = s.strip("\r\n ")
        if line:
            log.info(line)
        return len(s)


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True) -> tqdm:
    """A tqdm bar for `total` units (a disabled one when `enabled` is false or -q was given)."""
    if not enabled or not chatty():
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)
    every = float(os.environ.get("MDA_PROGRESS_SECONDS", "30"))
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=_ToLog(),
        mininterval=every,
        maxinterval=1.5 * every,
        ascii=True,
    )
