"""Pure functions on score curves: onset step, rise window, area under the curve."""

from __future__ import annotations

import numpy as np


def crossing_step(steps, scores, level: float) -> float | None:
    """First step at which `scores` reaches `level`, linearly interpolated between
    checkpoints; None if it never does. Step 0 is returned if it starts at or above level."""
    steps = np.asarray(steps, dtype=float)
    scores = np.asarray(scores, dtype=float)
    above = np.nonzero(scores >= level)[0]
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(steps[0])
    s0, s1, y0, y1 = steps[i - 1], steps[i], scores[i - 1], scores[i]
    return float(s0 + (level - y0) / (y1 - y0) * (s1 - s0))


def onset_step(steps, scores, reference_final: float, fraction: float = 0.5) -> float | None:
    """docs/design.md onset: first step reaching `fraction` of the baseline run's final score."""
    return crossing_step(steps, scores, fraction * reference_final)


def rise_window(steps, scores, lo: float = 0.1, hi: float = 0.9) -> tuple[float, float] | None:
    """Steps where the curve first reaches lo and hi of its own final score."""
    final = float(np.asarray(scores)[-1])
    a, b = crossing_step(steps, scores, lo * final), crossing_step(steps, scores, hi * final)
    if a is None or b is None:
        return None
    return a, b


def area(steps, scores, start: float, end: float) -> float:
    """Trapezoid area under the curve between start and end (curve interpolated)."""
    steps = np.asarray(steps, dtype=float)
    scores = np.asarray(scores, dtype=float)
    grid = np.union1d(steps[(steps > start) & (steps < end)], [start, end])
    return float(np.trapezoid(np.interp(grid, steps, scores), grid))


def score_at(steps, scores, step: float) -> float:
    """The curve's value at `step`, linearly interpolated between checkpoints."""
    return float(np.interp(step, np.asarray(steps, dtype=float), np.asarray(scores, dtype=float)))


def curve_metrics(
    steps, scores, reference_final: float, window: tuple[int, int], fraction: float = 0.5
) -> dict:
    """Onset, area over the window and score at the window's end, for one run's curve.

    A curve that never reaches the onset level within its steps has a censored onset: the
    last step is reported as a lower bound and `censored` is True.
    """
    onset = onset_step(steps, scores, reference_final, fraction)
    censored = onset is None
    return {
        "onset": float(np.asarray(steps)[-1]) if censored else onset,
        "censored": censored,
        "area": area(steps, scores, *window),
        "end_score": score_at(steps, scores, window[1]),
    }


def effect(run: dict, base: dict) -> dict:
    """docs/design.md effect: onset(run) - onset(baseline), area(run) - area(baseline)."""
    return {
        "d_onset": run["onset"] - base["onset"],
        "d_area": run["area"] - base["area"],
        "d_end_score": run["end_score"] - base["end_score"],
        "censored": run["censored"],
    }


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for fewer than two values)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def pearson(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    for val in np.unique(v):
        tied = v == val
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return pearson(_ranks(x), _ranks(y))


def top_overlap(x, y, fraction: float) -> float:
    """Share of the top `fraction` of items by x that are also in the top `fraction` by y
    (k = max(1, round(fraction * n)); ties broken by position). Chance level is `fraction`."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    k = max(1, int(round(fraction * len(x))))
    top_x = np.argsort(-x, kind="stable")[:k]
    top_y = np.argsort(-y, kind="stable")[:k]
    return len(np.intersect1d(top_x, top_y)) / k
