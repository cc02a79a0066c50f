"""Which process of a torchrun group this is, and the few collectives the suite needs.

Under `torchrun --nproc-per-node N mda-bench ...` every rank runs the same command. Training
stages (a baseline, a branch) are collective: every rank trains a slice of each step's rows
(mda_bench/distributed.py) and rank 0 alone writes the store. Every other stage (data,
attribution, ICL) is computed by rank 0 while the others wait for its path. Outside torchrun
(no process group, or a group of one) every function here is a no-op and the suite runs as
one process, bit for bit as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

from .errors import MdaError

# Non-training stages run on rank 0 while the other ranks wait in a broadcast: an attribution
# of a large model takes hours, longer than torch's default collective timeout (10-30 min).
WAIT = timedelta(hours=24)


def world_size() -> int:
    """Processes in the default group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def is_writer() -> bool:
    """Whether this process writes files (the store, reports): rank 0, or the only process."""
    return rank() == 0


def key_part() -> dict:
    """What a training stage's store key gets from the group: nothing for one process (every
    stored run keeps its key), else the world size (a run over N ranks sums its gradient in
    another order: equal to 1e-6, not to the bit)."""
    n = world_size()
    return {} if n == 1 else {"world_size": n}


def check_serial(n_jobs: int, executor: str) -> None:
    """Refuse --jobs N or Ray inside a group: its ranks train each branch together, one at a time."""
    if world_size() > 1 and (n_jobs > 1 or executor != "local"):
        raise MdaError(
            "under torchrun the ranks train each branch together: use --jobs 1 and --executor local"
        )


def init_from_env() -> bool:
    """Join torchrun's group when WORLD_SIZE > 1 in the environment (nccl on CUDA with this
    rank's LOCAL_RANK device, gloo on the CPU); False when not launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=WAIT)
    return True


@contextmanager
def alone() -> Iterator[None]:
    """A library that joins torchrun's group by itself sees none inside this block.

    kronfluence's State enters its own distributed mode whenever LOCAL_RANK is set and CUDA is
    visible; an attribution computed on rank 0 alone (the others waiting in a broadcast) would
    then wait in kronfluence's collectives for ranks that never come. Its state is a singleton
    made on first use, so hiding LOCAL_RANK while the first Analyzer is built keeps it local."""
    hidden = os.environ.pop("LOCAL_RANK", None)
    try:
        yield
    finally:
        if hidden is not None:
            os.environ["LOCAL_RANK"] = hidden


def broadcast(obj):
    """Rank 0's `obj` on every rank (the object itself without a group)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def mean_step_loss(sums: list[torch.Tensor], counts: list[int]) -> float:
    """The mean over steps of each step's mean row loss, from every rank's per-step sums of
    its slice's row losses (one all-reduce) and each step's whole row count."""
    total = torch.stack(sums).double()
    if world_size() > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return float((total.cpu() / torch.tensor(counts, dtype=torch.float64)).mean())
