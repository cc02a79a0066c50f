"""Rebuilding AdamW's moments at a checkpoint that has weights only (Pythia's published ones)."""

import numpy as np
import pytest
import torch

from mda_bench.branch_state import moment_agreement, rebuild_adam_state
from mda_bench.checkpoint_io import load_checkpoint
from mda_bench.device import Runtime
from mda_bench.errors import MdaError
from mda_bench.model import build_model
from mda_bench.pipeline import train_stage
from mda_bench.store import Store
from mda_bench.train import lr_at, make_optimizer, train_step

BRANCH = 30  # a micro checkpoint; the branch trains steps 30-39


@pytest.fixture(scope="module")
def baseline(micro, micro_data, tmp_path_factory):
    return train_stage(micro, Store(tmp_path_factory.mktemp("bs")), micro_data, progress=False)


def _start(micro, baseline, state: str, micro_data, k: int = 20):
    """Model and optimizer at the branch point with the true, a rebuilt or a fresh state."""
    model = build_model(micro.model, 0)
    opt = make_optimizer(model, micro.train)
    ckpt = baseline.path / "ckpt" / f"step-{BRANCH:06d}"
    load_checkpoint(model, opt if state == "true" else None, ckpt)
    if state == "rebuilt":
        rebuild_adam_state(model, opt, micro_data.stream, BRANCH, k, micro.train)
    return model, opt


def _branch(micro, micro_data, model, opt, order_seed: int | None = None) -> torch.Tensor:
    """Train steps 30-39 in the baseline's order (or its rows reordered with a seed)."""
    rows = np.arange(BRANCH * 8, micro.train.steps * 8)
    if order_seed is not None:
        rows = np.random.default_rng(order_seed).permutation(rows)
    for s in range(BRANCH, micro.train.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(s, micro.train)
        toks = micro_data.stream.rows(rows[(s - BRANCH) * 8 : (s - BRANCH + 1) * 8])
        train_step(model, opt, toks, np.ones(8, np.float32), micro.train, Runtime())
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_rebuilt_moments_track_the_true_ones_and_drift_less_than_fresh_ones(micro, micro_data, baseline):
    true_m, true_o = _start(micro, baseline, "true", micro_data)
    reb_m, reb_o = _start(micro, baseline, "rebuilt", micro_data)
    names = {p: n for n, p in true_m.named_parameters()}
    names.update({p: n for n, p in reb_m.named_parameters()})
    agree = moment_agreement(reb_o, true_o, names)
    # measured here: Pearson 0.61, norm ratio 1.00 (docs/pythia.md)
    assert agree["pearson"] > 0 and 0.5 < agree["norm_ratio"] < 2
    assert all(float(st["step"]) == BRANCH for st in reb_o.state.values())
    fresh_m, fresh_o = _start(micro, baseline, "fresh", micro_data)
    w_true = _branch(micro, micro_data, true_m, true_o)
    w_reb = _branch(micro, micro_data, reb_m, reb_o)
    w_fresh = _branch(micro, micro_data, fresh_m, fresh_o)
    noise = []
    for seed in range(3):  # the reorder noise: the true state, the window's rows in another order
        m, o = _start(micro, baseline, "true", micro_data)
        noise.append(float((_branch(micro, micro_data, m, o, order_seed=seed) - w_true).norm()))
    # fresh moments (step count 0) drift further from the true branch than rebuilt ones
    # (measured: 0.35 vs 0.17). The rebuilt branch is not within the reorder noise at micro
    # (0.08-0.10): K = 20 leaves the zero start 36% of the weight; docs/pythia.md.
    d_reb, d_fresh = float((w_reb - w_true).norm()), float((w_fresh - w_true).norm())
    assert d_reb < d_fresh and min(noise) > 0


def test_rebuild_refuses_bad_input(micro, micro_data, baseline):
    model, opt = _start(micro, baseline, "true", micro_data)
    with pytest.raises(MdaError, match="fresh optimizer"):
        rebuild_adam_state(model, opt, micro_data.stream, BRANCH, 5, micro.train)
    model, opt = _start(micro, baseline, "fresh", micro_data)
    with pytest.raises(MdaError, match="K ="):
        rebuild_adam_state(model, opt, micro_data.stream, BRANCH, BRANCH + 1, micro.train)
    assert rebuild_adam_state(model, opt, micro_data.stream, BRANCH, 4, micro.train)["rebuild_batches"] == 4
