"""Claim 1: removing / duplicating high-influence rows delays / accelerates emergence.

Version 2 (pre-registered before any version-2 run): every seed's targeted runs are tested
against that seed's own controls by an exact stratified rank test; the headline control is
random rows of the top-k's own category mix, so "attribution finds the rows that build the
head" is told apart from "attribution finds the catalyst category". Uniform random draws are
reported as a second, separate finding, bottom-k and the identity branch as context.
Version 3 changes no rule: the registered run protocol at `tiny` has 2 uniform random draws
and 2 reorder runs a seed (were 4 and 3), with the category-matched draws kept at 4, to fit the
2-hour budget (decided before any version-3 run).
"""

from __future__ import annotations

import numpy as np

from mda_bench.claims import Claim, Metric, Section, TaskResult, Verdict
from mda_bench.stats import mean_ci, min_rank_p, stratified_rank_test

from ._shared import (
    SeedRuns,
    dose_jobs,
    dose_points,
    effects,
    modulation_runs,
    modulation_sets,
    pooled_table,
    run_record,
    seeds_json,
)

CLAIM = Claim(
    id="emergence-modulation",
    version=3,
    claim="removing / duplicating a small fraction of high-influence samples delays / "
    "accelerates the head's emergence",
    measures="onset step of the target head under remove-top-k and augment-top-k, against "
    "category-matched and uniform random draws of the same size, in every seed",
    passes_when="remove delays and augment accelerates beyond category-matched random draws "
    "(exact stratified rank test over seeds, p < 0.05, the claimed direction in every seed)",
    metrics=(
        Metric("remove-top d_onset", True, "onset(remove-top) - onset(baseline), steps: a delay supports it"),
        Metric("augment-top d_onset", False, "onset(augment-top) - onset(baseline): an advance supports it"),
        Metric("rank-test p", False, "exact stratified rank test of targeted vs its seed's control draws"),
    ),
    implemented=True,
)

# The protocol as data: hashed into every report (mda_bench.protocol); changing any of it
# means a new CLAIM.version.
PROTOCOL = {
    "metric": "d_onset",
    "secondary_metric": "d_area",
    "alpha": 0.05,
    "test": "exact stratified rank test, one-sided, strata = seeds",
    "headline_control": "matched-random",
    "reported_controls": ["random", "bottom", "identity", "reorder"],
    "direction": {"remove": 1, "augment": -1},
    # reported, not in the verdict: remove-top vs one category-matched draw at each k, first seed
    "dose_fractions": [0.01, 0.025, 0.05, 0.1, 0.2],
}
ALPHA = PROTOCOL["alpha"]
SIGN = PROTOCOL["direction"]

RULE = (
    f"per operation (remove: a delay, d_onset > 0; augment: an advance, d_onset < 0), each seed's "
    f"targeted run is ranked among that seed's R control draws; an exact stratified rank test over "
    f"seeds (one-sided, alpha = {ALPHA:g}) gives p. Beyond a control = the claimed direction in every "
    "seed and p < alpha. holds: remove-top and augment-top are both beyond the category-matched random "
    "draws (beyond uniform random draws is reported as a separate finding). does not hold: for either "
    "operation the targeted effect's mean over seeds is not in the claimed direction, or not beyond the "
    "category-matched draws' mean in that direction. inconclusive: otherwise (e.g. p cannot reach alpha "
    "with these seeds and draws), or the unit did not form in every seed."
)


