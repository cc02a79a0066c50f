"""The named statistics on hand-made samples whose answers are known."""

import numpy as np
import pytest

from mda_bench import stats


def test_welch_matches_the_hand_computation():
    # means 2.5 and 4.5, both variances 5/3, n = 4: t = -2 / sqrt(2 * 5/12) = -2.191, df = 6
    r = stats.welch([1, 2, 3, 4], [3, 4, 5, 6])
    assert r.statistic == pytest.approx(-2.1909, abs=1e-4) and r.df == pytest.approx(6.0)
    assert r.p == pytest.approx(0.0710, abs=5e-4) and "Welch" in r.name


def test_exact_permutation_test():
    # [1, 2] vs [3, 4]: of the 6 splits, 2 are as extreme as the observed one
    r = stats.permutation([1, 2], [3, 4])
    assert r.statistic == -2.0 and r.p == pytest.approx(2 / 6)
    assert stats.permutation([1, 2, 3], [1, 2, 3]).p == pytest.approx(1.0)


def test_mean_ci_is_the_t_interval():
    m, lo, hi = stats.mean_ci([1, 2, 3, 4])
    half = 3.1824 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3) * sd / sqrt(4)
    assert (
        m == 2.5 and lo == pytest.approx(2.5 - half, abs=1e-3) and hi == pytest.approx(2.5 + half, abs=1e-3)
    )


def test_ratio_ci_brackets_the_ratio_and_is_seeded():
    targeted, control = [10.0, 12.0, 11.0, 9.0], [1.0, 2.0, 1.5, 1.8]
    r, lo, hi = stats.ratio_ci(targeted, control, seed=1)
    assert r == pytest.approx(10.5 / 1.575) and lo < r < hi
    assert stats.ratio_ci(targeted, control, seed=1) == (r, lo, hi)


def test_power_is_alpha_at_no_effect_and_grows_with_it():
    assert stats.welch_power(0.0, 1.0, 1.0, 5, 5) == pytest.approx(0.05, abs=1e-6)
    weak, strong = stats.welch_power(1.0, 1.0, 1.0, 5, 5), stats.welch_power(3.0, 1.0, 1.0, 5, 5)
    assert 0.05 < weak < strong and strong > 0.9
    # far in the tail (two draws a group, a smoke report's numbers): scipy's nct.cdf gives nan
    # there; the power is the upper tail, ~0.824, not nan
    far = stats.welch_power(0.333 * 37.747, 1.0577, 1.9700, 2, 2)
    assert far == pytest.approx(0.824, abs=0.002)


def test_stratified_rank_test_exact_values():
    from mda_bench.stats import min_rank_p, stratified_rank_test

    # most extreme in both seeds of 4 draws: p = (1/5)^2
    r = stratified_rank_test([10, 12], [[1, 2, 3, 4], [0, 5, 6, 7]], sign=+1)
    assert r.statistic == 0 and r.p == pytest.approx(1 / 25)
    assert min_rank_p([4, 4]) == pytest.approx(1 / 25)
    # direction matters: a delay claim (sign +1) on an advance is the least extreme
    assert stratified_rank_test([-10], [[1, 2, 3, 4]], sign=+1).p == pytest.approx(1.0)
    assert stratified_rank_test([-10], [[1, 2, 3, 4]], sign=-1).p == pytest.approx(1 / 5)
    # one control beats it in seed 1: count 1, P(U1+U2 <= 1) = 3/25
    r = stratified_rank_test([10, 5], [[1, 2, 3, 4], [0, 6, 1, 2]], sign=+1)
    assert r.statistic == 1 and r.p == pytest.approx(3 / 25)
    # ties count against the claim
    assert stratified_rank_test([4], [[1, 2, 3, 4]]).p == pytest.approx(2 / 5)
    with pytest.raises(ValueError):
        stratified_rank_test([1], [[]])
