"""Category-matched random draws on hand-made windows."""

import numpy as np
import pytest

from baselines.category_matched import INJECTED, category_counts, category_matched, row_labels

ROWS = np.arange(100, 200)
LABELS = row_labels(
    np.array(["prose"] * 40 + ["code"] * 20 + ["latex"] * 10 + ["repetitive"] * 30, dtype=object),
    injected=np.r_[np.zeros(70, bool), np.ones(20, bool), np.zeros(10, bool)],
)
TOP = np.array([100, 101, 160, 171, 172, 173, 174, 175, 190])  # 2 prose, 1 latex, 5 injected, 1 repetitive


def test_injected_rows_are_their_own_category():
    assert category_counts(LABELS, ROWS, TOP) == {"prose": 2, "latex": 1, INJECTED: 5, "repetitive": 1}
    assert (LABELS == INJECTED).sum() == 20 and (LABELS == "repetitive").sum() == 10


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_draws_have_exactly_the_top_k_mix(seed):
    draw = category_matched(ROWS, LABELS, TOP, seed)
    assert len(draw) == len(TOP) and len(set(draw)) == len(draw) and np.all(np.diff(draw) > 0)
    assert category_counts(LABELS, ROWS, draw) == category_counts(LABELS, ROWS, TOP)


def test_draws_are_reproducible_by_seed_and_differ_between_seeds():
    a, b = category_matched(ROWS, LABELS, TOP, 1), category_matched(ROWS, LABELS, TOP, 1)
    assert np.array_equal(a, b)
    draws = {tuple(category_matched(ROWS, LABELS, TOP, s)) for s in range(1, 6)}
    assert len(draws) == 5


def test_every_row_of_a_category_can_be_drawn():
    """Uniform within a category: over many seeds each injected row turns up."""
    seen = set()
    for s in range(200):
        d = category_matched(ROWS, LABELS, TOP, s)
        seen |= set(d[(d >= 170) & (d < 190)].tolist())
    assert seen == set(range(170, 190))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="window's rows"):
        category_matched(ROWS, LABELS, np.array([5]), 1)
    with pytest.raises(ValueError, match="sorted"):
        category_matched(ROWS[::-1], LABELS, TOP, 1)
