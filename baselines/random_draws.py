"""Random baselines: same-size random draws from the window, and seed-noise branches.

A targeted intervention means something only against these. Each random draw picks k rows
uniformly from the same window with its own seed (draw i uses seed i) and applies the same
operation as the targeted run; an augment draw also places its copies with that seed. The
seed-noise branches keep the data and only reorder the window's rows (seed i), which gives
the spread two baseline runs differing in order seed show through the same window.
"""

from __future__ import annotations

from mda_bench.experiment import Experiment, selected_job
from mda_bench.interventions import random_k
from mda_bench.retrain import Job


def random_jobs(exp: Experiment, operation: str) -> list[Job]:
    """`exp.cfg.draws` random-k draws of `operation` (remove or augment)."""
    rows = exp.window.rows
    return [
        selected_job(
            exp, f"{operation}-random-{i}", operation, "random", random_k(rows, exp.k, seed=i), seed=i
        )
        for i in range(1, exp.cfg.draws + 1)
    ]


def noise_jobs(exp: Experiment) -> list[Job]:
    """`exp.cfg.noise_runs` branches that only reorder the window's rows."""
    import numpy as np

    empty = np.zeros(0, dtype=np.int64)
    return [
        selected_job(exp, f"reorder-{i}", "reorder", "none", empty, seed=i)
        for i in range(1, exp.cfg.noise_runs + 1)
    ]


def identity_job(exp: Experiment) -> Job:
    """A branch that changes nothing: the baseline's rows from the window-start checkpoint.

    It measures the branch procedure's own noise (resuming from a checkpoint, the optimizer
    state, threads): zero on the baseline's thread count, a 1e-4-step residue at `tiny` on
    another (docs/determinism.md). A store deduplicates identical plans, so one such branch per
    baseline is all there is."""
    import numpy as np

    return selected_job(exp, "identity", "identity", "none", np.zeros(0, dtype=np.int64))


def matched_random(pool, n: int, seed: int):
    """min(n, len(pool)) rows drawn from `pool` without replacement with `seed` (sorted)."""
    import numpy as np

    pool = np.asarray(pool)
    take = min(n, len(pool))
    return np.sort(np.random.default_rng([seed, 19]).choice(pool, size=take, replace=False))
