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
    w_all = np.concatenate([plan.batch(s, 4)[1] for s in range(N // 4)])
    assert (w_all[sel] == 0).all()
    assert w_all.sum() == N - 3
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
    plan.order = np.concatenate([plan.batch(s, 4)[0] for s in range(N // 4)])  # its dense form
    plan.sparse_order = None
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


def _dense(plan: iv.Plan, n_steps: int, B: int) -> iv.Plan:
    """The same plan with dense weights and order (what plans were before they went sparse)."""
    rows = np.concatenate([plan.batch(s, B)[0][:B] for s in range(n_steps)])
    w = np.concatenate([plan.batch(s, B)[1][:B] for s in range(n_steps)])
    order = np.empty(len(rows), np.int64)
    order[:] = rows
    weights = np.ones(len(rows), np.float32)
    weights[rows] = w
    return iv.Plan(plan.n_rows, weights=weights, extras=plan.extras, order=order)


@pytest.mark.parametrize(
    "make", [lambda: iv.remove(N, np.array([3, 41, 55, 79])), lambda: iv.reorder(N, W, 2)]
)
def test_sparse_plans_train_the_dense_batches_under_the_dense_key(make, monkeypatch):
    """Stored branches were keyed by dense plans; a sparse plan must find them again."""
    monkeypatch.setattr(iv, "_KEY_CHUNK", 7)  # slices that do not divide the stream
    plan = make()
    dense = _dense(plan, N // 4, 4)
    if plan.sparse_weights is not None:
        dense.order = None
        assert dense.key() == iv.Plan(N, weights=dense.weights).key()
    else:
        dense.weights = None
    assert plan.key() == dense.key()
    for step in range(N // 4):
        for a, b in zip(plan.batch(step, 4), dense.batch(step, 4)):
            assert np.array_equal(a, b)
    with pytest.raises(MdaError):
        iv.Plan(N, weights=np.ones(N, np.float32), sparse_weights=(np.array([1]), np.zeros(1, np.float32)))


def test_a_plan_over_pythias_stream_stays_small():
    """Removing 10% of one 1,000-step window of 146M rows: the plan holds the window, not the stream."""
    n = 143_000 * 1024
    window = iv.Window(1000, 2000, 1024)
    sel = iv.random_k(window.rows, 102_400, seed=0)
    plan = iv.remove(n, sel)
    size = sum(a.nbytes for a in plan.sparse_weights)
    assert size < 2_000_000  # vs 586 MB dense
    rows, w = plan.batch(1500, 1024)
    assert np.array_equal(w == 0, np.isin(rows, sel))
    re = iv.reorder(n, window, seed=0)
    assert sum(a.nbytes for a in re.sparse_order) < 20_000_000  # vs 1.2 GB dense


def test_top_k_breaks_ties_by_a_seeded_draw_when_asked():
    rows = np.arange(100, 200)
    flag = (rows % 2 == 0).astype(float)  # 50 tied top rows
    by_id = iv.top_k(rows, flag, 10)
    assert by_id.tolist() == list(range(100, 120, 2))  # the earliest ones
    drawn = iv.top_k(rows, flag, 10, tie_seed=0)
    assert len(drawn) == 10 and np.all(drawn % 2 == 0)  # still only top-class rows ...
    assert drawn.tolist() != by_id.tolist() and drawn.max() > 150  # ... drawn across the window
    assert np.array_equal(drawn, iv.top_k(rows, flag, 10, tie_seed=0))
    assert not np.array_equal(drawn, iv.top_k(rows, flag, 10, tie_seed=1))
    distinct = np.random.default_rng(3).random(100)  # without ties the seed changes nothing
    assert np.array_equal(iv.top_k(rows, distinct, 10), iv.top_k(rows, distinct, 10, tie_seed=5))
