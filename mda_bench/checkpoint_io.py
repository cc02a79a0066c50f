"""A run's files: checkpoints (weights, AdamW state, scores) and eval-only score records.

`ckpt/step-NNNNNN/` holds `model.safetensors`, `optim.safetensors` and `scores.json`, written
into a temporary folder renamed into place, so a killed run never leaves a half checkpoint;
`ckpt/eval-NNNNNN.json` holds the scores of a step scored without saving weights
(`train.eval_every`). Tensors are written from the CPU and loaded onto the model's device.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import MdaError


def _save_optimizer(opt: torch.optim.AdamW, names: dict, path: Path) -> None:
    flat = {}
    for p, st in opt.state.items():
        for k, v in st.items():
            v = v.detach().cpu()
            flat[f"{names[p]}::{k}"] = v.clone().reshape(-1) if v.ndim == 0 else v
    save_file(flat, str(path))


def _load_optimizer(opt: torch.optim.AdamW, params: dict, path: Path) -> None:
    flat = load_file(str(path))
    for key, v in flat.items():
        name, k = key.split("::")
        p = params[name]
        # AdamW keeps its step count on the CPU unless it runs capturable/fused
        opt.state[p][k] = v.reshape(()) if k == "step" else v.to(p.device)


def save_checkpoint(model, opt, step: int, scores: dict, ckpt_dir: Path) -> None:
    """Write step-NNNNNN atomically: a temp folder renamed into place when complete."""
    final = ckpt_dir / f"step-{step:06d}"
    tmp = ckpt_dir / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / "model.safetensors"))
        names = {p: n for n, p in model.named_parameters()}
        _save_optimizer(opt, names, tmp / "optim.safetensors")
    except SafetensorError as exc:  # a full disk arrives as safetensors' own error type
        raise OSError(f"cannot write checkpoint {tmp}: {exc}") from exc
    (tmp / "scores.json").write_text(_dumps(scores))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def load_checkpoint(model, opt, path: Path) -> dict:
    try:
        device = next(model.parameters()).device
        model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
        if opt is not None:
            _load_optimizer(opt, dict(model.named_parameters()), path / "optim.safetensors")
        return json.loads((path / "scores.json").read_text())
    except Exception as exc:
        raise MdaError(f"corrupt checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def _dumps(obj) -> str:
    def conv(o):
        if isinstance(o, np.ndarray):
            return o.round(6).tolist()
        raise TypeError(type(o))

    return json.dumps(obj, default=conv, sort_keys=True)


def write_eval(ckpt_dir: Path, rec: dict) -> None:
    path = ckpt_dir / f"eval-{rec['step']:06d}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(_dumps(rec))
    tmp.replace(path)


def read_records(ckpt_dir: Path) -> list[dict]:
    """Every checkpoint's scores and every eval-only record (marked `weights: False`), by step."""
    recs = []
    for p in [*ckpt_dir.glob("step-*"), *ckpt_dir.glob("eval-*.json")]:
        f = p / "scores.json" if p.is_dir() else p
        try:
            recs.append(json.loads(f.read_text()))
        except Exception as exc:
            raise MdaError(f"corrupt checkpoint scores {p}: {exc}") from exc
    return sorted(recs, key=lambda r: r["step"])
