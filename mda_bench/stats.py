"""Named statistics for verdicts: tests and intervals a reader can look up (scipy's).

Every function takes plain samples (one effect per run or per seed) and returns numbers with
the name of the procedure, so a report can print "Welch's t-test, two-sided, t = -2.19,
df = 6.0, p = 0.071" rather than a home-made band. The claims adopt them with their protocol
versions (docs/claims.md); these functions are tested on hand-made samples with known answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class TestResult:
    name: str  # the procedure, as a report names it
    statistic: float
    p: float
    df: float | None = None


def welch(a, b) -> TestResult:
    """Welch's unequal-variance t-test of mean(a) = mean(b), two-sided."""
    res = stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False)
    return TestResult("Welch's t-test, two-sided", float(res.statistic), float(res.pvalue), float(res.df))


def permutation(a, b, n_resamples: int = 10_000, seed: int = 0) -> TestResult:
    """Two-sample permutation test of the difference of means, two-sided (exact when the
    number of distinct splits is at most `n_resamples`)."""
    res = stats.permutation_test(
        (np.asarray(a, float), np.asarray(b, float)),
        lambda x, y: np.mean(x) - np.mean(y),
        permutation_type="independent",
        alternative="two-sided",
        n_resamples=n_resamples,
        rng=np.random.default_rng(seed),
    )
    return TestResult(
        "permutation test on the difference of means, two-sided", float(res.statistic), float(res.pvalue)
    )


def mean_ci(x, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t interval for the mean of `x`."""
    x = np.asarray(x, float)
    m, se = float(x.mean()), float(stats.sem(x))
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * se
    return m, m - half, m + half


def ratio_ci(targeted, control, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0):
    """(ratio, low, high): |mean(targeted)| / |mean(control)| with a percentile bootstrap
    interval, resampling each group on its own."""

    def ratio(t, c, axis=-1):
        return np.abs(np.mean(t, axis=axis)) / np.abs(np.mean(c, axis=axis))

    t, c = np.asarray(targeted, float), np.asarray(control, float)
    res = stats.bootstrap(
        (t, c),
        ratio,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(ratio(t, c)), float(res.confidence_interval.low), float(res.confidence_interval.high)


def welch_power(delta: float, sd_a: float, sd_b: float, n_a: int, n_b: int, alpha: float = 0.05) -> float:
    """Power of the two-sided Welch test to detect a true difference `delta` between the means
    of groups with these standard deviations and sizes (noncentral t, Welch's df)."""
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = delta / se
    # the lower tail as the upper tail of -T (P(T < -c | nc) = P(T > c | -nc)): scipy's nct.cdf
    # returns nan far in the tail (df 1.5, nc 7.9, seen in a smoke report), its sf does not
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def stratified_rank_test(targeted, controls, sign: int = 1) -> TestResult:
    """Exact one-sided test that a targeted run is more extreme than its own controls.

    One stratum per independent baseline (seed): `targeted[s]` is the targeted run's effect and
    `controls[s]` the effects of that seed's control draws. Under the null the targeted run is
    exchangeable with its controls, so the number of controls at least as extreme as it (in
    the direction `sign`: +1 larger, -1 smaller; ties count against the claim) is uniform on
    0..R_s in each stratum, independently. The statistic is that count summed over strata and
    p its exact lower-tail probability (a stratified permutation test on ranks; a censored
    effect, a bound rather than a value, keeps its rank). The smallest reachable p is
    prod 1 / (R_s + 1): 1 seed with 4 draws cannot go below 0.2.
    """
    if len(targeted) != len(controls) or not len(targeted):
        raise ValueError("one list of control effects per targeted effect, at least one stratum")
    total, dist = 0, np.array([1.0])
    for t, cs in zip(targeted, controls):
        cs = np.asarray(cs, float)
        if not len(cs):
            raise ValueError("every stratum needs at least one control")
        total += int(np.sum(sign * cs >= sign * float(t)))
        dist = np.convolve(dist, np.full(len(cs) + 1, 1.0 / (len(cs) + 1)))
    p = float(dist[: total + 1].sum())
    name = "exact stratified rank test (targeted vs its seed's controls), one-sided"
    return TestResult(name, float(total), min(1.0, p))


def min_rank_p(draws_per_seed: list[int]) -> float:
    """The smallest p `stratified_rank_test` can give with these stratum sizes."""
    return float(np.prod([1.0 / (r + 1) for r in draws_per_seed]))


def cluster_bootstrap_ci(x, y, clusters, stat, level: float = 0.95, n_resamples: int = 2000, seed: int = 0):
    """(low, high): percentile bootstrap interval of stat(x, y) resampling whole clusters
    (e.g. every checkpoint of one run together), so autocorrelated points are not counted as
    independent."""
    x, y, clusters = np.asarray(x, float), np.asarray(y, float), np.asarray(clusters)
    ids = np.unique(clusters)
    members = [np.flatnonzero(clusters == c) for c in ids]
    rng = np.random.default_rng([seed, 41])
    vals = []
    for _ in range(n_resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        vals.append(stat(x[idx], y[idx]))
    vals = np.asarray(vals, float)
    vals = vals[np.isfinite(vals)]
    if not len(vals):  # e.g. a correlation of constant data
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(vals, tail)), float(np.percentile(vals, 100 - tail))
