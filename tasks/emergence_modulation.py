"""Claim 1: removing / duplicating high-influence rows delays / accelerates emergence."""

from __future__ import annotations

from mda_bench.claims import Claim, Metric, TaskResult, Verdict
from mda_bench.experiment import runs_of

from ._shared import modulation_branches

CLAIM = Claim(
    id="emergence-modulation",
    version=1,
    claim="removing / duplicating a small fraction of high-influence samples delays / "
    "accelerates the head's emergence",
    measures="onset step and score curve of the target head under remove-top-k and augment-top-k",
    passes_when="remove delays and augment accelerates, each beyond every random draw of the same size",
    metrics=(
        Metric("remove-top d_onset", True, "onset(remove-top) - onset(baseline), steps: a delay supports it"),
        Metric("remove-top d_area", False, "area under the score over the window minus the baseline's"),
        Metric("augment-top d_onset", False, "onset(augment-top) - onset(baseline): an advance supports it"),
        Metric("augment-top d_area", True, "area under the score over the window minus the baseline's"),
    ),
    implemented=True,
)

RULE = (
    "holds: remove-top has d_onset > 0 and d_area < 0, augment-top has d_onset < 0 and d_area > 0, "
    "and each is beyond every random draw of its operation (remove: larger d_onset and smaller "
    "d_area than every draw; augment: smaller d_onset and larger d_area than every draw). "
    "does not hold: either targeted run moves the wrong way or not at all on either metric. "
    "inconclusive: both move the claimed way but not beyond every draw, or no unit formed."
)


def _arm(run: dict, draws: list[dict], sign: int) -> tuple[str, str]:
    """sign +1: the claim is a delay (remove); -1: an advance (augment)."""
    right = sign * run["d_onset"] > 0 and sign * run["d_area"] < 0
    beyond = right and all(
        sign * run["d_onset"] > sign * d["d_onset"] and sign * run["d_area"] < sign * d["d_area"]
        for d in draws
    )
    status = "beyond every draw" if beyond else ("claimed direction" if right else "wrong direction or none")
    cens = " (onset not reached by the horizon: a lower bound)" if run.get("censored") else ""
    why = f"{run['run']}: d_onset {run['d_onset']:+.1f}{cens}, d_area {run['d_area']:+.2f} -> {status}"
    return status, why


def decide(table: list[dict], unit_formed: bool) -> Verdict:
    """The verdict from the runs table (pure: tested on hand-made tables)."""
    by = {r["run"]: r for r in table}
    rem, rem_why = _arm(by["remove-top"], runs_of(table, "remove", "random"), +1)
    aug, aug_why = _arm(by["augment-top"], runs_of(table, "augment", "random"), -1)
    reasons = (rem_why, aug_why)
    if not unit_formed:
        return Verdict("inconclusive", RULE, ("no unit formed in the baseline run", *reasons))
    if "wrong direction or none" in (rem, aug):
        return Verdict("does not hold", RULE, reasons)
    if rem == aug == "beyond every draw":
        return Verdict("holds", RULE, reasons)
    return Verdict("inconclusive", RULE, reasons)


def run(exp, n_jobs: int = 1, progress: bool = True) -> TaskResult:
    from mda_bench.claim_report import curves_plot, random_summary_section
    from mda_bench.experiment import results_table

    branches = modulation_branches(exp, n_jobs, progress)
    table = results_table(exp, branches)
    verdict = decide(table, bool(exp.unit["rose"]))
    plot = curves_plot(exp, branches, "emergence-modulation.png")
    return TaskResult(CLAIM, table, verdict, [random_summary_section(table)], [plot])
