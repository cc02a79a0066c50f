"""Claim 3: repetitive structural data (LaTeX, XML, HTML, records) is a catalyst.

Version 2 asks it of each of the paper's categories on its own, with the recipe's injected
repeat rows a category apart (never pooled with the corpus): is the category enriched among
the top-k attributed rows, and does removing every row of it from the window delay the head
more than removing as many uniformly random rows, and as many natural (prose/code) rows?
Version 3 (the 2-hour budget, decided before any version-3 run) runs the branches to
emergence-modulation's horizon (the window's end plus half its length; version 2 ran them to
the baseline's last step) with one uniformly random draw per category (was 2). A removal that
delays the onset past the horizon is censored there (d_onset = horizon - baseline onset): beyond
every comparator whose onset was seen, tied with a censored one (not beyond). First baseline only.
"""

from __future__ import annotations

import numpy as np

from baselines.category_matched import INJECTED, window_labels
from mda_bench.categories import CATEGORIES, CLASSIFIER_VERSION
from mda_bench.claims import Claim, Metric, Section, TaskResult, Verdict

CLAIM = Claim(
    id="structural-catalyst",
    version=3,
    claim="repetitive structural data (LaTeX, XML, HTML, records) is a catalyst",
    measures="per category (injected repeat rows apart): enrichment of the top-k over the window, and "
    "the onset delay of removing all its window rows against as many random and natural rows",
    passes_when="one of the paper's categories (latex, markup, records) is enriched in the top-k and "
    "removing it delays the head beyond its size-matched random and natural removals",
    metrics=(
        Metric("enrichment", True, "top-k share / window share of a category"),
        Metric("remove-<category> d_onset", True, "onset after removing the category's rows minus baseline"),
    ),
    implemented=True,
)

PROTOCOL = {
    "paper_categories": ["latex", "markup", "records"],
    "also_tested": ["repetitive", INJECTED],  # the corpus's repetitive documents; the recipe's rows
    "n_null": 10_000,
    "alpha": 0.05,  # per category, Bonferroni-corrected over the paper's three
    "random_draws": 1,
    "horizon": "emergence-modulation's: the window's end plus half its length",
    "labels": "dominant category of each row's tokens; injected repeat rows apart",
}
PAPER = tuple(PROTOCOL["paper_categories"])
TESTED = PAPER + tuple(PROTOCOL["also_tested"])
N_NULL = PROTOCOL["n_null"]
ALPHA = PROTOCOL["alpha"] / len(PAPER)

RULE = (
    f"labels: {PROTOCOL['labels']}. For each category c: enrichment = top-k share / window share, "
    f"with a one-sided p against k rows drawn without replacement ({N_NULL:,} seeded draws); c's "
    f"causal test removes all its window rows, compared with {PROTOCOL['random_draws']} removals of "
    "as many uniformly random rows "
    "and one of as many natural (prose/code) rows (as many as exist). c is a catalyst when enriched "
    f"(p < {ALPHA:.4f}, 0.05 Bonferroni-corrected over {', '.join(PAPER)}) and its removal delays onset more "
    f"than each comparator. holds: one of {', '.join(PAPER)} is a catalyst. does not hold: none of them is "
    "enriched and none delays onset beyond its comparators. inconclusive: otherwise, or no unit formed. "
    "repetitive and injected rows are reported alongside, not in the verdict."
)


def enrichment(labels: np.ndarray, top: np.ndarray, names, seed: int = 0, n_null: int = N_NULL) -> list[dict]:
    """Per label in `names`: window share, share in `top`, ratio and one-sided p-value (k rows
    drawn without replacement from the window: hypergeometric, sampled with a seed)."""
    rng = np.random.default_rng([seed, 17])
    n, k = len(labels), int(top.sum())
    out = []
    for name in names:
        mask = labels == name
        good, hit = int(mask.sum()), int((mask & top).sum())
        null = rng.hypergeometric(good, n - good, k, size=n_null) if good and k else np.zeros(n_null)
        out.append(
            {
                "category": name,
                "n_window": good,
                "base": good / n,
                "top": hit / k if k else float("nan"),
                "ratio": (hit / k) / (good / n) if good and k else float("nan"),
                "p": (1 + int((null >= hit).sum())) / (1 + n_null),
            }
        )
    return out


def _comparators(table: list[dict], c: str) -> list[dict]:
    return [r for r in table if r["run"].startswith((f"remove-random-{c}-", f"remove-natural-{c}"))]


def category_finding(enrich: dict, table: list[dict]) -> dict:
    """Is category c enriched, and does removing it delay onset beyond its comparators?"""
    c = enrich["category"]
    by = {r["run"]: r for r in table}
    rem = by.get(f"remove-{c}")
    comps = _comparators(table, c)
    enriched = enrich["ratio"] > 1 and enrich["p"] < ALPHA
    beyond = rem is not None and bool(comps) and all(rem["d_onset"] > o["d_onset"] for o in comps)
    return {
        **enrich,
        "enriched": bool(enriched),
        "beyond": bool(beyond),
        "catalyst": bool(enriched and beyond),
    }


