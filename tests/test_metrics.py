import numpy as np
import pytest

from mda_bench.metrics import area, crossing_step, onset_step, rise_window


def test_onset_interpolates_between_checkpoints():
    steps, ys = [0, 100, 200, 300], [0.0, 0.1, 0.5, 0.8]
    # half of a final score 0.8 is 0.4: 3/4 of the way from step 100 to 200
    assert onset_step(steps, ys, 0.8) == pytest.approx(175.0)
    assert onset_step(steps, ys, 0.8, fraction=0.1) == pytest.approx(80.0)


def test_onset_none_when_never_reached_and_zero_when_already_there():
    assert crossing_step([0, 10], [0.1, 0.2], 0.5) is None
    assert crossing_step([0, 10], [0.6, 0.7], 0.5) == 0.0


def test_rise_window_and_area():
    steps, ys = [0, 10, 20, 30], [0.0, 0.0, 1.0, 1.0]
    assert rise_window(steps, ys) == pytest.approx((11.0, 19.0))
    assert area(steps, ys, 0, 30) == pytest.approx(15.0)
    assert area(steps, ys, 15, 25) == pytest.approx(0.5 * 5 * (0.5 + 1.0) + 5.0)


def test_curve_metrics_effect_and_censoring():
    from mda_bench.metrics import curve_metrics, effect, mean_sd, score_at

    steps = [0, 100, 200, 300]
    base = curve_metrics(steps, [0.0, 0.1, 0.5, 0.8], 0.8, (0, 200))
    assert base["onset"] == pytest.approx(175.0) and not base["censored"]
    assert base["area"] == pytest.approx(0.5 * 100 * 0.1 + 0.5 * 100 * 0.6)
    assert base["end_score"] == pytest.approx(0.5)
    late = curve_metrics(steps, [0.0, 0.0, 0.1, 0.3], 0.8, (0, 200))
    assert late["censored"] and late["onset"] == 300.0  # a lower bound: the last step
    e = effect(late, base)
    assert e["d_onset"] == pytest.approx(125.0) and e["d_area"] < 0 and e["censored"]
    assert score_at(steps, [0.0, 0.1, 0.5, 0.8], 250) == pytest.approx(0.65)
    assert mean_sd([1.0, 3.0]) == pytest.approx((2.0, 2**0.5))
    assert mean_sd([2.0]) == (2.0, 0.0)


def test_correlations():
    from mda_bench.metrics import pearson, spearman

    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert pearson(x, [2.0, 4.0, 6.0, 8.0, 10.0]) == pytest.approx(1.0)
    assert spearman(x, [1.0, 8.0, 27.0, 64.0, 125.0]) == pytest.approx(1.0)  # monotone
    assert spearman(x, [5.0, 4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert spearman([1.0, 1.0, 2.0], [1.0, 2.0, 3.0]) == pytest.approx(0.866, abs=1e-3)  # ties


def test_top_overlap():
    from mda_bench.metrics import top_overlap

    x = np.arange(100.0)
    assert top_overlap(x, x, 0.1) == 1.0
    assert top_overlap(x, -x, 0.1) == 0.0
    y = x.copy()
    y[[99, 0]] = y[[0, 99]]  # the best item drops to last: 9 of the top 10 agree
    assert top_overlap(x, y, 0.1) == pytest.approx(0.9)
    assert top_overlap(x, y, 0.001) == 0.0  # k is at least 1: the single top item differs
