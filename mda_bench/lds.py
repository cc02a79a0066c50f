"""Head-LDS: does an attribution predict what retraining does to the unit itself?

The linear datamodeling score of TRAK and kronfluence, measured on the head's metric instead of
a loss. M random subsets of the formation window's rows are removed, each in its own branch
retrained through the window; the change of the unit's metric each branch measures is
correlated, across the subsets, with the change the attribution predicts, the negated sum of
the removed rows' scores (a row with a positive score raises the head's score, so removing it
lowers the metric). LDS is the Spearman correlation; its interval resamples whole subsets. The
same subsets retrained a second time with only stochastic differences (another order of the
window's rows) give the noise ceiling: the correlation of the two measurements, which no
attribution can beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import spearman
from .stats import cluster_bootstrap_ci


@dataclass(frozen=True)
class LdsConfig:
    """The subsets: how many, which share of the window each removes, and their seed."""

    subsets: int = 32
    fraction: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        if self.subsets < 3:
            raise ValueError(f"LDS needs at least 3 subsets, got {self.subsets}")
        if not 0 < self.fraction < 1:
            raise ValueError(f"the removed fraction must be in (0, 1), got {self.fraction}")


def draw_subsets(rows: np.ndarray, cfg: LdsConfig) -> list[np.ndarray]:
    """cfg.subsets seeded draws of round(fraction x len(rows)) distinct window rows each (sorted
    row ids); subset i depends on (seed, i) only, so adding subsets keeps the first ones."""
    cfg.validate()
    rows = np.asarray(rows)
    n = max(1, round(cfg.fraction * len(rows)))
    return [
        np.sort(np.random.default_rng([cfg.seed, 53, i]).choice(rows, size=n, replace=False))
        for i in range(cfg.subsets)
    ]


def predicted_change(rows: np.ndarray, scores: np.ndarray, subset: np.ndarray) -> float:
    """The metric change an attribution predicts for removing `subset`: minus the sum of the
    removed rows' scores (in the strategy's own units; LDS is a rank statistic)."""
    where = np.searchsorted(rows, subset)
    if np.any(where >= len(rows)) or np.any(rows[np.minimum(where, len(rows) - 1)] != subset):
        raise ValueError("a removed row is not among the scored window rows")
    return -float(np.asarray(scores, dtype=float)[where].sum())


def predictions(rows: np.ndarray, scores: np.ndarray, subsets: list[np.ndarray]) -> np.ndarray:
    """predicted_change for every subset; `rows` must be sorted (window row ids are)."""
    rows = np.asarray(rows)
    if np.any(np.diff(rows) <= 0):
        raise ValueError("scored rows must be sorted and distinct")
    return np.array([predicted_change(rows, scores, s) for s in subsets])


def lds(predicted, measured, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict:
    """{lds, low, high, n}: Spearman of predicted vs measured changes, with a percentile
    bootstrap interval over subsets."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    if predicted.shape != measured.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(measured)} measurements")
    lo, hi = cluster_bootstrap_ci(
        predicted, measured, np.arange(len(predicted)), spearman, level, n_resamples, seed
    )
    return {"lds": spearman(predicted, measured), "low": lo, "high": hi, "n": int(len(predicted))}


def noise_ceiling(first, second) -> float:
    """Spearman between two retrainings of the same subsets (only the window's row order
    differs): how well the measured changes can be predicted at all."""
    return spearman(first, second)
