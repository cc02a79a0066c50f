"""Deterministic training with per-row loss weights, checkpoints and per-head scores.

Step s trains on stream rows [s*B, (s+1)*B). The batch loss is sum_r w_r * loss_r / B, so
a row whose weight is 0 contributes no gradient while every other row keeps exactly its own
contribution (no renormalisation by the remaining weights). The checkpoint "step s" holds
the weights after s updates, with the optimizer state, so a killed run resumes to the same
final weights as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import ranks
from .checkpoint_io import load_checkpoint, read_records, save_checkpoint, write_eval
from .device import Runtime, deterministic, pinned_threads
from .errors import MdaError
from .heads import icl_and_loss, make_probe, probe_model
from .interventions import Plan
from .model import build_model
from .scales import Scale, TrainConfig
from .stream import TokenStream


def checkpoint_steps(cfg: TrainConfig) -> list[int]:
    """0, 1, 2, 4, ... up to log_until, plus every ckpt_every, plus the last step."""
    steps = {0, cfg.steps}
    p = 1
    while p <= min(cfg.log_until, cfg.steps):
        steps.add(p)
        p *= 2
    steps.update(range(0, cfg.steps + 1, cfg.ckpt_every))
    return sorted(steps)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at the last step (a ratio of 1
    means a constant lr after warmup)."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=1e-8,
    )


def row_losses(model, tokens: torch.Tensor, ce_chunk: int = 0) -> torch.Tensor:
    """Mean next-token loss of each row, [B].

    With `ce_chunk`, the vocabulary projection and cross-entropy run `ce_chunk` positions at a
    time and are recomputed in the backward pass, so a 2,048-token row never holds its
    [ctx, 50k] logits (0.4 GB a row in fp32) at once; equal to the unchunked loss up to rounding.
    """
    if not ce_chunk:
        logits = model(input_ids=tokens).logits
        nll = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none"
        )
        return nll.view(tokens.shape[0], -1).mean(1)
    from torch.utils.checkpoint import checkpoint

    hidden = model.gpt_neox(input_ids=tokens).last_hidden_state[:, :-1]
    targets = tokens[:, 1:]
    head = model.get_output_embeddings()  # `embed_out` in Pythia's checkpoints, `lm_head` here
    total = hidden.new_zeros(tokens.shape[0], dtype=torch.float32)
    for i in range(0, targets.shape[1], ce_chunk):
        h, y = hidden[:, i : i + ce_chunk], targets[:, i : i + ce_chunk]
        total = total + checkpoint(_chunk_nll, head, h, y, use_reentrant=False)
    return total / targets.shape[1]


def _chunk_nll(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed next-token loss of each row over one chunk of positions, [B] (fp32)."""
    logits = head(hidden).float()
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return nll.view(targets.shape).sum(1)


