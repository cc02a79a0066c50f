"""Independent from-scratch baselines trained side by side before the claims read them.

`run all --scale tiny --jobs 2` needs five from-scratch runs (three seeds, two ladder rungs).
Every run trains on `Runtime.threads` threads (default 1: the count moves a `tiny` step's
weight gradients in the last bits), so a claim that reached them one at a time would leave
the other cores idle; here `--jobs` of them train at once. Each run lands in the store under
the key it always has, so the claims then simply find it there; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pipeline import prepare_data, train_config, train_stage
from .scales import Scale
from .store import Store


@dataclass(frozen=True)
class BaselineSpec:
    """One from-scratch run: `scale`'s model on `data_scale`'s rows (a ladder rung trains on its
    base scale's stream), with its init and data-order seeds."""

    scale: Scale
    data_scale: Scale
    init_seed: int
    order_seed: int

    @property
    def name(self) -> str:
        return f"{self.scale.name} (init seed {self.init_seed}, order seed {self.order_seed})"


def pooled(scale: Scale, n_jobs: int) -> bool:
    """Only the suite's own CPU runs are pooled: official Pythia checkpoints are read, not
    trained, a GPU run has the device to itself, and a torchrun group trains one run together."""
    from . import ranks

    return (
        n_jobs > 1 and scale.tokenizer == "bpe" and scale.runtime.device == "cpu" and ranks.world_size() == 1
    )


def _worker(args) -> str:
    """A process-pool (or Ray) entry point: train one baseline into the store."""
    spec, root = args
    store = Store(root)
    data = prepare_data(spec.data_scale, store, order_seed=spec.order_seed, log=lambda m: None)
    train_stage(spec.scale, store, data, init_seed=spec.init_seed, progress=False)
    return spec.name


def train_baselines(
    specs: list[BaselineSpec], store: Store, n_jobs: int, progress: bool = True, log=print
) -> list[str]:
    """Train the missing baselines of `specs`, `n_jobs` at a time; the names of those trained.

    Their data is built (or found) here first, one at a time, so two workers never wait on the
    same corpus; with n_jobs = 1, or where runs are not pooled, this does nothing and each claim
    trains its baselines as it reaches them."""
    from . import executor as ex

    specs = [s for s in specs if pooled(s.scale, n_jobs)]
    todo, seen = [], set()
    for s in specs:
        data = prepare_data(s.data_scale, store, order_seed=s.order_seed, log=log)
        key, done = store.lookup("train", train_config(s.scale, data, s.init_seed, None))
        if done is None and key not in seen:  # a spec listed twice is trained once
            seen.add(key)
            todo.append(s)
    if len(todo) < 2:  # one run gains nothing from a pool: the claim trains it when it gets there
        return []
    threads = specs[0].scale.runtime.threads
    log(
        f"training {len(todo)} baselines, {n_jobs} at a time on {threads} thread(s) each: "
        + ", ".join(s.name for s in todo)
    )
    args = [(s, str(store.root)) for s in todo]
    desc = f"baselines ({len(todo)} runs)"
    if ex.current().kind == "ray":
        ex.run_ray(_worker, args, [s.name for s in todo], cpus=threads, gpus=0, desc=desc, progress=progress)
    else:
        ex.run_local_pool(_worker, args, n_jobs, desc, progress)
    return [s.name for s in todo]
