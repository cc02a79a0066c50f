"""Claim 3: repetitive structural data (LaTeX, XML, HTML, code, records) is a catalyst."""

from __future__ import annotations

import numpy as np

from mda_bench.categories import CATEGORIES
from mda_bench.claims import Claim, Metric, Section, TaskResult, Verdict
from mda_bench.corpus import STRUCTURAL

CLAIM = Claim(
    id="structural-catalyst",
    version=2,
    claim="repetitive structural data (LaTeX, XML, HTML, code, records) is a catalyst",
    measures="category enrichment of the top-k vs the corpus base rate; removing structural "
    "data vs a size-matched random set",
    passes_when="top-k over-represents structural categories, and removing them delays "
    "emergence more than random",
    metrics=(
        Metric("enrichment", True, "top-k share / window base rate of the structural rows"),
        Metric("remove-structural d_onset", True, "onset after removing the structural rows minus baseline"),
    ),
    implemented=True,
)

# Version 2: same rule as 1; runs retrained with thread-independent LayerNorm. One seed (the
# first baseline) until the per-category protocol (docs/claims.md) replaces this rule.
PROTOCOL = {
    "n_null": 10_000,
    "alpha": 0.05,
    "structural": list(STRUCTURAL),
    "horizon": "baseline's last step",
}
N_NULL = PROTOCOL["n_null"]  # null draws for the enrichment p-values
ALPHA = PROTOCOL["alpha"]
RULE = (
    f"structural rows = rows whose dominant category is one of {', '.join(STRUCTURAL)}. "
    "holds: the structural share of the top-k exceeds the window's base rate with a one-sided "
    f"p < {ALPHA:g} (k rows drawn without replacement from the window, {N_NULL:,} seeded draws), "
    "and removing every structural row of the window delays onset and lowers the area more "
    "than removing the same number of natural (prose/code) rows and than every random draw of "
    "that size. does not hold: structural rows are not over-represented and removing them does "
    "not delay onset. inconclusive: anything else, or no unit formed."
)


def enrichment(labels: np.ndarray, top: np.ndarray, seed: int = 0, n_null: int = N_NULL) -> list[dict]:
    """Per category: base rate over the window, share in `top`, ratio and one-sided p-value.

    labels: one category per window row; top: a boolean mask of the selected rows. The null
    is k rows drawn without replacement from the window (hypergeometric, sampled with a seed).
    """
    rng = np.random.default_rng([seed, 17])
    n, k = len(labels), int(top.sum())
    groups = [(c, labels == c) for c in CATEGORIES] + [("structural", np.isin(labels, STRUCTURAL))]
    out = []
    for name, mask in groups:
        good = int(mask.sum())
        hit = int((mask & top).sum())
        null = rng.hypergeometric(good, n - good, k, size=n_null) if good and k else np.zeros(n_null)
        out.append(
            {
                "category": name,
                "base": good / n,
                "top": hit / k if k else float("nan"),
                "ratio": (hit / k) / (good / n) if good and k else float("nan"),
                "p": (1 + int((null >= hit).sum())) / (1 + n_null),
            }
        )
    return out


def decide(enrich: list[dict], table: list[dict], unit_formed: bool) -> Verdict:
    s = next(e for e in enrich if e["category"] == "structural")
    over = s["ratio"] > 1 and s["p"] < ALPHA
    by = {r["run"]: r for r in table}
    rem = by["remove-structural"]
    others = [
        r for r in table if r["run"] == "remove-natural" or r["run"].startswith("remove-matched-random")
    ]
    delays = rem["d_onset"] > 0 and rem["d_area"] < 0
    beyond = delays and all(rem["d_onset"] > o["d_onset"] and rem["d_area"] < o["d_area"] for o in others)
    status = "over-represented" if over else "not over-represented"
    reasons = (
        f"structural share of the top-k {s['top']:.3f} vs base {s['base']:.3f} "
        f"(ratio {s['ratio']:.2f}, p = {s['p']:.4f}) -> {status}",
        f"remove-structural: d_onset {rem['d_onset']:+.1f}, d_area {rem['d_area']:+.2f}; baselines: "
        + ", ".join(f"{o['run']} d_onset {o['d_onset']:+.1f} d_area {o['d_area']:+.2f}" for o in others)
        + f" -> {'delays beyond them' if beyond else ('delays' if delays else 'no delay')}",
    )
    if not unit_formed:
        return Verdict("inconclusive", RULE, ("no unit formed in the baseline run", *reasons))
    if over and beyond:
        return Verdict("holds", RULE, reasons)
    if not over and not delays:
        return Verdict("does not hold", RULE, reasons)
    return Verdict("inconclusive", RULE, reasons)


