"""One branch over two processes (gloo on the CPU) makes the single-process update."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import torch_threads

from mda_bench.device import Runtime
from mda_bench.distributed import distributed_train_step, rank_rows
from mda_bench.model import build_model
from mda_bench.scales import ModelConfig, TrainConfig
from mda_bench.train import make_optimizer, train_step

SIZE = ModelConfig(n_layers=2, d_model=32, n_heads=2, ctx=16, vocab_size=300)
CFG = TrainConfig(steps=3, batch_size=8, lr=3e-3, warmup=1)


def _batches():
    """Three steps of 8 rows; step 1 drops two rows (weight 0), step 2 has two extra rows."""
    rng = np.random.default_rng(0)
    out = []
    for step, n in enumerate((8, 8, 10)):
        toks = rng.integers(1, SIZE.vocab_size, (n, SIZE.ctx + 1))
        w = np.ones(n, np.float32)
        if step == 1:
            w[[2, 5]] = 0
        out.append((toks, w))
    return out


def _train(step_fn) -> list[dict]:
    """The weights after each step."""
    torch.manual_seed(0)
    model = build_model(SIZE, 3)
    opt = make_optimizer(model, CFG)
    out = []
    for toks, w in _batches():
        step_fn(model, opt, toks, w, CFG, Runtime())
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        state.update({f"grad:{n}": p.grad.detach().clone() for n, p in model.named_parameters()})
        out.append(state)
    return out


def _rank(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    state = _train(distributed_train_step)
    if rank == 0:
        torch.save(state, out)
    dist.barrier()  # both ranks leave together: a rank exiting mid-teardown aborted gloo (SIGABRT)
    dist.destroy_process_group()


def test_rank_rows_cover_the_step_exactly_once():
    for n, world in ((8, 2), (10, 3), (3, 4)):
        got = [rank_rows(n, r, world) for r in range(world)]
        assert sum((s.stop - s.start for s in got), 0) == n
        assert [s.start for s in got[1:]] == [s.stop for s in got[:-1]]


@pytest.fixture
def one_thread():
    """One torch thread for the comparison (conftest.torch_threads restores the suite's 2)."""
    with torch_threads(1):
        yield


@pytest.mark.parametrize("world", [2])
def test_two_ranks_equal_one_process(tmp_path, world, one_thread):
    single = _train(train_step)
    out = tmp_path / "rank0.pt"
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_rank, args=(world, str(tmp_path / "init"), str(out)), nprocs=world, join=True)
    ranked = torch.load(out)
    grads = [
        max(float((a[k] - b[k]).abs().max()) for k in a if k.startswith("grad:"))
        for a, b in zip(single, ranked)
    ]
    weights = [
        max(float((a[k] - b[k]).abs().max()) for k in a if not k.startswith("grad:"))
        for a, b in zip(single, ranked)
    ]
    # the (clipped) gradient of every update equal to 1e-6, a zero-weight step and an extra-rows
    # step included; AdamW's first steps, g / (|g| + eps), amplify summation-order rounding in
    # near-zero gradients, so the weights agree to 1e-5
    assert max(grads) < 1e-6 and max(weights) < 1e-5, (grads, weights)
    init = build_model(SIZE, 3).state_dict()
    assert max(float((single[-1][k] - init[k]).abs().max()) for k in init) > 1e-3  # it trained
