"""Independent from-scratch baselines (and their attributions) trained side by side before the
claims read them.

`run all --scale tiny --jobs 2` needs five from-scratch runs (three seeds, two ladder rungs) and
an attribution of each seed. Every run trains on `Runtime.threads` threads (default 1: the count
moves a `tiny` step's weight gradients in the last bits), so a claim that reached them one at a
time would leave the other cores idle; here `--jobs` of them train at once, the longest first
(the ladder's larger rungs), and then each seed's attribution, so that the last baseline is not
trained beside an idle core. An attribution waits on its baseline through the store's lock on
the baseline's key if that is still training. Each run lands in the store under the key it
always has, so the claims then simply find it there; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import branch_pool
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
    """Only the suite's own CPU runs are pooled (`--jobs` > 1, or Ray whatever `--jobs`): official
    Pythia checkpoints are read, not trained, a GPU run has the device to itself, and a torchrun
    group trains one run together."""
    return branch_pool.pooled(n_jobs) and scale.tokenizer == "bpe" and scale.runtime.device == "cpu"


@dataclass(frozen=True)
class AttributionSpec:
    """One seed's baseline, attribution, window and k (experiment.prepare) with `cfg`'s seeds."""

    scale: Scale
    cfg: object  # experiment.ExperimentConfig (imported late: experiment imports this module's users)

    @property
    def name(self) -> str:
        return (
            f"attribution of {self.scale.name} (init seed {self.cfg.seed}, order seed {self.cfg.order_seed})"
        )


def _worker(args) -> str:
    """A process-pool (or Ray) entry point: train one baseline, or attribute one, into the store."""
    spec, root = args
    store = Store(root)
    if isinstance(spec, AttributionSpec):
        from .experiment import prepare

        prepare(spec.scale, store, spec.cfg, log=lambda m: None)
        return spec.name
    data = prepare_data(spec.data_scale, store, order_seed=spec.order_seed, log=lambda m: None)
    train_stage(spec.scale, store, data, init_seed=spec.init_seed, progress=False)
    return spec.name


def train_baselines(
    specs: list[BaselineSpec],
    store: Store,
    n_jobs: int,
    progress: bool = True,
    log=print,
    attributions: list = (),
) -> list[str]:
    """Train the missing baselines of `specs`, `n_jobs` at a time and the longest first, then the
    `attributions` (ExperimentConfigs of `specs[0].scale`) of the seeds trained here; the names of
    the runs done.

    Their data is built (or found) here first, one at a time, so two workers never wait on the
    same corpus; with n_jobs = 1, or where runs are not pooled, this does nothing and each claim
    trains its baselines as it reaches them (and an attribution whose baseline was already
    stored is left to the claim too)."""
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
    # longest first (sorted is stable: equal runs keep their order)
    todo.sort(key=lambda s: -s.scale.train.steps * branch_pool.step_cost(s.scale))
    trained = {(s.scale.name, s.init_seed, s.order_seed) for s in todo}
    base = specs[0].scale
    todo += [AttributionSpec(base, c) for c in attributions if (base.name, c.seed, c.order_seed) in trained]
    threads = specs[0].scale.runtime.threads
    names = "; ".join(s.name for s in todo)
    where = "as Ray tasks" if ex.current().kind == "ray" else f"{n_jobs} at a time"
    log(f"training {len(todo)} runs, {where} on {threads} thread(s) each: {names}")
    args = [(s, str(store.root)) for s in todo]
    desc = f"baselines ({len(todo)} runs)"
    if ex.current().kind == "ray":
        ex.run_ray(_worker, args, [s.name for s in todo], cpus=threads, gpus=0, desc=desc, progress=progress)
    else:
        ex.run_local_pool(_worker, args, n_jobs, desc, progress)
    return [s.name for s in todo]
