"""The file table of a stage's manifest: every file's size and sha256, and what differs from it.

The store writes the table when a stage finishes and checks it when the stage is loaded (sizes
always, hashes once per process), so a truncated or altered file is refused by name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    """Every regular file a stage wrote, manifest excluded, in a fixed order."""
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            yield p


def file_table(folder: Path) -> dict[str, list]:
    """{relative path: [size, sha256]} of every file in a stage folder."""
    return {p.relative_to(folder).as_posix(): [p.stat().st_size, sha256_file(p)] for p in _files(folder)}


def check_files(folder: Path, table: dict[str, list], full: bool) -> list[str]:
    """What differs from the manifest's file table (sizes always, hashes when `full`)."""
    problems = []
    for rel, (size, digest) in table.items():
        p = folder / rel
        if not p.is_file():
            problems.append(f"{rel} is missing")
        elif p.stat().st_size != size:
            problems.append(f"{rel} has {p.stat().st_size} bytes, the manifest says {size}")
        elif full and sha256_file(p) != digest:
            problems.append(f"{rel} does not match its sha256")
    return problems