def classifier_labels(exp, rows: np.ndarray) -> np.ndarray:
    """mda_bench.categories.classify on each row's decoded text."""
    from mda_bench.categories import classify

    return np.array([classify(text) for text in exp.data.row_texts(rows)])


def long_experiment(exp):
    """The experiment with branches run to the baseline's last step. Removing two thirds of a
    window's rows can delay onset far past the usual horizon: at `tiny`, with the default
    margin, both the structural and the size-matched random removal were still censored."""
    import dataclasses

    return dataclasses.replace(exp, horizon=exp.scale.train.steps)


def structural_jobs(exp):
    """remove / augment every structural row of the window, and size-matched baselines."""
    from baselines.random_draws import matched_random
    from mda_bench.experiment import selected_job

    rows = np.array([r["row"] for r in exp.attribution.table])
    labels = np.array([r["category"] for r in exp.attribution.table])
    struct = rows[np.isin(labels, STRUCTURAL)]
    natural = rows[np.isin(labels, ("prose", "code"))]
    n = len(struct)
    jobs = [
        selected_job(exp, "remove-structural", "remove", "structural", struct),
        selected_job(exp, "augment-structural", "augment", "structural", struct),
        # natural rows, as many as there are (fewer than n when structure dominates the window)
        selected_job(exp, "remove-natural", "remove", "natural", matched_random(natural, n, seed=0)),
    ]
    jobs += [
        selected_job(
            exp,
            f"remove-matched-random-{i}",
            "remove",
            "matched-random",
            matched_random(rows, n, seed=i),
            seed=i,
        )
        for i in (1, 2)
    ]
    return jobs


def run(exps, n_jobs: int = 1, progress: bool = True) -> TaskResult:
    """On the first baseline only (its version-2 rule has no multi-seed form)."""
    from mda_bench.claim_report import curves_plot, enrichment_plot

    exp = exps[0]
    from mda_bench.experiment import results_table, run_jobs
    from mda_bench.interventions import top_k

    rows, scores = exp.scores()
    labels = np.array([r["category"] for r in exp.attribution.table])
    top = np.isin(rows, top_k(rows, scores, exp.k))
    bottom = np.isin(rows, top_k(rows, -scores, exp.k))
    enrich = enrichment(labels, top)
    enrich_bottom = enrichment(labels, bottom)
    exp = long_experiment(exp)
    branches = run_jobs(exp, structural_jobs(exp), n_jobs, progress)
    table = results_table(exp, branches)
    rows_md = [
        [
            e["category"],
            f"{e['base']:.3f}",
            f"{e['top']:.3f}",
            f"{e['ratio']:.2f}",
            f"{e['p']:.4f}",
            f"{b['top']:.3f}",
            f"{b['ratio']:.2f}",
        ]
        for e, b in zip(enrich, enrich_bottom)
    ]
    sections = [
        Section(
            f"Category enrichment of the top-k (k = {exp.k}; labels: each row's dominant category by tokens)",
            [
                "category",
                "window base rate",
                "top-k share",
                "enrichment",
                "p (one-sided)",
                "bottom-k share",
                "bottom enrichment",
            ],
            rows_md,
        )
    ]
    n_nat = sum(1 for lab in labels if lab in ("prose", "code"))
    n_struct = int(np.isin(labels, STRUCTURAL).sum())
    sections.append(
        Section(
            "Size matching",
            text=f"{n_struct:,} structural rows in the window; the natural baseline removes "
            f"{min(n_nat, n_struct):,} of the window's {n_nat:,} prose/code rows"
            + (" (all of them: there are fewer natural than structural rows)" if n_nat < n_struct else "")
            + "; each random baseline removes the same number of rows drawn from the whole window.",
        )
    )
    # The same statistics with the content classifier's label of each row's decoded text (the
    # labels an outside corpus gets), and how often the two labellings agree.
    clf = classifier_labels(exp, rows)
    enrich_clf = enrichment(clf, top)
    sections.append(
        Section(
            f"Content-classifier labels of the rows' text (agreement with the document labels: "
            f"{(clf == labels).mean():.1%} of window rows)",
            ["category", "window base rate", "top-k share", "enrichment", "p (one-sided)"],
            [
                [e["category"], f"{e['base']:.3f}", f"{e['top']:.3f}", f"{e['ratio']:.2f}", f"{e['p']:.4f}"]
                for e in enrich_clf
            ],
        )
    )
    plots = [
        enrichment_plot(exp, enrich, enrich_bottom, "structural-catalyst.png"),
        curves_plot([(exp, branches)], "structural-catalyst-curves.png"),
    ]
    return TaskResult(CLAIM, table, decide(enrich, table, bool(exp.unit["rose"])), sections, plots)
