"""Attribution sanity checks on the micro scale: split exactness, exact-influence agreement,
the identity strategy, batch-size invariance, independence from interventions, and the sign."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mda_bench.attribution.score import HeadInfluence, InfluenceConfig, influence_scores
from mda_bench.attribution.split import split_head
from mda_bench.attribution.stage import attribute_stage, category_breakdown
from mda_bench.attribution.task import HeadTask, probe_value
from mda_bench.checkpoint_io import load_checkpoint
from mda_bench.heads import locate_unit, make_probe
from mda_bench.model import build_model
from mda_bench.pipeline import train_stage
from mda_bench.scales import ModelConfig
from mda_bench.store import Store


@pytest.fixture(scope="module")
def baseline(micro, micro_data, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("att"))
    return store, train_stage(micro, store, micro_data, progress=False)


@pytest.fixture(scope="module")
def trained_model(micro, baseline):
    _, run = baseline
    model = build_model(micro.model, 0)
    load_checkpoint(model, None, run.path / "ckpt" / f"step-{micro.train.steps:06d}")
    return model.eval()


def _rows(micro_data, n):
    return micro_data.stream.rows(np.arange(n))


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("n_heads", [1, 2, 4])
def test_split_model_matches_original_logits(n_heads):
    model = build_model(ModelConfig(2, 32, n_heads, 32, 300), 3)
    with torch.no_grad():  # move away from init so biases and every head matter
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    x = torch.randint(0, 300, (3, 32), generator=torch.Generator().manual_seed(0))
    ref = model(input_ids=x).logits
    for layer in range(2):
        for head in range(n_heads):
            split = split_head(model, layer, head)
            assert torch.allclose(split(input_ids=x).logits, ref, atol=1e-5)
            names = {n for n, _ in split.named_modules()}
            assert {f"gpt_neox.layers.{layer}.attention.{m}" for m in ("qk", "v", "o")} <= names


def test_split_head_pattern_is_the_models_own(trained_model, micro):
    probe = make_probe(micro.model.vocab_size, micro.probe)
    attn = trained_model(input_ids=probe, output_attentions=True).attentions
    split = split_head(trained_model, 1, 1)
    value = probe_value(split, probe, 1, 1, "prefix-matching")
    half = probe.shape[1] // 2
    q = torch.arange(half, 2 * half)
    expected = attn[1][:, 1][:, q, q - half + 1].mean(-1).sum()
    assert torch.allclose(value, expected, atol=1e-6)


def _per_row_grads(model, rows, names):
    """Per-row gradients of the summed next-token loss w.r.t. the tracked modules (W | b)."""
    task = HeadTask(1, 0, "prefix-matching")
    params = [p for n, m in model.named_modules() if n in names for p in (m.weight, m.bias) if p is not None]
    out = []
    for r in rows:
        loss = task.compute_train_loss({"input_ids": torch.as_tensor(r[None], dtype=torch.long)}, model)
        out.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
    return torch.stack(out).double(), params


def test_identity_is_the_gradient_dot_product(trained_model, micro, micro_data):
    rows = _rows(micro_data, 64)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    split = split_head(trained_model, 1, 0)
    grads, params = _per_row_grads(split, rows, HeadTask(1, 0).modules)
    measure = probe_value(split, probe, 1, 0, "prefix-matching") / probe.shape[0]
    gq = torch.cat([g.reshape(-1) for g in torch.autograd.grad(measure, params)]).double()
    # a descent step on row i moves the probe by -lr * gq . g_i: influence = -gq . H^-1 g_i
    ident = influence_scores(trained_model, 1, 0, rows, probe, InfluenceConfig(strategy="identity"))
    np.testing.assert_allclose(ident, -(grads @ gq).numpy(), rtol=1e-3, atol=1e-9)


def _explicit_influence(model, rows, probe, head, kind="prefix-matching"):
    """-g_row . (F + damping I)^-1 g_probe from per-row autograd gradients (no hooks, no
    kronfluence): the reference the `exact` strategy must equal."""
    split = split_head(model, 1, head)
    grads, params = _per_row_grads(split, rows, HeadTask(1, head, kind).modules)
    measure = probe_value(split, probe, 1, head, kind) / probe.shape[0]
    gq = torch.cat([g.reshape(-1) for g in torch.autograd.grad(measure, params)]).double()
    fisher = grads.T @ grads / len(rows)
    damping = 0.1 * float(torch.trace(fisher)) / fisher.shape[0]  # kronfluence's own heuristic
    eye = torch.eye(len(gq), dtype=torch.float64)
    return (-grads @ torch.linalg.solve(fisher + damping * eye, gq)).numpy()


# copy-logprob tracks Q, K, V and O (O without a bias): 2,096 parameters at micro
@pytest.mark.parametrize("kind", ["prefix-matching", "copy-logprob"])
def test_exact_strategy_is_the_explicit_inverse_fisher_influence(trained_model, micro, micro_data, kind):
    rows = _rows(micro_data, 96)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    ref = _explicit_influence(trained_model, rows, probe, 1, kind)
    cfg = InfluenceConfig(
        strategy="exact", probe=kind, empirical_fisher=True, factor_batch_size=7, score_batch_size=10
    )
    got = influence_scores(trained_model, 1, 1, rows, probe, cfg)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7 * np.abs(ref).max())


def test_exact_strategy_refuses_a_fisher_too_large(trained_model, micro, micro_data, monkeypatch):
    import mda_bench.attribution.exact as exact
    from mda_bench.errors import MdaError

    monkeypatch.setattr(exact, "MAX_EXACT_PARAMS", 1000)  # the micro QK block has 1,056
    probe = make_probe(micro.model.vocab_size, micro.probe)
    with pytest.raises(MdaError, match="1,056 parameters.*use --strategy ekfac"):
        influence_scores(trained_model, 1, 0, _rows(micro_data, 8), probe, InfluenceConfig(strategy="exact"))


def test_ekfac_scores_are_the_influence_through_its_own_factors(trained_model, micro, micro_data):
    """Separates our use of kronfluence from the approximation: rebuilding the EK-FAC matrix
    from the fitted factors (Kronecker eigenbasis, corrected eigenvalues, kronfluence's damping)
    and inverting it by hand must give kronfluence's own scores. The gap to `exact` is then
    the approximation's, not the code's."""
    from mda_bench.attribution.exact import RowGradients, query_gradient
    from mda_bench.attribution.score import HeadInfluence

    rows = _rows(micro_data, 200)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    cfg = InfluenceConfig(strategy="ekfac", empirical_fisher=True, max_fit_rows=0)
    with HeadInfluence(trained_model, 1, 1, cfg) as hi:
        hi.fit(rows)
        got = hi.score(rows, probe)
        f = hi.analyzer.load_all_factors("factors")
    name = "gpt_neox.layers.1.attention.qk"
    qa, qg = f["activation_eigenvectors"][name].double(), f["gradient_eigenvectors"][name].double()
    lam = f["lambda_matrix"][name].double() / f["num_lambda_processed"][name].double()
    split = split_head(trained_model, 1, 1)
    task = HeadTask(1, 1)
    grads = RowGradients(split, task)(rows)  # [n, out * (in + 1)]: W row-major, then the bias
    out = qg.shape[0]

    def as_matrix(flat):  # (W | b) as kronfluence sees the Linear: [out, in + 1]
        return torch.cat([flat[..., :-out].reshape(*flat.shape[:-1], out, -1), flat[..., -out:, None]], -1)

    g_rows, g_probe = as_matrix(grads), as_matrix(query_gradient(split, task, probe))
    precond = qg @ ((qg.T @ g_probe @ qa) / (lam + 0.1 * lam.mean())) @ qa.T
    ref = -(g_rows * precond).sum((-2, -1)).numpy()
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())
    # Why EK-FAC falls short of the exact influence here: it keeps only the diagonal of the
    # Fisher in the Kronecker eigenbasis, and that diagonal holds well under half of this
    # Fisher's squared mass (measured 0.28 on these 200 rows).
    rotated = qg.T @ g_rows @ qa  # every row's gradient in the eigenbasis, [n, out, in + 1]
    flat = rotated.flatten(1)
    fisher = flat.T @ flat / len(rows)
    share = float((fisher.diagonal() ** 2).sum() / (fisher**2).sum())
    assert share < 0.5


@pytest.mark.parametrize("head", [0, 1])
def test_ekfac_tracks_exact_inverse_fisher_influence(trained_model, micro, micro_data, head):
    """Against the exact damped empirical Fisher of the head's QK block (1,056 parameters,
    800 rows), EK-FAC must rank rows clearly and better than the plain gradient product.
    Measured: Spearman 0.80 / 0.70 for heads 0 / 1 (identity 0.30 / 0.31); with the Fisher
    of all 2,939 micro rows 0.86 / 0.70. The issue's 0.9 is not reached (README, attribution):
    in the Kronecker eigenbasis only about a third of this Fisher's mass is diagonal."""
    rows = micro_data.stream.chunks[:800]
    probe = make_probe(micro.model.vocab_size, micro.probe)
    exact = influence_scores(
        trained_model, 1, head, rows, probe, InfluenceConfig(strategy="exact", empirical_fisher=True)
    )
    rho = {
        s: spearman(influence_scores(trained_model, 1, head, rows, probe, cfg), exact)
        for s, cfg in (
            ("ekfac", InfluenceConfig(strategy="ekfac", empirical_fisher=True)),
            ("identity", InfluenceConfig(strategy="identity")),
        )
    }
    assert rho["ekfac"] >= 0.6 and rho["ekfac"] > rho["identity"] + 0.1, rho


