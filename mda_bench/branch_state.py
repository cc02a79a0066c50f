"""The optimizer state a branch starts from when only weights were published.

Pythia publishes weights at every checkpoint but no AdamW moments, and a branch that starts
with fresh moments (zeros, step count 0) takes bias-corrected first steps many times larger
than the original run's: it drifts away before any intervention could show. Two protocols:

- `own-baseline`: train the baseline with the suite's own code from step 0 in the model's data
  order; every checkpoint then holds the true state (what the engine does at every CPU scale).
- `rebuild`: from the checkpoint's weights, run the K batches that precede the branch step in
  the data order through the optimizer at learning rate 0 (the gradients are clipped as in
  training; lr 0 moves no weight, weight decay included, since AdamW multiplies it by lr), then
  set the step count to the branch step so bias correction and the schedule continue. The
  moments are then averages of gradients at the branch point's weights rather than along the
  path that led there; with beta2 = 0.95 and K = 100 the zero start weighs 0.95^100 = 0.6%.
"""

from __future__ import annotations

import numpy as np
import torch

from .device import Runtime
from .errors import MdaError
from .interventions import Plan
from .scales import TrainConfig
from .train import train_step

PROTOCOLS = ("own-baseline", "rebuild")


def rebuild_adam_state(
    model,
    opt: torch.optim.AdamW,
    stream,
    step: int,
    k: int,
    cfg: TrainConfig,
    runtime: Runtime | None = None,
) -> dict:
    """Fill `opt`'s moments from the `k` batches before `step` at lr 0; returns what the
    manifest records. `model` holds the checkpoint's weights; `opt` must be fresh."""
    rt = runtime or Runtime()
    if opt.state:
        raise MdaError("rebuild_adam_state wants a fresh optimizer (its moments would be mixed in)")
    if not 1 <= k <= step:
        raise MdaError(f"rebuilding the optimizer state at step {step} needs 1 <= K <= {step}, got K = {k}")
    plan = Plan(stream.n_rows)
    lrs = [g["lr"] for g in opt.param_groups]
    for g in opt.param_groups:
        g["lr"] = 0.0
    before = [p.detach().clone() for p in model.parameters()]
    try:
        for s in range(step - k, step):
            toks, w = plan.tokens(s, cfg.batch_size, stream)
            train_step(model, opt, toks, w, cfg, rt)
    finally:
        for g, lr in zip(opt.param_groups, lrs):
            g["lr"] = lr
    moved = max(float((p.detach() - b).abs().max()) for p, b in zip(model.parameters(), before))
    if moved != 0.0:  # lr 0 must not move a weight; anything else is a bug, not rounding
        raise MdaError(f"rebuilding the optimizer state moved a weight by {moved:g}")
    for st in opt.state.values():
        st["step"] = torch.tensor(float(step), dtype=st["step"].dtype)
    return {"optimizer_state": "rebuild", "rebuild_batches": k, "rebuild_from_step": step - k}


def moment_agreement(
    a: torch.optim.AdamW, b: torch.optim.AdamW, names: dict, key: str = "exp_avg_sq"
) -> dict:
    """Pearson correlation of one moment between two optimizers over all parameters, and the
    ratio of their norms (a rebuilt state against the true one, in tests and the docs)."""
    pa = {names[p]: st[key].flatten() for p, st in a.state.items()}
    pb = {names[p]: st[key].flatten() for p, st in b.state.items()}
    if pa.keys() != pb.keys():
        raise MdaError("the two optimizers hold state for different parameters")
    x = torch.cat([pa[n] for n in sorted(pa)]).double().cpu().numpy()
    y = torch.cat([pb[n] for n in sorted(pb)]).double().cpu().numpy()
    return {
        "pearson": float(np.corrcoef(x, y)[0, 1]),
        "norm_ratio": float(np.linalg.norm(x) / np.linalg.norm(y)),
    }