def finding(tables: list[list[dict]], operation: str, control: str, metric: str = "d_onset") -> dict:
    """targeted vs `control` draws for one operation, from every seed's results table."""
    # the claimed direction: remove delays onset (+) and lowers the area (-); augment the reverse
    sign = SIGN[operation] * (-1 if metric == "d_area" else 1)
    targeted = [effects(t, operation, "top", metric)[0] for t in tables]
    controls = [effects(t, operation, control, metric) for t in tables]
    gaps = [sign * (x - c.mean()) for x, c in zip(targeted, controls)]
    test = stratified_rank_test(targeted, controls, sign)
    return {
        "operation": operation,
        "control": control,
        "metric": metric,
        "targeted": [float(x) for x in targeted],
        "controls": [c.tolist() for c in controls],
        "gaps": [float(g) for g in gaps],  # claimed direction positive
        "gap_ci": list(mean_ci(gaps)) if len(gaps) > 1 else None,
        "right_every_seed": bool(all(sign * x > 0 for x in targeted)),
        "test": test.name,
        "p": test.p,
        "min_p": min_rank_p([len(c) for c in controls]),
        "beyond": bool(all(sign * x > 0 for x in targeted) and test.p < ALPHA),
        "wrong_on_average": bool(sign * np.mean(targeted) <= 0 or np.mean(gaps) <= 0),
    }


def _why(f: dict) -> str:
    name = {"matched-random": "category-matched draws", "random": "uniform random draws"}[f["control"]]
    targeted = ", ".join(f"{x:+.0f}" for x in f["targeted"])
    ci = f" (95% CI of the mean gap [{f['gap_ci'][1]:+.0f}, {f['gap_ci'][2]:+.0f}])" if f["gap_ci"] else ""
    verdict = "beyond" if f["beyond"] else "not beyond"
    return (
        f"{f['operation']}-top {verdict} {name}: d_onset per seed {targeted}; gap to the draws' mean "
        f"{np.mean(f['gaps']):+.0f} steps in the claimed direction{ci}; rank test p = {f['p']:.3g} "
        f"(smallest reachable {f['min_p']:.3g})"
    )


def decide(tables: list[list[dict]], formed: list[bool]) -> Verdict:
    """The verdict from every seed's runs table (pure: tested on hand-made tables)."""
    headline = [finding(tables, op, "matched-random") for op in ("remove", "augment")]
    uniform = [finding(tables, op, "random") for op in ("remove", "augment")]
    reasons = tuple(_why(f) for f in headline) + tuple(f"separate finding: {_why(f)}" for f in uniform)
    if not all(formed):
        missing = [i for i, ok in enumerate(formed) if not ok]
        return Verdict("inconclusive", RULE, (f"no unit formed in seed(s) {missing}", *reasons))
    if any(f["wrong_on_average"] for f in headline):
        return Verdict("does not hold", RULE, reasons)
    if all(f["beyond"] for f in headline):
        return Verdict("holds", RULE, reasons)
    return Verdict("inconclusive", RULE, reasons)


def findings_section(tables: list[list[dict]], metric: str) -> Section:
    rows = []
    for op in ("remove", "augment"):
        for control in ("matched-random", "random"):
            f = finding(tables, op, control, metric)
            ci = f"[{f['gap_ci'][1]:+.2f}, {f['gap_ci'][2]:+.2f}]" if f["gap_ci"] else "n/a (1 seed)"
            rows.append(
                [
                    f"{op}-top",
                    control,
                    " ".join(f"{x:+.2f}" for x in f["targeted"]),
                    " ".join(f"{np.mean(c):+.2f}" for c in f["controls"]),
                    f"{np.mean(f['gaps']):+.2f} {ci}",
                    f"{f['p']:.3g} (min {f['min_p']:.3g})",
                ]
            )
    headers = ["targeted", "control", "targeted per seed", "control mean per seed", "gap, mean [95% CI]", "p"]
    what = "the verdict's metric" if metric == "d_onset" else "secondary, not in the verdict"
    return Section(f"Targeted vs controls, {metric} ({what}; gap > 0 = the claimed direction)", headers, rows)