@pytest.mark.parametrize("strategy", ["ekfac", "exact"])
def test_scores_do_not_depend_on_batch_size(trained_model, micro, micro_data, strategy):
    rows = _rows(micro_data, 40)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    a = influence_scores(
        trained_model, 1, 0, rows, probe, InfluenceConfig(strategy, factor_batch_size=8, score_batch_size=8)
    )
    b = influence_scores(
        trained_model, 1, 0, rows, probe, InfluenceConfig(strategy, factor_batch_size=8, score_batch_size=5)
    )
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(a).max())


def test_scoring_in_chunks_is_bit_identical(trained_model, micro, micro_data):
    """Long windows are scored in several kronfluence calls (to bound memory); a chunk size
    that is not a whole number of batches is rounded up, so the scores are the same bits."""
    rows = _rows(micro_data, 45)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    with HeadInfluence(trained_model, 1, 0, InfluenceConfig(score_batch_size=8)) as hi:
        hi.fit(rows)
        whole = hi.score(rows, probe, chunk_rows=len(rows))
        chunked = hi.score(rows, probe, chunk_rows=13)  # -> 16 rows a call, 3 calls
    assert chunked.shape == (45,) and np.array_equal(whole, chunked)


def test_window_rows_are_read_a_chunk_at_a_time(trained_model, micro, micro_data):
    """Scoring a lazy window view reads at most one chunk of rows per stream call (a Pythia
    window never enters memory whole) and gives the bits of scoring the array."""
    from mda_bench.attribution.stage import WindowRows

    class Counting:
        largest = 0

        def rows(self, ids):
            Counting.largest = max(Counting.largest, np.size(ids))
            return micro_data.stream.rows(ids)

    ids = np.arange(45)
    lazy = WindowRows(Counting(), ids)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    with HeadInfluence(trained_model, 1, 0, InfluenceConfig(score_batch_size=8)) as hi:
        hi.fit(_rows(micro_data, 45))
        got = hi.score(lazy, probe, chunk_rows=16)
        ref = hi.score(micro_data.stream.rows(ids), probe, chunk_rows=16)
    assert np.array_equal(got, ref) and Counting.largest == 16


