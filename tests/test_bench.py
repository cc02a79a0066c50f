"""Throughput benchmarks (pytest-benchmark, not timed tests): the training step, EK-FAC factor
fitting and scoring, each at micro and tiny scale; attribution on the split head and on the
whole fused attention layer, at tiny and at Pythia widths; EK-FAC against the `exact` strategy, all in.

Run with `pytest tests/test_bench.py --benchmark-enable`; by default each runs once as a
smoke test so the default test command stays fast.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from mda_bench.attribution.score import HeadInfluence, InfluenceConfig, influence_scores
from mda_bench.heads import make_probe
from mda_bench.model import build_model
from mda_bench.scales import ProbeConfig, get_scale
from mda_bench.train import make_optimizer, row_losses, weighted_loss


@pytest.mark.parametrize("name", ["micro", "tiny"])
def test_train_step_throughput(benchmark, name):
    scale = get_scale(name)
    m, t = scale.model, scale.train
    model = build_model(m, 0)
    opt = make_optimizer(model, t)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, m.vocab_size, (t.batch_size, m.ctx), generator=g)
    weights = torch.ones(t.batch_size)

    def step():
        loss = weighted_loss(row_losses(model, tokens), weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    loss = benchmark(step)
    assert np.isfinite(loss)
    if benchmark.stats is not None:
        tokens_per_s = t.batch_size * m.ctx / benchmark.stats.stats.mean
        benchmark.extra_info["tokens_per_s"] = round(tokens_per_s)


def _attribution_setup(name: str, n_rows: int):
    scale = get_scale(name)
    m = scale.model
    model = build_model(m, 0)
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(1, m.vocab_size, (n_rows, m.ctx), generator=g).numpy()
    probe = make_probe(m.vocab_size, scale.probe)
    return scale, model, rows, probe


@pytest.mark.parametrize("whole_layer", [False, True], ids=["head", "whole-layer"])
@pytest.mark.parametrize("name", ["micro", "tiny"])
def test_factor_fitting(benchmark, name, whole_layer):
    """EK-FAC factors on 256 rows: the split head vs the fused attention layer."""
    scale, model, rows, _ = _attribution_setup(name, 256)
    cfg = InfluenceConfig(whole_layer=whole_layer)
    with HeadInfluence(model, 1, 0, cfg) as hi:
        benchmark.pedantic(hi.fit, args=(rows,), rounds=3 if benchmark.enabled else 1)
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_row"] = round(1e3 * benchmark.stats.stats.mean / len(rows), 3)


@pytest.mark.parametrize(
    "name,whole_layer,n_rows",
    [
        ("micro", False, 256),
        ("micro", True, 256),
        ("tiny", False, 256),
        ("tiny", True, 256),
        # With the 256-row case, the marginal cost of a row, apart from each call's fixed work
        # (loading factors, the probe's query gradients and their preconditioning).
        ("tiny", False, 2048),
    ],
    ids=lambda v: {False: "head", True: "whole-layer"}.get(v, str(v)),
)
def test_scoring(benchmark, name, whole_layer, n_rows):
    """Scoring n_rows rows against the probe once factors exist (fitted on 256 rows)."""
    scale, model, rows, probe = _attribution_setup(name, n_rows)
    with HeadInfluence(model, 1, 0, InfluenceConfig(whole_layer=whole_layer)) as hi:
        hi.fit(rows[:256])
        scores = benchmark.pedantic(hi.score, args=(rows, probe), rounds=3 if benchmark.enabled else 1)
    assert np.isfinite(scores).all() and scores.shape == (n_rows,)
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_row"] = round(1e3 * benchmark.stats.stats.mean / len(rows), 3)


@pytest.mark.parametrize("n_rows", [256, 2048])
@pytest.mark.parametrize("strategy", ["ekfac", "exact"])
def test_attribution_all_in(benchmark, strategy, n_rows):
    """Fit and score n_rows rows at tiny, all in: EK-FAC vs the exact Fisher of the head's QK
    block (4,160 parameters), in one run."""
    scale, model, rows, probe = _attribution_setup("tiny", n_rows)
    cfg = InfluenceConfig(strategy=strategy)
    scores = benchmark.pedantic(
        influence_scores, args=(model, 1, 0, rows, probe, cfg), rounds=3 if benchmark.enabled else 1
    )
    assert np.isfinite(scores).all() and scores.shape == (n_rows,)
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_row"] = round(1e3 * benchmark.stats.stats.mean / len(rows), 3)


@pytest.mark.parametrize("whole_layer", [False, True], ids=["head", "whole-layer"])
@pytest.mark.parametrize("name", ["pythia-14m", "pythia-70m", "pythia-160m"])
def test_attribution_width(benchmark, name, whole_layer):
    """EK-FAC fit + score, all in, at Pythia widths (random weights, 128-token rows, 64 rows):
    the split head's QK block against the whole fused attention layer (Q, K, V and O of every
    head). At `tiny` width the two cost the same; this measures where the split starts to pay.
    Without --benchmark-enable, only pythia-14m's head runs, on 8 short rows, as a smoke test."""
    if not benchmark.enabled and (name != "pythia-14m" or whole_layer):
        pytest.skip("width benchmark: run with --benchmark-enable")
    m = get_scale(name).model
    model = build_model(replace(m, ctx=128), 0)
    n_rows, ctx = (64, 128) if benchmark.enabled else (8, 32)
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(1, m.vocab_size, (n_rows, ctx), generator=g).numpy()
    probe = make_probe(m.vocab_size, ProbeConfig(n_seqs=8, half=ctx // 2))
    cfg = InfluenceConfig(whole_layer=whole_layer, factor_batch_size=16, score_batch_size=16)
    scores = benchmark.pedantic(
        influence_scores, args=(model, 1, 0, rows, probe, cfg), rounds=2 if benchmark.enabled else 1
    )
    assert np.isfinite(scores).all() and scores.shape == (n_rows,)
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_row"] = round(1e3 * benchmark.stats.stats.mean / len(rows), 3)


@pytest.mark.parametrize("size", [256, 1000, 3000, 8000])
def test_classify_speed(benchmark, size):
    """The content classifier on 1,000 real windows of `size` characters (Pythia rows are
    ~8,000): its cost per row against a training row's is in docs/categories.md."""
    from mda_bench.categories import classify
    from mda_bench.category_eval import load_split

    texts = [r["text"] for r in load_split("test") + load_split("dev")]
    windows = [(texts[i % len(texts)] * 3)[:size] for i in range(1000)]
    labels = benchmark(lambda: [classify(t) for t in windows])
    assert len(labels) == 1000
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_1000_rows"] = round(benchmark.stats.stats.mean * 1000, 1)


def test_pythia14m_scoring_to_training_ratio(benchmark):
    """Scoring cost per row over training cost per row at Pythia-14m shapes (random weights,
    128-token rows on the CPU; the GPU check measures context 2,048): both are timed in this
    run, the scoring by pytest-benchmark, a training step (forward, backward, clip, AdamW) as
    the mean of 3 after a warm-up. The ratio is what the per-branch and per-window costs in
    docs/gpu.md scale by. Without --benchmark-enable: 8 rows of 32 tokens, one round."""
    import time

    from mda_bench.device import Runtime
    from mda_bench.train import train_step

    scale = get_scale("pythia-14m")
    n_rows, ctx = (32, 128) if benchmark.enabled else (8, 32)
    m = replace(scale.model, ctx=ctx)
    rows = np.random.default_rng(0).integers(1, m.vocab_size, (n_rows, ctx)).astype(np.int64)
    model = build_model(m, 0)
    opt = make_optimizer(model, scale.train)
    batch = replace(scale.train, batch_size=n_rows)
    w = np.ones(n_rows, np.float32)
    train_step(model, opt, rows, w, batch, Runtime())
    t0 = time.perf_counter()
    for _ in range(3):
        train_step(model, opt, rows, w, batch, Runtime())
    train_row = (time.perf_counter() - t0) / 3 / n_rows
    probe = make_probe(m.vocab_size, ProbeConfig(n_seqs=8, half=ctx // 4))
    cfg = InfluenceConfig(factor_batch_size=16, score_batch_size=16)
    with HeadInfluence(model.eval(), 1, 0, cfg) as hi:
        hi.fit(rows)
        scores = benchmark.pedantic(hi.score, args=(rows, probe), rounds=2 if benchmark.enabled else 1)
    assert np.isfinite(scores).all() and scores.shape == (n_rows,)
    if benchmark.stats is not None:
        score_row = benchmark.stats.stats.mean / n_rows
        benchmark.extra_info["train_ms_per_row"] = round(1e3 * train_row, 3)
        benchmark.extra_info["score_ms_per_row"] = round(1e3 * score_row, 3)
        benchmark.extra_info["score_to_train_ratio"] = round(score_row / train_row, 2)
