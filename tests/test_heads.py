import numpy as np
import pytest
import torch

from mda_bench.heads import (
    icl_positions,
    make_probe,
    prefix_matching_score,
    previous_token_score,
    probe_model,
    uniform_prefix_score,
)
from mda_bench.model import build_model
from mda_bench.scales import ModelConfig, ProbeConfig


def causal_uniform(n: int) -> torch.Tensor:
    return torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1).unsqueeze(1)


def test_perfect_induction_pattern_scores_one():
    half = 6
    attn = torch.zeros(2 * half, 2 * half)
    attn[0, 0] = 1
    for i in range(1, 2 * half):
        attn[i, i - half + 1 if i >= half else i - 1] = 1  # induction in copy 2, prev before
    assert prefix_matching_score(attn, half).item() == pytest.approx(1.0)
    # The same pattern is a previous-token head only on the first copy.
    assert previous_token_score(attn).item() == pytest.approx((half - 1) / (2 * half - 1))


def test_uniform_pattern_scores_its_known_value():
    half = 5
    expected = np.mean([1 / (i + 1) for i in range(half, 2 * half)])
    got = prefix_matching_score(causal_uniform(2 * half), half).item()
    assert got == pytest.approx(expected)
    assert uniform_prefix_score(half) == pytest.approx(expected)
    prev = np.mean([1 / (i + 1) for i in range(1, 2 * half)])
    assert previous_token_score(causal_uniform(2 * half)).item() == pytest.approx(prev)


def test_perfect_previous_token_pattern_scores_one():
    n = 10
    attn = torch.zeros(n, n)
    attn[0, 0] = 1
    attn[torch.arange(1, n), torch.arange(0, n - 1)] = 1
    assert previous_token_score(attn).item() == pytest.approx(1.0)
    assert prefix_matching_score(attn, n // 2).item() == pytest.approx(0.0)


def test_probe_is_a_repeat_without_special_tokens():
    p = make_probe(300, ProbeConfig(n_seqs=4, half=7, seed=3))
    assert p.shape == (4, 14)
    assert torch.equal(p[:, :7], p[:, 7:])
    assert int(p.min()) >= 1  # id 0 is <|endoftext|>
    assert torch.equal(p, make_probe(300, ProbeConfig(n_seqs=4, half=7, seed=3)))


def test_probe_model_returns_layer_by_head_matrices():
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, ctx=32, vocab_size=300)
    out = probe_model(build_model(cfg, 0), make_probe(300, ProbeConfig(n_seqs=3, half=8)))
    assert out["induction"].shape == (2, 4) and out["previous-token"].shape == (2, 4)
    assert ((out["induction"] >= 0) & (out["induction"] <= 1)).all()
    # An untrained model attends nearly uniformly: close to the uniform value.
    assert abs(out["induction"].mean() - uniform_prefix_score(8)) < 0.02
    assert out["copy_logprob"] < 0


def test_icl_positions_scale_with_context():
    assert icl_positions(512)[:2] == (50, 500)
    early, late, band = icl_positions(128)
    assert (early, late) == (12, 125) and band == 2


def _records(onset_step: int, steps=range(0, 1001, 50)) -> list[dict]:
    """Layer-1 head 0 rises from 0.05 to 0.85 linearly over 200 steps centred on onset_step."""
    out = []
    for s in steps:
        y = 0.05 + 0.8 * min(1.0, max(0.0, (s - onset_step + 100) / 200))
        out.append({"step": s, "induction": [[0.0, 0.0], [y, 0.01]]})
    return out


def test_window_start_before_onset_follows_each_baseline():
    from mda_bench.heads import locate_unit, window_start_before_onset

    # onset (half of 0.85) at step ~597: 300 steps before -> the last checkpoint <= 297
    assert window_start_before_onset(_records(600), "induction", 300) == 250
    assert window_start_before_onset(_records(800), "induction", 300) == 450
    assert window_start_before_onset(_records(600), "induction", 5000) == 0  # clipped to the first
    flat = [{"step": s, "induction": [[0.0, 0.0], [0.05, 0.01]]} for s in range(0, 501, 50)]
    assert window_start_before_onset(flat, "induction", 100) is None or locate_unit(flat)["rose"] is False
    # a window starting after the head formed is not a formation window
    assert locate_unit(_records(600), start=250)["rose"] is True
    assert locate_unit(_records(600), start=700)["rose"] is False


