"""The runs emergence-modulation and random-null share (one list, so the store reuses them)."""

from __future__ import annotations

from baselines.random_draws import noise_jobs, random_jobs
from mda_bench.experiment import Experiment, run_jobs, targeted_job
from mda_bench.retrain import Branch


def modulation_jobs(exp: Experiment):
    """remove/augment of the top-k rows, R random draws of each, and the seed-noise runs."""
    return [
        targeted_job(exp, "remove", "top"),
        targeted_job(exp, "augment", "top"),
        *random_jobs(exp, "remove"),
        *random_jobs(exp, "augment"),
        *noise_jobs(exp),
    ]


def modulation_branches(exp: Experiment, n_jobs: int = 1, progress: bool = True) -> list[Branch]:
    return run_jobs(exp, modulation_jobs(exp), n_jobs, progress)
