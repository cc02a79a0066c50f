"""The `exact` strategy: influence through the full damped Fisher of the tracked parameters.

The per-head split makes this affordable at small scales: one head's QK block has
2·d_head·(d_model+1) parameters (1,056 at `micro`, 4,160 at `tiny`, 8,256 for Pythia-14m's
heads), so its Fisher fits in memory and is inverted exactly, with no Kronecker factoring
and no eigenbasis. It is the reference EK-FAC is measured against (README, attribution),
and a strategy users can attribute with when the head is small enough.

Per-row gradients come from one batched backward pass: for a Linear, the gradient of a row's
summed loss is sum_t g_t a_t^T (output gradient times input, over the row's tokens), so hooks
on the tracked Linears give every row's gradient without a per-row loop.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import MdaError
from .task import HeadTask

# float64 Fisher of at most this many parameters (2 GiB at 16,384): beyond it use `ekfac`
MAX_EXACT_PARAMS = 16_384


class RowGradients:
    """Per-row gradients of the summed next-token loss w.r.t. the tracked Linears' (W | b).

    Parameters are flattened module by module, weight (row-major) then bias, the same order
    as `query_gradient`.
    """

    def __init__(self, model: nn.Module, task: HeadTask):
        named = dict(model.named_modules())
        self.modules = [named[n] for n in task.get_influence_tracked_modules()]
        if not all(isinstance(m, nn.Linear) for m in self.modules):
            raise MdaError("the exact strategy needs every tracked module to be an nn.Linear")
        self.model, self.task = model, task
        self.n_params = sum(p.numel() for m in self.modules for p in _params(m))

    def __call__(self, rows: np.ndarray, sample: bool = False) -> torch.Tensor:
        """float64 [len(rows), n_params]; `sample` draws labels from the model (global RNG)."""
        grads: dict[int, torch.Tensor] = {}

        def capture(i: int):
            def hook(mod, inputs, out):
                a = inputs[0].detach()

                def on_grad(g):
                    w = torch.einsum("bto,bti->boi", g, a).flatten(1)
                    grads[i] = torch.cat([w, g.sum(1)], 1) if mod.bias is not None else w

                out.register_hook(on_grad)

            return hook

        handles = [m.register_forward_hook(capture(i)) for i, m in enumerate(self.modules)]
        try:
            batch = {"input_ids": torch.as_tensor(rows, dtype=torch.long)}
            loss = self.task.compute_train_loss(batch, self.model, sample=sample)
            # only the hooks' output gradients are wanted: no parameter .grad is written
            torch.autograd.backward(loss, inputs=[m.weight for m in self.modules])
        finally:
            for h in handles:
                h.remove()
        return torch.cat([grads[i] for i in range(len(self.modules))], 1).double()


def _params(m: nn.Linear) -> list[torch.Tensor]:
    return [m.weight] if m.bias is None else [m.weight, m.bias]


def query_gradient(model: nn.Module, task: HeadTask, probe: torch.Tensor) -> torch.Tensor:
    """Gradient of the *mean* probe (not the negated measurement) w.r.t. the tracked params."""
    named = dict(model.named_modules())
    params = [p for n in task.get_influence_tracked_modules() for p in _params(named[n])]
    value = -task.compute_measurement({"input_ids": probe}, model) / probe.shape[0]
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(value, params)]).double()


def exact_scores(
    model: nn.Module,
    task: HeadTask,
    rows: np.ndarray,
    fit_rows: np.ndarray,
    probe: torch.Tensor,
    cfg,
    progress: bool = False,
) -> np.ndarray:
    """Influence of each row on the mean probe: -g_row . (F + damping I)^-1 g_probe.

    F is the Fisher of the tracked parameters over `fit_rows` (empirical, or with labels
    sampled from the model under `cfg.fisher_seed`); damping defaults to kronfluence's
    heuristic, 0.1 x the mean eigenvalue (trace / n_params). Positive = raises the probe.
    """
    grads = RowGradients(model, task)
    p = grads.n_params
    if p > MAX_EXACT_PARAMS:
        raise MdaError(
            f"the exact Fisher of {p:,} parameters needs {p * p * 8 / 2**30:.1f} GiB "
            f"(limit {MAX_EXACT_PARAMS:,} parameters); use --strategy ekfac"
        )
    torch.manual_seed(cfg.fisher_seed)  # sampled Fisher labels, as in the kronfluence path
    fisher = torch.zeros(p, p, dtype=torch.float64)
    fit_batches = range(0, len(fit_rows), cfg.factor_batch_size)
    for i in tqdm(fit_batches, desc=f"exact Fisher ({p:,} params)", disable=not progress, leave=False):
        g = grads(fit_rows[i : i + cfg.factor_batch_size], sample=not cfg.empirical_fisher)
        fisher.addmm_(g.T, g)
    fisher /= len(fit_rows)
    damping = 0.1 * float(torch.trace(fisher)) / p if cfg.damping is None else cfg.damping
    fisher.diagonal().add_(damping)
    # (F + damping I)^-1 g_probe once; each row's score is then one dot product
    direction = torch.cholesky_solve(
        query_gradient(model, task, probe)[:, None], torch.linalg.cholesky(fisher)
    )
    # Written into one preallocated array: many small retained per-batch tensors interleaved with
    # the large freed ones fragment the heap, and the process then grows with the window.
    out = np.empty(len(rows), dtype=np.float64)
    B = cfg.score_batch_size
    for i in tqdm(range(0, len(rows), B), desc="scoring", disable=not progress, leave=False):
        out[i : i + B] = -(grads(rows[i : i + B]) @ direction).squeeze(1)
    return out