def test_icl_window_steps_follow_the_checkpoints():
    """A window may start on a power-of-two checkpoint off the ckpt_every grid (smoke: 512)."""
    from types import SimpleNamespace

    from mda_bench.icl_eval import window_steps
    from mda_bench.interventions import Window

    steps = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, *range(550, 1501, 50)]
    exp = SimpleNamespace(
        baseline=SimpleNamespace(records=[{"step": s} for s in steps]), window=Window(512, 900, 32)
    )
    assert window_steps(exp, 100) == [512, 650, 750, 850, 900]
    exp.window = Window(2250, 3000, 64)
    exp.baseline.records = [{"step": s} for s in range(0, 4501, 50)]
    assert window_steps(exp, 100) == [2250, 2350, 2450, 2550, 2650, 2750, 2850, 2950, 3000]


def test_the_varied_probe_repeats_a_segment_of_each_sequences_own_length():
    from mda_bench.heads import varied_probe

    tokens, halves = varied_probe(300, ProbeConfig(n_seqs=16, half=12, seed=5))
    assert tokens.shape == (16, 24) and halves.shape == (16,)
    assert int(halves.min()) >= 3 and int(halves.max()) <= 12 and len(set(halves.tolist())) > 3
    for row, h in zip(tokens.tolist(), halves.tolist()):
        assert row[24 - h :] == row[24 - 2 * h : 24 - h]
    again, same = varied_probe(300, ProbeConfig(n_seqs=16, half=12, seed=5))
    assert torch.equal(tokens, again) and torch.equal(halves, same)


def test_varied_scores_on_hand_built_patterns():
    from mda_bench.heads import copy_logprob_varied, prefix_matching_varied

    halves, length = torch.tensor([2, 4]), 8
    attn = torch.zeros(2, length, length)
    for i, h in enumerate(halves.tolist()):
        for q in range(length - h, length):
            attn[i, q, q - h + 1] = 1.0  # a perfect induction head
    assert prefix_matching_varied(attn, halves).tolist() == [1.0, 1.0]
    # equal to the fixed-length score when every segment is half the row
    full = torch.full((2,), length // 2)
    rand = torch.softmax(torch.randn(2, length, length), -1)
    assert torch.allclose(prefix_matching_varied(rand, full), prefix_matching_score(rand, length // 2))
    # copy log-prob: logits that put all mass on the copy target give 0 at every copy position
    probe = torch.tensor([[5, 6, 7, 8, 9, 9, 7, 7], [1, 2, 3, 4, 1, 2, 3, 4]])
    logits = torch.full((2, length, 20), -1e4)
    logits[:, :-1].scatter_(-1, probe[:, 1:].unsqueeze(-1), 0.0)
    assert torch.allclose(copy_logprob_varied(logits, probe, halves), torch.zeros(2), atol=1e-4)


def test_a_baseline_whose_head_never_rose_gets_no_lead_window():
    """Seed 1 of tiny-natural's first recipe: the top layer-1 head ended at 0.017 (from 0.028), and
    the lead rule once placed its window at step 0 (a 144,000-row attribution)."""
    from mda_bench.heads import window_start_before_onset

    def rec(step, score):
        return {"step": step, "induction": [[0.0, 0.0], [score, 0.001]]}

    flat = [rec(s, v) for s, v in ((0, 0.028), (1000, 0.013), (5000, 0.015), (9000, 0.017))]
    assert window_start_before_onset(flat, "induction", 1000) is None
    rising = [rec(s, v) for s, v in ((0, 0.02), (1000, 0.02), (3000, 0.02), (4000, 0.2), (5000, 0.4))]
    assert window_start_before_onset(rising, "induction", 1000) == 3000  # onset 4,000 minus the lead