def weighted_loss(losses: torch.Tensor, weights: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """sum_r w_r * loss_r / B: a zero weight drops a row without rescaling the others, and
    an extra (augmented) row beyond the B regular ones adds its share without diluting them."""
    return (losses * weights).sum() / (batch_size or losses.shape[0])


# --------------------------------------------------------------------------- evaluation
def evaluate(model, probe: torch.Tensor, heldout: torch.Tensor) -> dict:
    """Per-head scores (layer x head), copy-target log-prob, held-out loss and ICL score."""
    out = probe_model(model, probe)
    out.update(icl_and_loss(model, heldout))
    return out


# --------------------------------------------------------------------------- training
def train_run(
    scale: Scale,
    stream: TokenStream,
    run_dir: Path,
    init_seed: int = 0,
    weights: np.ndarray | None = None,
    stop_after: int | None = None,
    on_step: Callable[[int, float | None], None] | None = None,
    plan: Plan | None = None,
    branch_from: Path | None = None,
    end_step: int | None = None,
) -> list[dict]:
    """Train (or resume) into run_dir/ckpt; return the score records of every checkpoint and
    every eval-only step (`train.eval_every`), by step.

    `weights` is a per-row loss weight over stream rows (default all ones); `plan` (which
    excludes `weights`) also adds extra rows or reorders rows. `branch_from` starts from a
    baseline checkpoint (weights and optimizer state) instead of the init, and `end_step`
    stops at that step instead of the last: a retraining run through one window.
    `stop_after` stops early after that many steps (to test resumption).

    Under torchrun (mda_bench/ranks.py) every rank calls this with the same arguments and the
    same folder: each trains its slice of every step's rows, rank 0 alone evaluates and writes.
    """
    rt = scale.runtime
    deterministic(rt)
    with pinned_threads(rt):  # a tiny step's weight gradients depend on the thread count
        return _train_loop(
            scale, stream, run_dir, init_seed, weights, stop_after, on_step, plan, branch_from, end_step
        )


def _train_loop(scale, stream, run_dir, init_seed, weights, stop_after, on_step, plan, branch_from, end_step):
    """train_run's body, on the pinned thread count."""
    cfg, rt = scale.train, scale.runtime
    if stream.n_rows < cfg.steps * cfg.batch_size:
        raise MdaError(f"stream has {stream.n_rows} rows, training needs {cfg.steps * cfg.batch_size}")
    if plan is None:
        plan = Plan(stream.n_rows, weights=weights)
    elif weights is not None:
        raise MdaError("give train_run either weights or a plan, not both")
    last = cfg.steps if end_step is None else end_step
    model = build_model(scale.model, init_seed, attention=rt.attention).to(rt.device)
    model.train()
    opt = make_optimizer(model, cfg)  # fp32 master weights and moments at either precision
    probe = make_probe(scale.model.vocab_size, scale.probe).to(rt.device)
    heldout = torch.from_numpy(stream.heldout.astype(np.int64)).to(rt.device)
    ckpt_dir = run_dir / "ckpt"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(checkpoint_steps(cfg)) | {last}

    done = sorted(p for p in ckpt_dir.glob("step-*") if p.is_dir())
    ranks.barrier()  # every rank resumes from the same checkpoint before rank 0 writes one
    writer, ddp = ranks.is_writer(), ranks.world_size() > 1
    step_fn = train_step
    if ddp:
        from .distributed import distributed_train_step as step_fn
    start = 0
    if done:
        start = int(done[-1].name.split("-")[1])
        load_checkpoint(model, opt, done[-1])
    elif branch_from is not None:
        # The branch point's scores are the baseline's: copy them as this run's first record.
        start = int(branch_from.name.split("-")[1])
        rec = load_checkpoint(model, opt, branch_from)
        if writer:
            save_checkpoint(model, opt, start, rec, ckpt_dir)
    elif 0 in wanted and writer:
        save_checkpoint(model, opt, 0, _record(0, evaluate(model, probe, heldout), None), ckpt_dir)

    running: list[torch.Tensor] = []  # per-step mean loss, kept on the device until a checkpoint
    counts: list[int] = []  # under torchrun: each step's row count (running holds slice sums)
    for step in range(start, last):
        if stop_after is not None and step >= stop_after:
            break
        toks, w = plan.tokens(step, cfg.batch_size, stream)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        losses = step_fn(model, opt, toks, w, cfg, rt)
        running.append(losses.sum() if ddp else losses.mean())
        counts.append(len(toks))
        if on_step is not None:
            # a CUDA step reports its loss every SYNC_EVERY steps: reading it waits for the GPU;
            # a rank sees only its slice's rows, so a group reports none
            sync = not ddp and (rt.device == "cpu" or (step + 1) % SYNC_EVERY == 0)
            on_step(step + 1, float(running[-1]) if sync else None)
        full = step + 1 in wanted  # a checkpoint with weights, else maybe an eval-only record
        if full or (cfg.eval_every and (step + 1) % cfg.eval_every == 0):
            if ddp:  # every rank reaches this step together: one all-reduce of the slice sums
                mean_loss = ranks.mean_step_loss(running, counts)
            else:
                mean_loss = float(np.mean([float(x) for x in running]))
            running, counts = [], []
            if not writer:
                continue
            rec = _record(step + 1, evaluate(model, probe, heldout), mean_loss)
            if full:
                save_checkpoint(model, opt, step + 1, rec, ckpt_dir)
            else:  # scores only: a dense curve without a full checkpoint (a resumed run redoes
                # these from its last checkpoint, with the same bits)
                write_eval(ckpt_dir, {**rec, "weights": False})
    ranks.barrier()  # rank 0's last checkpoint is written before any rank reads the records
    return read_records(ckpt_dir)


SYNC_EVERY = 25


def train_step(model, opt, toks: np.ndarray, w: np.ndarray, cfg: TrainConfig, rt: Runtime) -> torch.Tensor:
    """One update on one step's rows; returns every row's loss (detached).

    The rows go through in micro-batches of `rt.micro_batch`: each adds sum_r w_r loss_r / B
    to the gradients, so the accumulated gradient is the whole batch's (exact up to float
    rounding; a zero-weight row still contributes nothing) and extra augmented rows beyond B
    keep their share.
    """
    opt.zero_grad(set_to_none=True)
    losses = accumulate(model, toks, w, cfg, rt)
    apply_update(model, opt, cfg)
    return losses


def accumulate(model, toks: np.ndarray, w: np.ndarray, cfg: TrainConfig, rt: Runtime) -> torch.Tensor:
    """Add these rows' sum_r w_r loss_r / B to the gradients, micro-batch by micro-batch (B is
    the whole step's batch size, so rows split over micro-batches or ranks add up exactly)."""
    tokens, weights = torch.from_numpy(toks.astype(np.int64)), torch.from_numpy(w)
    if rt.device == "cuda":  # pinned, so the copy does not wait for the GPU to finish the last step
        tokens = tokens.pin_memory().to(rt.device, non_blocking=True)
        weights = weights.pin_memory().to(rt.device, non_blocking=True)
    mb = rt.micro_batch or max(1, len(tokens))
    parts = []
    for i in range(0, len(tokens), mb):
        with rt.autocast():
            losses = row_losses(model, tokens[i : i + mb], rt.ce_chunk)
        weighted_loss(losses, weights[i : i + mb], cfg.batch_size).backward()
        parts.append(losses.detach())
    if not parts:
        return torch.zeros(0)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def apply_update(model, opt, cfg: TrainConfig) -> None:
    """Clip the accumulated gradient to cfg.clip and take the AdamW step."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
    opt.step()


def cpu_facts() -> dict:
    """What CPU bits depend on besides seeds (docs/determinism.md), recorded in every run's
    manifest: the thread count (pinned to Runtime.threads while a run trains), the vector-kernel
    level (the CLI pins AVX2 on x86 unless ATEN_CPU_CAPABILITY says otherwise), the CPU's name."""
    capability = torch.backends.cpu.get_cpu_capability()
    return {"torch_threads": torch.get_num_threads(), "cpu_capability": capability, "cpu_model": cpu_model()}


def cpu_model() -> str:
    """The CPU's name (an Intel and an AMD x86 at the same kernel level need not give the same
    bits: the matrix library picks kernels per CPU)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _record(step: int, scores: dict, train_loss: float | None) -> dict:
    return {"step": step, "train_loss": train_loss, **scores}
