"""Retraining: branch runs that start at the window's first checkpoint and differ only by plan.

Every branch loads the baseline's checkpoint at the window start (weights and optimizer
state), trains through the window and a margin after it on the baseline's data order with
its own `Plan`, and scores every head at the baseline's checkpoint steps. Branches land in
the store (`runs/retrain/<key>`) keyed by baseline, branch point, horizon and the plan's
content hash, so a rerun (or another claim that needs the same branch) reuses them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import ranks
from .checkpoint_io import read_records
from .device import Runtime, check_threads, facts, pinned_threads
from .errors import MdaError
from .interventions import Plan, Window
from .pipeline import Data, Run
from .progress import progress_bar
from .scales import Scale
from .store import Store, read_json
from .stream import TokenStream
from .train import cpu_facts, train_run

RETRAIN_VERSION = 2  # 2: StableLayerNorm (LayerNorm's own sums no longer depend on the thread count)


@dataclass(frozen=True)
class RunSpec:
    """One branch run: what was selected and what was done to it."""

    name: str  # e.g. "remove-top", "augment-random-2", "reorder-1"
    operation: str  # see interventions.OPERATIONS
    selection: str  # "top", "bottom", "random", "none" or a category rule
    k: int
    seed: int = 0


@dataclass
class Branch:
    spec: RunSpec
    key: str
    path: Path
    records: list[dict]
    selected: np.ndarray


@dataclass
class Job:
    spec: RunSpec
    plan: Plan
    selected: np.ndarray


@dataclass
class BranchSet:
    """Jobs that branch from one baseline at one window start and train to one horizon: what one
    `retrain_all` call trains, and what a claim lists for the cross-claim pool
    (mda_bench/branch_pool.py)."""

    scale: Scale
    data: Data
    baseline: Run
    window: Window
    horizon: int
    jobs: list[Job]

    def config(self, job: Job) -> dict:
        return _config(self.baseline, self.window, self.horizon, job.plan, self.scale.runtime)


def horizon_step(window: Window, total_steps: int, margin: float = 0.5) -> int:
    """Where branches stop: the window's end plus `margin` of its length (a delayed onset
    must still be seen), at most the baseline's last step."""
    return min(total_steps, window.end + max(1, round(margin * (window.end - window.start))))


def _config(baseline: Run, window: Window, horizon: int, plan: Plan, runtime: Runtime) -> dict:
    # an official baseline's branch point also depends on how its optimizer state was rebuilt
    state = {"branch_state": baseline.branch_state} if baseline.branch_state else {}
    return {
        **state,
        "version": RETRAIN_VERSION,
        "baseline": baseline.key,
        "branch_step": window.start,
        "end_step": horizon,
        "plan": plan.key(),
        # a branch computed on another device or precision, or over a torchrun group, is another
        **runtime.key_part(),
        **ranks.key_part(),
    }


def _train_one(
    scale: Scale,
    store: Store,
    stream: TokenStream,
    baseline: Run,
    window,
    horizon,
    job,
    branch: Path,
    bar=None,
):
    cfg = _config(baseline, window, horizon, job.plan, scale.runtime)

    def on_step(step: int, loss: float) -> None:
        if bar is not None:
            bar.update(1)

    @pinned_threads(scale.runtime)  # the manifest records the count it trained on
    def build(part: Path) -> dict:
        if not branch.is_dir():
            raise MdaError(f"baseline {baseline.path} has no checkpoint at the window start {window.start}")
        if ranks.is_writer():  # under torchrun every rank trains, rank 0 writes
            np.save(part / "selected.npy", job.selected)
        train_run(
            scale,
            stream,
            part,
            init_seed=int(baseline.manifest["config"].get("init_seed", 0)),
            plan=job.plan,
            branch_from=branch,
            end_step=horizon,
            on_step=on_step,
        )
        return {
            "spec": asdict(job.spec),
            "n_selected": len(job.selected),
            **facts(scale.runtime),
            **cpu_facts(),  # Runtime.threads, whatever --jobs is
        }

    return store.compute("retrain", cfg, build, collective=True).name


