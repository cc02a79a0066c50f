"""Where independent branch runs execute: this process, a local process pool, or Ray.

A branch run is a pure function of its arguments whose output lands atomically in the store
under its key (store.compute: a lock per key, a `.partial` folder renamed into place), so the
store is the only state an executor shares. Any executor therefore gives the same keys and the
same bits (every run on `Runtime.threads` threads, whatever runs it), a retried or
repeated task reuses what is there, and a killed run resumes from its checkpoints.

`--executor ray` submits every run as a Ray task with `num_cpus` = the run's threads (or
`num_gpus=1` on CUDA) to the cluster at `--ray-address` (default: start a local one), retried
up to MAX_RETRIES times; the store must be on a filesystem every node sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import MdaError
from .progress import progress_bar

EXECUTORS = ("local", "ray")
MAX_RETRIES = 2


@dataclass(frozen=True)
class ExecutorConfig:
    kind: str = "local"
    ray_address: str | None = None  # None: a local Ray instance


_current = ExecutorConfig()


def configure(kind: str = "local", ray_address: str | None = None) -> None:
    """Set this process's executor (the CLI does, once per command)."""
    global _current
    if kind not in EXECUTORS:
        raise MdaError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    _current = ExecutorConfig(kind, ray_address)


def current() -> ExecutorConfig:
    return _current


@contextmanager
def using(kind: str, ray_address: str | None = None) -> Iterator[None]:
    """This process's executor set to `kind` inside the block, the previous one restored after."""
    before = _current
    configure(kind, ray_address)
    try:
        yield
    finally:
        configure(before.kind, before.ray_address)


def run_local_pool(fn: Callable, args: Sequence, n_jobs: int, desc: str, progress: bool) -> None:
    """`fn(a)` for every a in `n_jobs` spawned processes (spawn: fork would copy torch's pools)."""
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(n_jobs)
    try:
        with progress_bar(len(args), desc, "run", enabled=progress) as bar:
            for _ in pool.imap_unordered(fn, args):
                bar.update(1)
        pool.close()
    except BaseException:
        # a failed branch, Ctrl-C or SIGTERM: stop the others now; their checkpoints stay in
        # .partial folders and a rerun resumes them
        pool.terminate()
        raise
    finally:
        pool.join()


def run_ray(
    fn: Callable, args: Sequence, names: Sequence[str], cpus: int, gpus: int, desc: str, progress: bool
):
    """`fn(a)` for every a as Ray tasks; a task that still fails after MAX_RETRIES stops the
    command in one line naming its run."""
    try:
        import ray
    except ImportError:
        raise MdaError("--executor ray needs ray: pip install 'mda-bench[ray]'") from None
    cfg = current()
    if not ray.is_initialized():
        ray.init(address=cfg.ray_address, ignore_reinit_error=True, log_to_driver=False)
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES, retry_exceptions=True)(fn)
    pending = {task.remote(a): name for a, name in zip(args, names)}
    with progress_bar(len(args), desc, "run", enabled=progress) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(done[0])
            try:
                ray.get(done[0])
            except Exception as exc:
                for ref in pending:
                    ray.cancel(ref)
                raise MdaError(f"branch {name} failed on Ray after {MAX_RETRIES} retries: {exc}") from None
            bar.update(1)
            bar.set_postfix(running=len(pending), refresh=False)
