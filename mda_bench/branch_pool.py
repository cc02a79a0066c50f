"""Every branch the chosen claims need, trained in one pool before the claims read them.

`run all --scale tiny --jobs 2` trains about a hundred branches for four claims: 19 per seed
and a dose sweep for emergence-modulation, 15 for structural-catalyst, 5 per rung for
augmentation-speedup. Trained list by list, as each claim (and each seed) reached them, every
list with an odd count ended on one busy core, and the ladder's last `tiny-l` branches (four
minutes each) left the other core idle longest. Here the claims first list their branch sets
(a task's `branch_sets(exps)`), every branch the store lacks goes to one process pool (or one
Ray submission), the longest first (the classic longest-processing-time order, whose makespan
is within 4/3 of the best), and the claims then find every branch in the store.

Nothing about a branch changes: the same worker trains it under the same key on the same
threads, so reports are byte-equal to the claim-by-claim order (tested on `micro`).
"""

from __future__ import annotations

from .retrain import BranchSet, _worker, pending, run_on_ray, worker_args
from .scales import Scale
from .store import Store


def step_cost(scale: Scale) -> float:
    """A training step's cost in multiply-adds per token times tokens (the order of the pool,
    not a prediction): the blocks' 12 d^2 per layer plus the vocabulary projection."""
    m = scale.model
    per_token = 12 * m.n_layers * m.d_model**2 + m.vocab_size * m.d_model
    return float(per_token * m.ctx * scale.train.batch_size)


def pooled(n_jobs: int) -> bool:
    """Branches go to one pool where they would go to a pool anyway: `--jobs` > 1 or Ray, and
    not inside a torchrun group (its ranks train one branch together)."""
    from . import executor as ex
    from . import ranks

    return ranks.world_size() == 1 and (n_jobs > 1 or ex.current().kind == "ray")


def train_branch_sets(
    sets: list[BranchSet], store: Store, n_jobs: int, progress: bool = True, log=print
) -> int:
    """Train the missing branches of `sets` longest first; how many were trained. Outside a pool
    (`--jobs 1`, torchrun) nothing happens here and each claim trains its own as before."""
    from . import executor as ex

    if not pooled(n_jobs):
        return 0
    todo: dict[str, tuple[float, tuple]] = {}  # store key -> (cost, worker arguments)
    for bs in sets:
        new = [(key, job) for key, job in pending(bs, store) if key not in todo]
        if not new:
            continue
        cost = (bs.horizon - bs.window.start) * step_cost(bs.scale)
        for (key, _), a in zip(new, worker_args(bs, store, [job for _, job in new]), strict=True):
            todo[key] = (cost, a)
    if not todo:
        return 0
    # longest first; equal costs keep the claims' own order (sorted is stable)
    args = [a for _, a in sorted(todo.values(), key=lambda t: -t[0])]
    where = "as Ray tasks" if ex.current().kind == "ray" else f"{n_jobs} at a time"
    log(f"training {len(args)} branches of the chosen claims, {where}, longest first")
    desc = f"branches ({len(args)} runs)"
    if ex.current().kind == "ray":
        run_on_ray(args, desc, progress)
    else:
        ex.run_local_pool(_worker, args, n_jobs, desc, progress)
    return len(args)
