"""The runs emergence-modulation and random-null share (one list, so the store reuses them).

Per independent baseline (seed): the targeted runs (remove/augment of the top-k), their
controls (bottom-k; R uniform random draws; R draws matching the top-k's category mix), one
identity branch (nothing changed: the branch procedure's own noise) and the reorder runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.category_matched import composition, matched_jobs, window_labels
from baselines.random_draws import identity_job, noise_jobs, random_jobs
from mda_bench.experiment import (
    Experiment,
    branch_set,
    results_table,
    run_jobs,
    targeted_job,
    unit_curve,
)
from mda_bench.retrain import Branch


@dataclass
class SeedRuns:
    """One baseline's experiment, its branches and their results table (rows carry `seed`)."""

    exp: Experiment
    branches: list[Branch]
    table: list[dict]

    @property
    def seed(self) -> int:
        return self.exp.cfg.seed


def modulation_jobs(exp: Experiment):
    jobs = [targeted_job(exp, op, sel) for sel in ("top", "bottom") for op in ("remove", "augment")]
    for op in ("remove", "augment"):
        jobs += random_jobs(exp, op) + matched_jobs(exp, op)
    return [*jobs, identity_job(exp), *noise_jobs(exp)]


def dose_jobs(exp: Experiment, fractions) -> list:
    """remove-top and one category-matched draw at each k fraction (k of the default fraction
    is skipped: those runs are already the main ones)."""
    from mda_bench import interventions as iv
    from mda_bench.experiment import selected_job

    rows, scores = exp.scores()
    jobs = []
    for f in fractions:
        k = iv.default_k(exp.window, f)
        if k == exp.k:
            continue
        top = iv.top_k(rows, scores, k)
        jobs.append(selected_job(exp, f"remove-top-{f:g}", "remove", "top-dose", top))
        jobs += matched_jobs(
            exp, "remove", top, draws=1, name=f"remove-matched-{f:g}", selection="matched-dose"
        )
    return jobs


def dose_points(table: list[dict], k_main: int) -> list[dict]:
    """(k, targeted d_onset, matched d_onset) per dose, the main k's from the main runs."""
    out = {}
    for row in table:
        sel = {"top-dose": "top", "matched-dose": "matched", "top": "top", "matched-random": "matched"}
        if row["operation"] != "remove" or row["selection"] not in sel:
            continue
        point = out.setdefault(row["k"], {"k": row["k"], "top": None, "matched": []})
        if sel[row["selection"]] == "top":
            point["top"] = row["d_onset"]
        else:
            point["matched"].append(row["d_onset"])
    return [out[k] for k in sorted(out)]


def seed_runs(exp: Experiment, branches: list[Branch]) -> SeedRuns:
    table = results_table(exp, branches)
    for row in table:
        row["seed"] = exp.cfg.seed
    return SeedRuns(exp, branches, table)


def modulation_sets(exps: list[Experiment]) -> list:
    """The branch sets of `modulation_runs`, for the cross-claim pool (mda_bench/branch_pool.py)."""
    return [branch_set(exp, modulation_jobs(exp)) for exp in exps]


def modulation_runs(exps: list[Experiment], n_jobs: int = 1, progress: bool = True) -> list[SeedRuns]:
    return [seed_runs(exp, run_jobs(exp, modulation_jobs(exp), n_jobs, progress)) for exp in exps]


def pooled_table(runs: list[SeedRuns]) -> list[dict]:
    return [row for r in runs for row in r.table]


def run_record(exp: Experiment, branch: Branch | None, window=None) -> dict:
    """A run's per-checkpoint curve (window start to horizon) and its selection's category mix:
    what the report JSON holds so a verdict can be re-derived without this code. `window`:
    the (rows, labels) of `window_labels(exp)`, computed once by a caller that records many runs."""
    records = exp.baseline.records if branch is None else branch.records
    steps, score, icl = unit_curve(exp, records)
    out = {"steps": steps.tolist(), "score": score.tolist(), "icl": icl.tolist()}
    if branch is not None:
        out["spec"] = {
            "operation": branch.spec.operation,
            "selection": branch.spec.selection,
            "k": branch.spec.k,
        }
        if len(branch.selected) and branch.spec.operation in ("remove", "augment"):
            out["composition"] = composition(exp, branch.selected, window)
    return out


def seeds_json(runs: list[SeedRuns]) -> list[dict]:
    """Every seed's unit, window and every run's curve (the report JSON's `seeds`)."""
    out = []
    for r in runs:
        u = r.exp.unit
        window = window_labels(r.exp)
        out.append(
            {
                "seed": r.seed,
                "order_seed": r.exp.cfg.order_seed,
                "unit": {k: u[k] for k in ("layer", "head", "score", "final_score", "rose")},
                "window": [r.exp.window.start, r.exp.window.end],
                "horizon": r.exp.horizon,
                "k": r.exp.k,
                "attribution_key": f"attribution/{r.exp.attribution.key}",
                "runs": {"baseline": run_record(r.exp, None)}
                | {b.spec.name: run_record(r.exp, b, window) for b in r.branches},
            }
        )
    return out


def effects(table: list[dict], operation: str, selection: str, metric: str = "d_onset") -> np.ndarray:
    return np.array(
        [row[metric] for row in table if row["operation"] == operation and row["selection"] == selection]
    )