def test_whole_layer_scoring_leaves_the_model_as_it_was(trained_model, micro, micro_data):
    """Tracking the fused attention layer (the split's comparison) works on a copy: a second
    call on the same model gives the same scores, and the model keeps its own modules."""
    from kronfluence.module.tracked_module import TrackedModule

    rows = _rows(micro_data, 24)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    cfg = InfluenceConfig(whole_layer=True, factor_batch_size=8, score_batch_size=8)
    attn = trained_model.config._attn_implementation
    first = influence_scores(trained_model, 1, 0, rows, probe, cfg)
    assert np.array_equal(first, influence_scores(trained_model, 1, 0, rows, probe, cfg))
    assert not any(isinstance(m, TrackedModule) for m in trained_model.modules())
    assert trained_model.config._attn_implementation == attn


@pytest.mark.parametrize("strategy", ["ekfac", "exact"])
def test_factors_are_deterministic(trained_model, micro, micro_data, strategy):
    rows = _rows(micro_data, 32)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    cfg = InfluenceConfig(strategy=strategy, fisher_seed=3)
    assert np.array_equal(
        influence_scores(trained_model, 1, 0, rows, probe, cfg),
        influence_scores(trained_model, 1, 0, rows, probe, cfg),
    )


def test_masked_row_still_scored_and_attribution_ignores_weights(micro, micro_data, baseline):
    store, run = baseline
    att = attribute_stage(micro, store, micro_data, run, log=lambda m: None)
    start, end = att.unit["window"]
    assert [r["row"] for r in att.table] == list(range(start * 8, end * 8))
    arrays = np.load(att.path / "scores.npz")  # the table's numbers as arrays, same order
    assert arrays["row"].tolist() == [r["row"] for r in att.table]
    assert np.array_equal(arrays["score"], [r["score"] for r in att.table])
    assert np.array_equal(arrays["loss"], [r["loss"] for r in att.table])
    weights = np.ones(micro_data.stream.n_rows, dtype=np.float32)
    weights[5] = 0.0
    masked = train_stage(micro, store, micro_data, weights=weights, progress=False)
    # the attribution of the masked run's window still scores row 5 (finite, from its tokens)
    att_m = attribute_stage(micro, store, micro_data, masked, log=lambda m: None)
    row5 = [r for r in att_m.table if r["row"] == 5]
    assert len(row5) == 1 and np.isfinite(row5[0]["score"])
    assert att.path != att_m.path
    # a stored attribution is reused, not recomputed
    assert attribute_stage(micro, store, micro_data, run, log=lambda m: None).path == att.path