def _why(f: dict, table: list[dict]) -> str:
    by = {r["run"]: r for r in table}
    rem = by.get(f"remove-{f['category']}")
    head = (
        f"{f['category']} ({f['n_window']:,} window rows): enrichment {f['ratio']:.2f} "
        f"(top-k {f['top']:.3f} vs {f['base']:.3f}, p = {f['p']:.4f})"
    )
    if rem is None:
        return head + "; not removed (no rows)"
    comps = [
        r
        for r in table
        if r["run"].startswith((f"remove-random-{f['category']}-", f"remove-natural-{f['category']}"))
    ]
    return (
        head
        + f"; removing it: d_onset {rem['d_onset']:+.0f}"
        + (" (censored)" if rem.get("censored") else "")
        + " vs "
        + ", ".join(f"{o['selection']} {o['d_onset']:+.0f}" for o in comps)
        + f" -> {'catalyst' if f['catalyst'] else 'not a catalyst'}"
    )


def decide(enrich: list[dict], table: list[dict], unit_formed: bool) -> Verdict:
    findings = {e["category"]: category_finding(e, table) for e in enrich if e["category"] in TESTED}
    reasons = tuple(_why(findings[c], table) for c in TESTED if c in findings)
    paper = [findings[c] for c in PAPER if c in findings]
    if not unit_formed:
        return Verdict("inconclusive", RULE, ("no unit formed in the baseline run", *reasons))
    if any(f["catalyst"] for f in paper):
        return Verdict("holds", RULE, reasons)
    if not any(f["enriched"] or f["beyond"] for f in paper):
        return Verdict("does not hold", RULE, reasons)
    return Verdict("inconclusive", RULE, reasons)


def classifier_labels(exp, rows: np.ndarray) -> np.ndarray:
    """mda_bench.categories.classify on each row's decoded text."""
    from mda_bench.categories import classify

    return np.array([classify(text) for text in exp.data.row_texts(rows)])


def structural_jobs(exp):
    """Per tested category with window rows: remove all of them, as many random rows (R draws)
    and as many natural rows."""
    from baselines.random_draws import matched_random
    from mda_bench.experiment import selected_job

    rows, labels = window_labels(exp)
    natural = rows[np.isin(labels, ("prose", "code"))]
    jobs = []
    for c in TESTED:
        mine = rows[labels == c]
        if not len(mine):
            continue
        n = len(mine)
        jobs.append(selected_job(exp, f"remove-{c}", "remove", c, mine))
        for i in range(1, PROTOCOL["random_draws"] + 1):
            jobs.append(
                selected_job(
                    exp, f"remove-random-{c}-{i}", "remove", "random", matched_random(rows, n, seed=i), seed=i
                )
            )
        jobs.append(
            selected_job(exp, f"remove-natural-{c}", "remove", "natural", matched_random(natural, n, seed=0))
        )
    return jobs


def _all_jobs(exp) -> list:
    jobs = structural_jobs(exp)
    if exp.baseline.official:  # the reference curve of an official baseline (experiment.reference_records)
        from baselines.random_draws import identity_job

        jobs.append(identity_job(exp))
    return jobs


def branch_sets(exps) -> list:
    """Every branch `run` trains (on the first baseline)."""
    from mda_bench.experiment import branch_set

    return [branch_set(exps[0], _all_jobs(exps[0]))]


def run(exps, n_jobs: int = 1, progress: bool = True) -> TaskResult:
    """On the first baseline only."""
    from mda_bench.claim_plots import curves_plot, enrichment_plot
    from mda_bench.experiment import results_table, run_jobs
    from mda_bench.interventions import bottom_k, top_k

    exp = exps[0]
    ids, scores = exp.scores()
    rows, labels = window_labels(exp)
    top = np.isin(rows, top_k(ids, scores, exp.k))
    bottom = np.isin(rows, bottom_k(ids, scores, exp.k))
    names = [*CATEGORIES, INJECTED]
    enrich, enrich_bottom = enrichment(labels, top, names), enrichment(labels, bottom, names)
    branches = run_jobs(exp, _all_jobs(exp), n_jobs, progress)
    table = results_table(exp, branches)
    verdict = decide(enrich, table, bool(exp.unit["rose"]))
    sections = [
        Section(
            f"Category enrichment of the top-k (k = {exp.k:,}; {PROTOCOL['labels']})",
            [
                "category",
                "window rows",
                "window share",
                "top-k share",
                "enrichment",
                "p (one-sided)",
                "bottom-k share",
            ],
            [
                [
                    e["category"],
                    f"{e['n_window']:,}",
                    f"{e['base']:.3f}",
                    f"{e['top']:.3f}",
                    f"{e['ratio']:.2f}",
                    f"{e['p']:.4f}",
                    f"{b['top']:.3f}",
                ]
                for e, b in zip(enrich, enrich_bottom)
            ],
        )
    ]
    # The same enrichment with the content classifier's label of each row's decoded text (the
    # labels an outside corpus gets), injected rows apart as above.
    clf = classifier_labels(exp, rows)
    clf = np.where(labels == INJECTED, INJECTED, clf)
    agree = (clf == labels)[labels != INJECTED].mean()
    enrich_clf = enrichment(clf, top, names)
    sections.append(
        Section(
            f"Content-classifier labels of the rows' text (classifier version {CLASSIFIER_VERSION}; "
            f"agreement with the document labels on corpus rows: {agree:.1%})",
            ["category", "window share", "top-k share", "enrichment", "p (one-sided)"],
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
    data = {
        "enrichment": enrich,
        "enrichment_classifier": enrich_clf,
        "classifier_version": CLASSIFIER_VERSION,
        "enrichment_bottom": enrich_bottom,
    }
    return TaskResult(CLAIM, table, verdict, sections, plots, data=data)
