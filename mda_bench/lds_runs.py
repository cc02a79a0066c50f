"""Head-LDS runs: the subset branches, what they measure, and every strategy's predictions.

Each subset of `lds.draw_subsets` is removed in a branch of the claims' engine (same start and
window as every claim branch); the branches stop at the window's end, since both measures read
the curve only inside the window. For the first `ceiling` subsets a second branch removes the
same rows with the window's rows reordered (seed = subset index + 1), whose measurement
against the first gives the noise ceiling. The measured change of a branch is its unit score at
a fixed step inside the rise (the reference curve's onset step) minus the reference's, and its
area over the window minus the reference's (the reference is the baseline, or an official
baseline's identity branch).
"""

from __future__ import annotations

import numpy as np

from . import interventions as iv
from .experiment import Experiment, reference_records, unit_curve
from .lds import LdsConfig, draw_subsets, lds, noise_ceiling, predictions
from .metrics import area, onset_step, score_at
from .retrain import Branch, Job, RunSpec


def subset_jobs(exp: Experiment, cfg: LdsConfig, ceiling: int = 0) -> list[Job]:
    """One removal branch per subset, and for the first `ceiling` subsets the same removal with
    the window reordered."""
    n = exp.data.stream.n_rows
    jobs = []
    for i, subset in enumerate(draw_subsets(exp.window.rows, cfg)):
        tag = f"{cfg.fraction:g}-{cfg.seed}-{i}"
        jobs.append(
            Job(RunSpec(f"lds-{tag}", "remove", "lds-subset", len(subset), i), iv.remove(n, subset), subset)
        )
        if i < ceiling:
            order = iv.reorder(n, exp.window, seed=i + 1).sparse_order
            plan = iv.Plan(n, sparse_weights=iv.remove(n, subset).sparse_weights, sparse_order=order)
            jobs.append(
                Job(
                    RunSpec(f"lds-{tag}-reordered", "remove", "lds-ceiling", len(subset), i + 1), plan, subset
                )
            )
    return jobs


def fixed_step(exp: Experiment, reference: list[dict]) -> float:
    """The step inside the rise the score is read at: the reference curve's onset, or the
    window's end where the onset is not inside the window (no head formed there: at the start
    every branch still has the baseline's score)."""
    steps, ys, _ = unit_curve(exp, reference)
    onset = onset_step(steps, ys, float(exp.unit["final_score"]), exp.cfg.onset_fraction)
    inside = onset is not None and exp.window.start < onset <= exp.window.end
    return float(onset if inside else exp.window.end)


def changes(exp: Experiment, branches: list[Branch], reference: list[dict]) -> dict[str, np.ndarray]:
    """{score, area}: each branch's change of the unit's score at the fixed step and of its
    area over the window, against the reference curve."""
    at = fixed_step(exp, reference)
    w = (exp.window.start, exp.window.end)

    def read(records):
        steps, ys, _ = unit_curve(exp, records)
        return score_at(steps, ys, at), area(steps, ys, *w)

    base_score, base_area = read(reference)
    got = np.array([read(b.records) for b in branches]).reshape(-1, 2)
    return {"score": got[:, 0] - base_score, "area": got[:, 1] - base_area}


def leaderboard(
    exp: Experiment, cfg: LdsConfig, branches: list[Branch], strategies: dict, reference=None
) -> dict:
    """LDS of every strategy on both measures, and the noise ceiling.

    `branches`: those of subset_jobs(exp, cfg) in order; `strategies`: {name: (rows, scores)}
    over the window's rows (sorted); `reference`: the curve changes are measured against
    (default: reference_records over `branches`)."""
    subsets = draw_subsets(exp.window.rows, cfg)
    main = [b for b in branches if b.spec.selection == "lds-subset"]
    again = [b for b in branches if b.spec.selection == "lds-ceiling"]
    if len(main) != len(subsets):
        raise ValueError(f"{len(main)} subset branches for {len(subsets)} subsets")
    reference = reference_records(exp, branches) if reference is None else reference
    measured = changes(exp, main, reference)
    out = {"fixed_step": fixed_step(exp, reference), "subsets": len(subsets), "fraction": cfg.fraction}
    if again:
        second = changes(exp, again, reference)
        first = {m: v[[b.spec.seed - 1 for b in again]] for m, v in measured.items()}
        out["ceiling"] = {m: noise_ceiling(first[m], second[m]) for m in measured}
        out["ceiling_subsets"] = len(again)
    predicted = {name: predictions(rows, scores, subsets) for name, (rows, scores) in strategies.items()}
    out["strategies"] = {name: {m: lds(p, measured[m]) for m in measured} for name, p in predicted.items()}
    out["predicted"] = {name: p.tolist() for name, p in predicted.items()}
    out["measured"] = {m: v.tolist() for m, v in measured.items()}
    return out