@pytest.mark.parametrize("strategy", ["identity", "ekfac", "exact"])
def test_upweighting_top_rows_raises_the_probe_more_than_bottom_rows(
    strategy, micro, micro_data, baseline, trained_model
):
    """The sign end to end (kronfluence's convention and our one flip). The influence is that
    of the head's QK parameters (with `identity`, exactly the first-order effect of a descent
    step on them), so three such steps on the 16 top rows must raise the probe more than the
    same steps on the 16 bottom rows, for `identity`, the default `ekfac` and `exact`."""
    store, run = baseline
    cfg = InfluenceConfig(strategy=strategy)
    att = attribute_stage(micro, store, micro_data, run, influence=cfg, log=lambda m: None)
    model = build_model(micro.model, 0)
    ck = run.path / "ckpt" / f"step-{att.unit['checkpoint']:06d}"
    probe = make_probe(micro.model.vocab_size, micro.probe)
    order = np.argsort([-r["score"] for r in att.table])
    ids = np.array([r["row"] for r in att.table])
    layer, head = att.unit["layer"], att.unit["head"]

    def after_steps(row_ids) -> float:
        load_checkpoint(model, None, ck)
        split = split_head(model, layer, head)
        # the attribution tracks the head's own QK parameters, so those are what the steps move
        qk = split.gpt_neox.layers[layer].attention.qk
        opt = torch.optim.SGD(qk.parameters(), lr=1e-4)
        tokens = torch.as_tensor(micro_data.stream.rows(row_ids), dtype=torch.long)
        task = HeadTask(layer, head)
        for _ in range(3):
            opt.zero_grad()
            task.compute_train_loss({"input_ids": tokens}, split).backward()
            opt.step()
        with torch.no_grad():
            return float(probe_value(split, probe, layer, head, "prefix-matching"))

    k = 16
    assert after_steps(ids[order[:k]]) > after_steps(ids[order[-k:]])


def test_locate_unit_window_and_errors():
    recs = [
        {"step": s, "induction": [[0.0, 0.0], [0.02, y]], "previous-token": [[p, 0.1], [0.0, 0.0]]}
        for s, y, p in [(0, 0.02, 0.1), (100, 0.03, 0.5), (200, 0.3, 0.6), (300, 0.5, 0.6), (400, 0.52, 0.6)]
    ]
    u = locate_unit(recs, "induction")
    assert (u["layer"], u["head"], u["rose"]) == (1, 1, True)
    # 90% of the rise 0.02 -> 0.52 is 0.47, crossed between 200 and 300: the window ends at 300
    assert u["window"] == (0, 300) and 200 < u["rise_90"] < 300
    p = locate_unit(recs, "previous-token")
    assert (p["layer"], p["head"]) == (0, 0)
    assert locate_unit(recs, "induction", start=100)["window"] == (100, 300)
    with pytest.raises(ValueError, match="not a checkpoint"):
        locate_unit(recs, "induction", start=150)


def test_category_breakdown_on_a_hand_made_table():
    cats = dict.fromkeys(("prose", "code", "latex", "markup", "records", "repetitive"), 0)
    table = [{**cats, "prose": 10, "score": float(i)} for i in range(9)]
    table.append({**cats, "latex": 10, "score": 100.0})  # the top 10% is the one latex row
    br = {b["category"]: b for b in category_breakdown(table)}
    assert br["latex"]["window share"] == pytest.approx(0.1)
    assert br["latex"]["top share"] == 1.0 and br["latex"]["ratio"] == pytest.approx(10)
    assert br["prose"]["top share"] == 0.0


def test_scoring_logs_its_progress_without_changing_the_scores(trained_model, micro, micro_data, monkeypatch):
    """A long attribution is not silent: a line when the factors are fitted and one per chunk
    (at most a minute apart; the last always), and logging changes no score."""
    from mda_bench.attribution import score as score_mod

    rows = _rows(micro_data, 24)
    probe = make_probe(micro.model.vocab_size, micro.probe)
    cfg = InfluenceConfig(factor_batch_size=8, score_batch_size=8)
    quiet = influence_scores(trained_model, 1, 0, rows, probe, cfg)
    lines: list[str] = []
    # three chunks of 8 rows (chunk_rows is score()'s first default)
    monkeypatch.setattr(score_mod.HeadInfluence.score, "__defaults__", (8, False, None))
    logged = influence_scores(trained_model, 1, 0, rows, probe, cfg, log=lines.append)
    assert np.array_equal(quiet, logged)
    assert lines[0].startswith("ekfac factors fitted on 24 rows")
    assert lines[-1].startswith("scored 24 of 24 rows")
    assert len(lines) == 2  # the chunks of 8 and 16 rows came within the minute: not logged