def per_seed_section(runs: list[SeedRuns]) -> Section:
    """Each seed's unit and the d_onset of every kind of run (draws as mean ± sd)."""

    def cell(e: np.ndarray) -> str:
        return f"{e[0]:+.0f}" if len(e) == 1 else f"{e.mean():+.1f} ± {e.std(ddof=1):.1f}"

    rows = []
    for r in runs:
        u = r.exp.unit
        same = [cell(effects(r.table, "identity", "none")), cell(effects(r.table, "reorder", "none"))]
        for op in ("remove", "augment"):
            sels = ("top", "bottom", "matched-random", "random")
            rows.append(
                [
                    str(r.seed),
                    f"L{u['layer']}H{u['head']}",
                    op,
                    *[cell(effects(r.table, op, s)) for s in sels],
                    *same,
                ]
            )
    headers = [
        "seed",
        "head",
        "operation",
        "top-k",
        "bottom-k",
        "category-matched",
        "uniform random",
        "identity",
        "reorder",
    ]
    return Section("d_onset per seed (draws: mean ± sd over draws)", headers, rows)


def dose_section(points: list[dict], n_window: int) -> Section:
    rows = [
        [
            f"{p['k']:,}",
            f"{p['k'] / n_window:.1%}",
            f"{p['top']:+.0f}",
            " ".join(f"{m:+.0f}" for m in p["matched"]),
        ]
        for p in points
    ]
    headers = ["k", "share of the window", "remove-top d_onset", "category-matched d_onset"]
    return Section("Dose response, first seed (reported, not in the verdict)", headers, rows)


def dose_plot(exp, points: list[dict], name: str) -> tuple[str, str]:
    from mda_bench.report import figure, save_figure

    fig, ax = figure(5.5, 3.6)
    share = [100 * p["k"] / len(exp.window.rows) for p in points]
    ax.plot(share, [p["top"] for p in points], "o-", color="tab:red", label="remove top-k")
    for x, p in zip(share, points):
        ax.plot([x] * len(p["matched"]), p["matched"], "s", color="0.5", ms=4)
    ax.plot([], [], "s", color="0.5", ms=4, label="remove category-matched")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("k, % of the window's rows")
    ax.set_ylabel("Δ onset (steps)")
    ax.set_title(f"{exp.scale.name}: dose response (seed {exp.cfg.seed})", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, exp.store.root / "plots" / name)
    return ("Dose response: onset delay against k", name)


def branch_sets(exps) -> list:
    """Every branch `run` trains: the modulation runs of each seed and the dose sweep on the first."""
    from mda_bench.experiment import branch_set

    return [*modulation_sets(exps), branch_set(exps[0], dose_jobs(exps[0], PROTOCOL["dose_fractions"]))]


def run(exps, n_jobs: int = 1, progress: bool = True) -> TaskResult:
    from mda_bench.claim_plots import curves_plot
    from mda_bench.experiment import results_table, run_jobs

    runs = modulation_runs(exps, n_jobs, progress)
    tables = [r.table for r in runs]
    verdict = decide(tables, [bool(r.exp.unit["rose"]) for r in runs])
    first = runs[0].exp
    dose = run_jobs(first, dose_jobs(first, PROTOCOL["dose_fractions"]), n_jobs, progress)
    points = dose_points(runs[0].table + results_table(first, dose, runs[0].branches)[1:], first.k)
    sections = [
        findings_section(tables, "d_onset"),
        findings_section(tables, "d_area"),
        per_seed_section(runs),
        dose_section(points, len(first.window.rows)),
    ]
    plots = [
        curves_plot([(r.exp, r.branches) for r in runs], "emergence-modulation.png"),
        dose_plot(first, points, "emergence-modulation-dose.png"),
    ]
    data = {
        "findings": [finding(tables, op, c) for op in SIGN for c in ("matched-random", "random")],
        "dose_response": points,
        "dose_runs": {b.spec.name: run_record(first, b) for b in dose},
        "seeds": seeds_json(runs),
    }
    return TaskResult(CLAIM, pooled_table(runs), verdict, sections, plots, data=data)