def _worker(args) -> str:
    """A process-pool entry point: reload the stream from the store, train one branch."""
    from .pipeline import reopen_stream

    scale, root, data_path, baseline, window, horizon, job, branch = args
    stream = reopen_stream(scale, Path(data_path))
    return _train_one(scale, Store(root), stream, baseline, window, horizon, job, branch)


def branch_point(scale: Scale, store: Store, data: Data, baseline: Run, step: int) -> Path:
    """The checkpoint every branch at `step` starts from: the baseline's own (weights and true
    AdamW state), or for official revisions the one built by official.branch_point."""
    if baseline.official:
        from .official import branch_point as official_point

        return official_point(scale, store, data, baseline, step)
    return baseline.path / "ckpt" / f"step-{step:06d}"


def pending(bs: BranchSet, store: Store) -> list[tuple[str, Job]]:
    """(store key, job) of each of the set's branches not yet stored, one per key (two specs may
    share a plan). Under torchrun rank 0's view decides (its ranks train together)."""
    looked = [store.lookup("retrain", bs.config(j)) for j in bs.jobs]
    todo = ranks.broadcast([i for i, (_, done) in enumerate(looked) if done is None])
    return list({looked[i][0]: bs.jobs[i] for i in todo}.items())


def worker_args(bs: BranchSet, store: Store, jobs: list[Job]) -> list[tuple]:
    """What `_worker` takes for each job: everything by value or path, so a spawned process or
    a Ray task on another node can train it."""
    branch = branch_point(bs.scale, store, bs.data, bs.baseline, bs.window.start)
    root, data_path = str(store.root), str(bs.data.path)
    return [(bs.scale, root, data_path, bs.baseline, bs.window, bs.horizon, j, branch) for j in jobs]


def retrain_all(bs: BranchSet, store: Store, n_jobs: int = 1, progress: bool = True) -> list[Branch]:
    """Train every job's branch of the set (reusing stored ones) and load them, in the jobs' order.

    With n_jobs > 1 the branches train in that many processes (or, under `--executor ray`, as
    Ray tasks), each on `Runtime.threads` threads as a serial run is. Every executor gives the
    same keys and bits (mda_bench/executor.py).
    """
    todo = [job for _, job in pending(bs, store)]
    per_run = bs.horizon - bs.window.start
    if todo:
        desc = f"retrain {len(todo)} runs x {per_run} steps"
        from . import executor as ex

        ranks.check_serial(n_jobs, ex.current().kind)
        if ex.current().kind == "ray":  # every run a Ray task, whatever --jobs
            run_on_ray(worker_args(bs, store, todo), desc, progress)
        elif n_jobs <= 1:
            branch = branch_point(bs.scale, store, bs.data, bs.baseline, bs.window.start)
            with progress_bar(len(todo) * per_run, desc, "step", enabled=progress) as bar:
                for job in todo:
                    bar.set_postfix(run=job.spec.name, refresh=False)
                    _train_one(
                        bs.scale, store, bs.data.stream, bs.baseline, bs.window, bs.horizon, job, branch, bar
                    )
        else:
            ex.run_local_pool(_worker, worker_args(bs, store, todo), n_jobs, desc, progress)
    return load_branches(bs, store)


def run_on_ray(args: list[tuple], desc: str, progress: bool) -> None:
    """Every branch of `args` (worker_args) a Ray task: one GPU each on CUDA, else its threads."""
    from . import executor as ex

    scale = args[0][0]
    gpus = 1 if scale.runtime.device == "cuda" else 0
    cpus = scale.runtime.threads if gpus == 0 else 1
    names = [job.spec.name for *_, job, _ in args]
    ex.run_ray(_worker, args, names, cpus=cpus, gpus=gpus, desc=desc, progress=progress)


def load_branches(bs: BranchSet, store: Store) -> list[Branch]:
    """The set's branches from the store, in the jobs' order (each checked for its thread count)."""
    out = []
    for job in bs.jobs:
        key, done = store.lookup("retrain", bs.config(job))
        if done is None:
            raise MdaError(f"branch {job.spec.name} is not in the store {store.root}")
        check_threads(bs.scale.runtime, read_json(done / "manifest.json"), f"branch {done}")
        out.append(Branch(job.spec, key, done, read_records(done / "ckpt"), job.selected))
    return out


def branch_manifest(branch: Branch) -> dict:
    return read_json(branch.path / "manifest.json")
