"""One branch across several processes (torchrun, torch.distributed): a slice of rows per rank.

Each rank holds the whole model and optimizer, takes a contiguous slice of every step's rows,
adds their sum_r w_r loss_r / B (B the global batch) to its gradients, and the gradients are
summed over ranks with one all-reduce; every rank then clips and steps identically. The update
equals the single-process one up to float summation order (tested on CPU with gloo, world size
2, to 1e-6), so a 160M branch can use 8 GPUs. Launch with `torchrun --nproc-per-node N`;
`init()` reads the usual RANK / WORLD_SIZE / MASTER_ADDR variables.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from .device import Runtime
from .scales import TrainConfig
from .train import accumulate, apply_update


def init(backend: str | None = None) -> tuple[int, int]:
    """(rank, world size), initialising the default process group from torchrun's environment
    (nccl on CUDA, gloo on the CPU) if it is not yet."""
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return dist.get_rank(), dist.get_world_size()


def rank_rows(n: int, rank: int, world: int) -> slice:
    """The contiguous slice of a step's n rows that `rank` trains (sizes differ by at most 1)."""
    bounds = np.linspace(0, n, world + 1).round().astype(int)
    return slice(int(bounds[rank]), int(bounds[rank + 1]))


def distributed_train_step(
    model, opt, toks: np.ndarray, w: np.ndarray, cfg: TrainConfig, rt: Runtime
) -> torch.Tensor:
    """train.train_step over the ranks of the default group; returns this rank's row losses."""
    rank, world = dist.get_rank(), dist.get_world_size()
    part = rank_rows(len(toks), rank, world)
    opt.zero_grad(set_to_none=False)
    for p in model.parameters():  # every rank must all-reduce every gradient, even an empty slice's
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    losses = accumulate(model, toks[part], w[part], cfg, rt)
    flat = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)  # one collective for the whole model
    offset = 0
    for p in model.parameters():
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))
        offset += n
    apply_update(model, opt, cfg)
    return losses
