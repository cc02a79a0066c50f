"""Content-addressed store: runs/<stage>/<hash of config and inputs>/ with a manifest.

A stage works in `<key>.partial/` and is renamed to `<key>/` only after its manifest is
written, so a directory without `.partial` is always complete. A finished stage is reused
when its manifest's config equals the requested one and refused (with a clear error) when it
does not; a killed stage leaves its `.partial/` folder, from which it resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

from .errors import MdaError

MANIFEST = "manifest.json"


def canonical(obj) -> str:
    """Canonical JSON of a config (dataclasses become dicts, keys sorted)."""

    def conv(o):
        if is_dataclass(o):
            return asdict(o)
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


class Store:
    """Stage directories under `root` (default ./runs)."""

    def __init__(self, root: Path | str = "runs"):
        self.root = Path(root)

    def final_dir(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def partial_dir(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key}.partial"

    def lookup(self, stage: str, config) -> tuple[str, Path | None]:
        """(key, finished dir or None). Raises if a finished dir holds another config."""
        key = config_key(config)
        final = self.final_dir(stage, key)
        if not final.exists():
            return key, None
        manifest = read_json(final / MANIFEST)
        if manifest.get("config") != json.loads(canonical(config)):
            raise MdaError(
                f"{final} holds a different config than requested; refusing to reuse it "
                "(delete the folder to recompute)"
            )
        return key, final

    def begin(self, stage: str, key: str, fresh: bool = False) -> Path:
        """The stage's working folder, kept from a killed run unless `fresh`."""
        part = self.partial_dir(stage, key)
        if fresh:
            shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True, exist_ok=True)
        return part

    def finish(self, stage: str, key: str, config, started: float, **extra) -> Path:
        """Write the manifest into the working folder, then rename it into place."""
        part = self.partial_dir(stage, key)
        manifest = {
            "stage": stage,
            "key": key,
            "config": json.loads(canonical(config)),
            "git_sha": git_sha(),
            "versions": package_versions(),
            "wall_time_s": round(time.time() - started, 2),
            **extra,
        }
        write_json_atomic(part / MANIFEST, manifest)
        final = self.final_dir(stage, key)
        if final.exists():
            shutil.rmtree(final)
        part.rename(final)
        return final

    def manifest(self, stage: str, key: str) -> dict:
        return read_json(self.final_dir(stage, key) / MANIFEST)
