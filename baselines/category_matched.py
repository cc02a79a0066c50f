"""Category-matched random draws: random rows with the top-k's own category mix.

Against uniform random draws, "removing the top-k delays the head" cannot tell *attribution
finds the rows that build the unit* from *attribution finds the catalyst category*: the top-k
of a window with 35% injected repeat rows is almost all repeat rows, and so a uniform draw is
the wrong null. A category-matched draw takes, for every category, as many rows as the top-k
has of it, uniformly from the window's rows of that category (the top-k's own rows included:
the null is "any rows of this mix"). Injected repeat rows count as a category of their own
(`INJECTED`), apart from the corpus's repetitive documents.

The selection itself is a pure function of row ids and labels, so the draws are exact and
reproducible from the seed; `matched_jobs` turns them into branch jobs of an experiment.
"""

from __future__ import annotations

import numpy as np

INJECTED = "injected"  # the recipe's repeat rows, never pooled with the corpus's categories


def row_labels(categories: np.ndarray, injected: np.ndarray) -> np.ndarray:
    """Each row's label for matching: its dominant category, or INJECTED for a repeat row."""
    return np.where(np.asarray(injected, dtype=bool), INJECTED, np.asarray(categories, dtype=object))


def category_counts(labels: np.ndarray, rows: np.ndarray, selected: np.ndarray) -> dict[str, int]:
    """How many of the `selected` rows carry each label (`labels` aligned with `rows`)."""
    pos = np.searchsorted(rows, selected)
    if np.any(pos >= len(rows)) or np.any(rows[np.minimum(pos, len(rows) - 1)] != selected):
        raise ValueError("every selected row must be one of the window's rows")
    names, counts = np.unique(labels[pos], return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts)}


def category_matched(rows: np.ndarray, labels: np.ndarray, selected: np.ndarray, seed: int) -> np.ndarray:
    """Sorted row ids: for every label, as many rows as `selected` has of it, drawn without
    replacement from the window's rows of that label with `seed`.

    `rows` (sorted) are the window's row ids and `labels` their labels, aligned."""
    rows = np.asarray(rows)
    labels = np.asarray(labels, dtype=object)
    if len(rows) != len(labels) or np.any(np.diff(rows) <= 0):
        raise ValueError("rows must be sorted, distinct and aligned with labels")
    want = category_counts(labels, rows, np.sort(np.asarray(selected)))
    rng = np.random.default_rng([seed, 23])
    out = [rng.choice(rows[labels == name], size=n, replace=False) for name, n in sorted(want.items())]
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=rows.dtype)


def window_labels(exp) -> tuple[np.ndarray, np.ndarray]:
    """(window row ids, their matching labels): each row's dominant category by tokens, from
    the attribution table, with the recipe's injected repeat rows as INJECTED."""
    rows = np.array([r["row"] for r in exp.attribution.table])
    cats = np.array([r["category"] for r in exp.attribution.table], dtype=object)
    order = np.argsort(rows)
    rows, cats = rows[order], cats[order]
    return rows, row_labels(cats, exp.data.stream.is_repeat_row(rows))


def matched_jobs(
    exp,
    operation: str,
    selected: np.ndarray | None = None,
    draws: int | None = None,
    name: str | None = None,
    selection: str = "matched-random",
) -> list:
    """`draws` (default `exp.cfg.matched_draws`) category-matched draws of `operation` (remove or
    augment), matching `selected` (default: the top-k). Draw i uses seed i, as the uniform
    draws do."""
    from mda_bench.experiment import selected_job
    from mda_bench.interventions import top_k

    rows, labels = window_labels(exp)
    if selected is None:
        ids, scores = exp.scores()
        selected = top_k(ids, scores, exp.k)
    return [
        selected_job(
            exp,
            f"{name or operation + '-matched'}-{i}",
            operation,
            selection,
            category_matched(rows, labels, selected, seed=i),
            seed=i,
        )
        for i in range(1, (draws or exp.cfg.matched_draws) + 1)
    ]


def composition(exp, selected: np.ndarray, window=None) -> dict[str, int]:
    """The matching labels of `selected` rows: {label: count} (written into the report JSON);
    `window` is `window_labels(exp)` when the caller already has it."""
    rows, labels = window if window is not None else window_labels(exp)
    return category_counts(labels, rows, np.sort(np.asarray(selected)))
