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
