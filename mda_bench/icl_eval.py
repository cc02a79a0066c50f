"""ICL strength on many held-out rows at fixed checkpoints, computed after training.

The ICL score each checkpoint records during training uses the stream's 64 held-out rows:
reorder runs of one window differ by up to 0.2 nats on it, as much as the effects. Here the
score is recomputed from the stored checkpoints on `n_rows` natural-text rows (no injected
repeat rows) from the stream's steps after the branch horizon: rows no run has trained on at
any checkpoint read (every checkpoint is at or before the horizon). Each run's curve is a
store stage of its own, so rereading a report costs nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .checkpoint_io import load_checkpoint
from .heads import icl_and_loss, icl_positions
from .model import build_model

ICL_EVAL_VERSION = 1


MIN_ROWS = 64  # fewer natural rows after the horizon than this: the stream's held-out rows


def icl_rows(exp, n_rows: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """(token rows, what they are): up to `n_rows` natural rows drawn (seeded) from the stream
    after the horizon; the stream's own held-out rows where fewer than MIN_ROWS are left there
    (a run whose horizon is its last step, as at `micro`)."""
    stream, B = exp.data.stream, exp.scale.train.batch_size
    later = np.arange(exp.horizon * B, min(stream.n_rows, exp.scale.train.steps * B))
    natural = later[~stream.is_repeat_row(later)]
    if len(natural) < MIN_ROWS:
        return (
            stream.heldout,
            f"the stream's {len(stream.heldout)} held-out rows (no natural rows after the horizon)",
        )
    take = np.sort(
        np.random.default_rng([seed, 31]).choice(natural, size=min(n_rows, len(natural)), replace=False)
    )
    what = (
        f"{len(take):,} natural-text rows of stream steps {exp.horizon:,}-{exp.scale.train.steps:,} "
        "(after the horizon: untrained at every checkpoint read)"
    )
    return stream.rows(take), what


def describe(exp, n_rows: int) -> str:
    """The text and positions used, for the report."""
    early, late, band = icl_positions(exp.scale.model.ctx)
    return (
        f"ICL strength = loss at tokens {max(0, early - 1 - band)}-{early + band - 1} minus loss at tokens "
        f"{late - 1 - band}-{late + band - 1} (predicted positions, ctx {exp.scale.model.ctx}) on "
        f"{icl_rows(exp, n_rows)[1]}, recomputed from the stored checkpoints"
    )


def icl_curve(exp, run_path: Path, steps: list[int], rows: np.ndarray) -> list[float]:
    """ICL strength (early minus late loss; higher = more ICL) at `steps` of a stored run, on
    the token `rows` of `icl_rows` (drawn once per baseline by the caller)."""
    rt = exp.scale.runtime
    cfg = {
        "version": ICL_EVAL_VERSION,
        "run": run_path.name,
        "stage": run_path.parent.name,
        "steps": list(steps),
        "rows": hashlib.sha256(rows.astype(np.int64).tobytes()).hexdigest()[:16],
        **rt.key_part(),
    }

    def build(part: Path) -> dict:
        tokens = torch.from_numpy(rows.astype(np.int64)).to(rt.device)
        model = build_model(exp.scale.model, 0, attention=rt.attention).to(rt.device)
        out = []
        official = exp.baseline.official and run_path == exp.baseline.path
        for s in steps:
            if official:  # the official baseline's weights are its revisions
                from .official import revision_model

                model = revision_model(exp.scale, exp.baseline, s)
            else:
                load_checkpoint(model, None, run_path / "ckpt" / f"step-{s:06d}")
            chunks = tokens.split(256)
            parts = [icl_and_loss(model, chunk)["icl_score"] for chunk in chunks]
            out.append(-float(np.average(parts, weights=[len(c) for c in chunks])))
        return {"strength": out}

    from .store import read_json

    done = exp.store.compute("icl", cfg, build)
    return read_json(done / "manifest.json")["strength"]


def window_steps(exp, every: int) -> list[int]:
    """Checkpoint steps of the baseline from the window's start to its end, at least `every`
    steps apart, both ends included (a window may start on a power-of-two checkpoint, off the
    regular `ckpt_every` grid)."""
    steps = sorted(
        r["step"]
        for r in exp.baseline.records
        if exp.window.start <= r["step"] <= exp.window.end and r.get("weights", True)  # not eval-only
    )
    keep = steps[:1]
    for s in steps[1:]:
        if s - keep[-1] >= every:
            keep.append(s)
    if steps and keep[-1] != steps[-1]:
        keep.append(steps[-1])
    return keep
