"""Claim 2: random interventions of the same size show no effect."""

from __future__ import annotations

import numpy as np

from mda_bench.claims import Claim, Metric, Section, TaskResult, Verdict
from mda_bench.experiment import runs_of
from mda_bench.metrics import mean_sd

from ._shared import modulation_branches

CLAIM = Claim(
    id="random-null",
    version=1,
    claim="random interventions of the same size show no effect",
    measures="the same metrics under R random remove / augment draws",
    passes_when="random effects sit inside the seed-noise band and are far smaller than the targeted ones",
    metrics=(
        Metric("abs_mean_random_d_onset", False, "|mean d_onset of the random draws| (steps)"),
        Metric("targeted_to_random", True, "|targeted d_onset| / |mean random d_onset|"),
    ),
    implemented=True,
)

BAND_SD = 2.0  # the seed-noise band: noise mean +- 2 sd of the reorder runs' effects
FAR = 3.0  # "far smaller": the targeted effect is at least 3x the random mean's

RULE = (
    f"seed-noise band = mean +- {BAND_SD:g} sd of the reorder runs' effects (d_onset, d_area). "
    "holds: for remove and augment, the random draws' mean d_onset and mean d_area lie inside "
    f"the band, and |targeted d_onset| >= {FAR:g} x |random mean d_onset|. "
    "does not hold: a random mean lies outside the band. "
    "inconclusive: inside the band but the targeted effect is not that much larger, or no unit formed."
)


def stats(table: list[dict]) -> dict:
    """Noise band, random means and spreads, and targeted/random ratios per operation."""
    noise = runs_of(table, "reorder", "none")
    out = {}
    for metric in ("d_onset", "d_area"):
        m, sd = mean_sd(r[metric] for r in noise)
        out[f"noise_{metric}"] = (m, sd, m - BAND_SD * sd, m + BAND_SD * sd)
    by = {r["run"]: r for r in table}
    for op in ("remove", "augment"):
        draws = runs_of(table, op, "random")
        for metric in ("d_onset", "d_area"):
            out[f"{op}_random_{metric}"] = mean_sd(r[metric] for r in draws)
        target = by[f"{op}-top"]["d_onset"]
        out[f"{op}_target_d_onset"] = target
        rnd = abs(out[f"{op}_random_d_onset"][0])
        out[f"{op}_ratio"] = float("inf") if rnd == 0 else abs(target) / rnd
    return out


def _ratio_text(s: dict, op: str) -> str:
    """The ratio as printed: a number, "inf" (random mean 0) or "0/0" (both effects 0)."""
    r = s[f"{op}_ratio"]
    if np.isfinite(r):
        return f"{r:.2f}"
    return "inf" if s[f"{op}_target_d_onset"] else "0/0 (no targeted or random effect)"


def decide(table: list[dict], unit_formed: bool) -> Verdict:
    s = stats(table)
    inside, reasons = True, []
    for op in ("remove", "augment"):
        for metric in ("d_onset", "d_area"):
            mean, sd = s[f"{op}_random_{metric}"]
            lo, hi = s[f"noise_{metric}"][2:]
            ok = lo <= mean <= hi
            inside &= ok
            reasons.append(
                f"{op} random mean {metric} {mean:+.2f} (sd {sd:.2f}) {'inside' if ok else 'outside'} "
                f"the band [{lo:+.2f}, {hi:+.2f}]"
            )
    far = all(s[f"{op}_ratio"] >= FAR for op in ("remove", "augment"))
    reasons += [
        f"targeted/random |d_onset| ratio, {op}: {_ratio_text(s, op)}" for op in ("remove", "augment")
    ]
    if not unit_formed:
        return Verdict("inconclusive", RULE, ("no unit formed in the baseline run", *reasons))
    if not inside:
        return Verdict("does not hold", RULE, tuple(reasons))
    return Verdict("holds" if far else "inconclusive", RULE, tuple(reasons))


def run(exp, n_jobs: int = 1, progress: bool = True) -> TaskResult:
    from mda_bench.claim_report import curves_plot
    from mda_bench.experiment import results_table

    branches = modulation_branches(exp, n_jobs, progress)
    table = results_table(exp, branches)
    s = stats(table)
    rows = []
    for metric in ("d_onset", "d_area"):
        m, sd, lo, hi = s[f"noise_{metric}"]
        rows.append([f"seed noise (reorder), {metric}", f"{m:+.2f}", f"{sd:.2f}", f"[{lo:+.2f}, {hi:+.2f}]"])
        for op in ("remove", "augment"):
            rm, rsd = s[f"{op}_random_{metric}"]
            rows.append([f"random {op}, {metric}", f"{rm:+.2f}", f"{rsd:.2f}", ""])
    ratio_rows = [[op, _ratio_text(s, op)] for op in ("remove", "augment")]
    sections = [
        Section("Random draws against the seed-noise band", ["effects", "mean", "sd", "band"], rows),
        Section("Targeted / random effect on onset", ["operation", "|targeted| / |random mean|"], ratio_rows),
    ]
    plot = curves_plot(exp, branches, "random-null.png")
    return TaskResult(CLAIM, table, decide(table, bool(exp.unit["rose"])), sections, [plot])
