"""Content-addressed store: runs/<stage>/<hash of config and inputs>/ with a manifest.

A stage is computed in `<key>.partial/` under a per-key file lock (`.locks/<stage>-<key>.lock`,
held by `filelock`), and renamed to `<key>/` only after its manifest is written. So:

- a folder without `.partial` is always complete, and a killed stage resumes from `.partial/`;
- two processes that want the same stage do not both write it: the second waits for the
  lock, then finds the finished folder and reuses it; different keys compute in parallel;
- the manifest records the size and sha256 of every file the stage wrote. Loading a stage
  checks every size; the first load in a process also checks every hash. A damaged stage is
  refused in one line that names it and the command that removes it;
- a finished store is read without writing anything (no lock is taken to read), so a
  read-only store works.

A finished stage is reused when its manifest's config equals the requested one and refused
when it does not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import MISSING, Field, fields, is_dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from . import ranks
from .checksums import MANIFEST, check_files, file_table
from .errors import MdaError

log = logging.getLogger("mda_bench")

# Stage folders whose every hash was checked in this process (hashing is done once per process).
_HASHED: set[Path] = set()


# Field metadata: a field added after runs were stored is left out of keys at its default, so
# every stored run keeps its key (`field(default=..., metadata=KEY_OMITS_DEFAULT)`).
KEY_OMITS_DEFAULT = {"key_omits_default": True}

# the manifest fields the store writes itself; a stage's build may not return these
RESERVED = frozenset({"stage", "key", "config", "git_sha", "versions", "wall_time_s", "files"})


def _default(f: Field):
    return f.default_factory() if f.default is MISSING else f.default


def canonical(obj) -> str:
    """Canonical JSON of a config (dataclasses become dicts, keys sorted; a field marked
    KEY_OMITS_DEFAULT is left out while it holds its default)."""

    def conv(o):
        if is_dataclass(o):
            return {
                f.name: getattr(o, f.name)
                for f in fields(o)
                if not (f.metadata.get("key_omits_default") and getattr(o, f.name) == _default(f))
            }
        if isinstance(o, Path):
            return str(o)
        if isinstance(o, tuple | set):
            return list(o)
        raise TypeError(f"not serialisable in a config: {type(o).__name__}")

    return json.dumps(obj, default=conv, sort_keys=True, separators=(",", ":"))


def config_key(config) -> str:
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


def git_sha() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("mda-bench", "torch", "transformers", "kronfluence", "tokenizers", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(json.loads(canonical(obj)), indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MdaError(f"corrupt or unreadable file {path}: {exc}") from exc


def _as_path(p: str | None) -> Path | None:
    return None if p is None else Path(p)


class Store:
    """Stage directories under `root` (default ./runs)."""

    def __init__(self, root: Path | str = "runs"):
        self.root = Path(root)

    def final_dir(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def partial_dir(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key}.partial"

    def _lock(self, stage: str, key: str) -> FileLock:
        """The lock of one stage key, in <root>/.locks/ so stage folders hold only stages."""
        folder = self.root / ".locks"
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(folder / f"{stage}-{key}.lock")

    def damaged(self, stage: str, key: str, problems: list[str]) -> MdaError:
        return MdaError(
            f"stored stage {stage}/{key} in {self.root} is damaged ({problems[0]}"
            f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); remove it with "
            f"`mda-bench store rm {stage}/{key} --store {self.root}` and rerun to recompute it"
        )

    def verify(self, stage: str, key: str, full: bool = True) -> list[str]:
        """Problems of one finished stage (empty when it is intact). Stages written before
        checksums existed have no file table and only their manifest is checked."""
        final = self.final_dir(stage, key)
        manifest = read_json(final / MANIFEST)
        return check_files(final, manifest.get("files", {}), full)

    def lookup(self, stage: str, config) -> tuple[str, Path | None]:
        """(key, finished dir or None). Raises if a finished dir holds another config or is
        damaged."""
        key = config_key(config)
        final = self.final_dir(stage, key)
        if not final.exists():
            return key, None
        manifest = read_json(final / MANIFEST)
        if manifest.get("config") != json.loads(canonical(config)):
            raise MdaError(
                f"{final} holds a different config than requested; refusing to reuse it "
                f"(`mda-bench store rm {stage}/{key} --store {self.root}` removes it)"
            )
        full = final.resolve() not in _HASHED
        problems = check_files(final, manifest.get("files", {}), full)
        if problems:
            raise self.damaged(stage, key, problems)
        if full:
            _HASHED.add(final.resolve())
        return key, final

    def compute(
        self,
        stage: str,
        config,
        build: Callable[[Path], dict | None],
        fresh: bool = False,
        collective: bool = False,
    ) -> Path | None:
        """The finished folder of (stage, config): loaded, or built now by `build(work_dir)`.

        `build` fills the working folder and returns the manifest's extra fields, or None when
        it stopped before finishing (the folder stays `.partial`). It runs under the key's
        lock: a second process asking for the same key waits, then reuses the result.

        In a torchrun group (mda_bench/ranks.py) rank 0 alone takes the lock and writes; a
        `collective` build (training) runs on every rank in rank 0's working folder, and any
        other build on rank 0 only, the other ranks receiving its folder."""
        if ranks.world_size() > 1:
            return self._compute_ranked(stage, config, build, fresh, collective)
        return self._compute(stage, config, build, fresh)

    def _compute(self, stage: str, config, build, fresh: bool) -> Path | None:
        key, done = self.lookup(stage, config)
        if done is not None:
            return done
        lock = self._lock(stage, key)
        try:
            lock.acquire(timeout=0.5)
        except Timeout:
            log.info(f"waiting for another process computing {stage}/{key} ...")
            lock.acquire()
        try:
            key, done = self.lookup(stage, config)  # it may have been finished while we waited
            if done is not None:
                return done
            started = time.time()
            extra = build(self.begin(stage, key, fresh))
            return None if extra is None else self.finish(stage, key, config, started, **extra)
        finally:
            lock.release()

    def _compute_ranked(self, stage: str, config, build, fresh: bool, collective: bool) -> Path | None:
        """`compute` in a group: rank 0 decides and writes, the others follow its broadcasts.
        Rank 0 holds the key's file lock through a collective build, so other groups or
        processes on the same store still wait for it; ranks > 0 never take a lock (they would
        wait on rank 0 while rank 0 waits on them in the build's all-reduce)."""
        if not collective:
            done = self._compute(stage, config, build, fresh) if ranks.is_writer() else None
            return _as_path(ranks.broadcast(None if done is None else str(done)))
        lock, done, part, key, started = None, None, None, "", 0.0
        if ranks.is_writer():
            key, done = self.lookup(stage, config)
            if done is None:
                lock = self._lock(stage, key)
                lock.acquire()
                key, done = self.lookup(stage, config)
                if done is None:
                    started = time.time()
                    part = self.begin(stage, key, fresh)
                else:
                    lock.release()
        decision = ranks.broadcast((str(done) if done is not None else None, str(part) if part else None))
        if decision[0] is not None:
            return Path(decision[0])
        try:
            extra = build(Path(decision[1]))  # train_run writes on rank 0 only
            final = None
            if ranks.is_writer() and extra is not None:
                final = self.finish(stage, key, config, started, **extra)
        finally:
            if lock is not None:
                lock.release()
        return _as_path(ranks.broadcast(None if final is None else str(final)))

    def begin(self, stage: str, key: str, fresh: bool = False) -> Path:
        """The stage's working folder, kept from a killed run unless `fresh`."""
        part = self.partial_dir(stage, key)
        if fresh:
            shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True, exist_ok=True)
        return part

    def finish(self, stage: str, key: str, config, started: float, **extra) -> Path:
        """Write the manifest (with every file's size and sha256) into the working folder,
        then rename it into place."""
        part = self.partial_dir(stage, key)
        clash = sorted(RESERVED & extra.keys())
        if clash:  # a stage's own field named like the store's would silently replace it
            raise ValueError(f"stage {stage}: manifest fields {clash} are the store's own")
        manifest = {
            "stage": stage,
            "key": key,
            "config": json.loads(canonical(config)),
            "git_sha": git_sha(),
            "versions": package_versions(),
            "wall_time_s": round(time.time() - started, 2),
            "files": file_table(part),
            **extra,
        }
        write_json_atomic(part / MANIFEST, manifest)
        final = self.final_dir(stage, key)
        if final.exists():
            shutil.rmtree(final)
        part.rename(final)
        _HASHED.add(final.resolve())  # just hashed
        return final

    def manifest(self, stage: str, key: str) -> dict:
        return read_json(self.final_dir(stage, key) / MANIFEST)

    # ------------------------------------------------------------------ maintenance
    def stages(self) -> list[tuple[str, str, Path]]:
        """(stage, key, folder) of every finished or partial stage folder."""
        out = []
        skip = ("logs", ".locks")
        for stage_dir in sorted(p for p in self.root.glob("*") if p.is_dir() and p.name not in skip):
            for d in sorted(p for p in stage_dir.iterdir() if p.is_dir()):
                out.append((stage_dir.name, d.name, d))
        return out

    def remove(self, name: str) -> Path:
        """Delete one stage folder, named `stage/key` (a `.partial` one too)."""
        stage, _, key = name.partition("/")
        folder = self.root / stage / key
        if not stage or not key or "/" in key or stage in ("logs", ".locks") or not folder.is_dir():
            raise MdaError(f"no stored stage {name!r} in {self.root} (`mda-bench store ls` lists them)")
        with self._lock(stage, key.removesuffix(".partial")):
            shutil.rmtree(folder)
        _HASHED.discard(folder.resolve())
        return folder
