import numpy as np
import pytest

from mda_bench import interventions as iv
from mda_bench.errors import MdaError

W = iv.Window(start=10, end=20, batch_size=4)  # rows 40..79
N = 200


def test_selections_are_exact_and_seeded():
    rows = W.rows
    scores = np.arange(len(rows), dtype=float)[::-1]  # row 40 highest
    assert iv.top_k(rows, scores, 3).tolist() == [40, 41, 42]
    assert iv.bottom_k(rows, scores, 2).tolist() == [78, 79]
    a, b, c = iv.random_k(rows, 8, seed=1), iv.random_k(rows, 8, seed=1), iv.random_k(rows, 8, seed=2)
    assert len(set(a.tolist())) == 8 and set(a) <= set(rows)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert iv.default_k(W, 0.1) == 4
    with pytest.raises(MdaError):
        iv.random_k(rows, 41, seed=0)


def test_remove_zeroes_only_the_selected_rows():
    sel = np.array([41, 55, 79])
    plan = iv.remove(N, sel)
    assert (plan.weights[sel] == 0).all()
    assert plan.weights.sum() == N - 3
    rows, w = plan.batch(13, 4)  # step 13 holds rows 52..55
    assert rows.tolist() == [52, 53, 54, 55] and w.tolist() == [1, 1, 1, 0]


def test_augment_adds_exactly_k_later_rows_and_moves_nothing():
    sel = np.array([40, 47, 60, 77, 79])
    plan = iv.augment(N, sel, W, seed=3)
    extra = np.concatenate(list(plan.extras.values()))
    assert sorted(extra.tolist()) == sel.tolist()  # each selected row exactly once more
    for step, rows in plan.extras.items():
        assert W.start <= step < W.end
        for r in rows:  # later than its own step (the last step's rows stay in it)
            assert step > r // 4 or (r // 4 == W.end - 1 and step == r // 4)
    for step in range(0, 30):
        rows, w = plan.batch(step, 4)
        assert rows[:4].tolist() == list(range(4 * step, 4 * step + 4))  # regular rows stay put
        assert len(rows) == 4 + len(plan.extras.get(step, [])) and (w == 1).all()
    assert iv.augment(N, sel, W, seed=3).key() == plan.key() != iv.augment(N, sel, W, seed=4).key()
    with pytest.raises(MdaError):
        iv.augment(N, np.array([5]), W, seed=0)  # outside the window


def test_reorder_permutes_the_window_only():
    plan = iv.reorder(N, W, seed=1)
    assert np.array_equal(plan.order[:40], np.arange(40)) and np.array_equal(
        plan.order[80:], np.arange(80, N)
    )
    assert sorted(plan.order[40:80].tolist()) == list(range(40, 80))
    assert not np.array_equal(plan.order[40:80], np.arange(40, 80))
    assert iv.Plan(N).is_identity and iv.Plan(N).key() != plan.key()


def test_insert_trains_each_new_row_once_in_its_range():
    class Stream:  # rows(ids) -> tokens, like TokenStream
        @staticmethod
        def rows(ids):
            return np.stack([np.full(6, i) for i in ids])

    new = np.arange(1000, 1000 + 7 * 6).reshape(7, 6)
    plan = iv.insert(N, new, 3, 8, seed=0)
    assert all(3 <= s < 8 for s in plan.inserted)
    got = np.concatenate([plan.inserted[s] for s in sorted(plan.inserted)])
    assert sorted(map(tuple, got)) == sorted(map(tuple, new))  # each new row exactly once
    for step in range(10):
        toks, w = plan.tokens(step, 4, Stream)
        k = len(plan.inserted.get(step, []))
        assert toks.shape == (4 + k, 6) and (toks[:4, 0] == np.arange(4 * step, 4 * step + 4)).all()
        assert (w == 1).all()
    assert plan.key() != iv.Plan(N).key() and not plan.is_identity
    assert iv.insert(N, new, 3, 8, seed=0).key() == plan.key()
    with pytest.raises(MdaError):
        iv.insert(N, new, 5, 5, seed=0)
