"""Item 5 of the GPU check: two `micro` branches through Ray on one device equal serial ones.

Ray gives each branch task the whole device (`num_gpus=1` on CUDA), so on one GPU the two run
one after the other; the point is the path (driver, task, store) on a real accelerator, and
that its branches are bit for bit the serial ones. Where Ray is not installed the item is
skipped, and says so, rather than failing the check.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path


def _branches(device: str, root: Path, executor: str) -> list:
    from . import executor as ex
    from .device import resolve
    from .experiment import ExperimentConfig, prepare, run_jobs, selected_job
    from .scales import get_scale
    from .store import Store

    scale = dataclasses.replace(get_scale("micro"), runtime=resolve(device))
    exp = prepare(scale, Store(root), ExperimentConfig(), log=lambda m: None)
    rows = exp.window.rows
    jobs = [
        selected_job(exp, "remove-first", "remove", "first", rows[:16]),
        selected_job(exp, "augment-last", "augment", "last", rows[-16:]),
    ]
    with ex.using(executor):
        return run_jobs(exp, jobs, progress=False)


def check_ray_branches(device: str) -> dict:
    """{ray_branches_identical, ray_seconds} or {ray_skipped: why}."""
    try:
        import ray
    except ImportError:
        return {"ray_skipped": "ray is not installed here (pip install 'mda-bench[ray]')"}
    started = not ray.is_initialized()
    if started:
        gpus = 1 if device == "cuda" else 0
        ray.init(num_cpus=2, num_gpus=gpus, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            serial = _branches(device, Path(tmp) / "serial", "local")
            t0 = time.perf_counter()
            remote = _branches(device, Path(tmp) / "ray", "ray")
            seconds = time.perf_counter() - t0
    finally:
        if started:
            ray.shutdown()
    same = [a.key == b.key and a.records == b.records for a, b in zip(serial, remote, strict=True)]
    return {"ray_branches_identical": all(same), "ray_seconds": round(seconds, 2)}
