"""The attribution stage: locate the unit, score every row of its window, store the table.

Output folder (content-addressed, `runs/attribution/<key>/`): `scores.csv` (row id, step,
influence, loss at the end-of-window checkpoint, dominant category, category token counts),
`scores.npz` (row ids, influences and losses as arrays),
`top.jsonl` / `bottom.jsonl` (the extreme rows with decoded text), `unit.json` (the head and
window with the numbers that chose them) and the manifest with every kronfluence argument.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..categories import CATEGORIES
from ..checkpoint_io import load_checkpoint
from ..device import Runtime, check_threads, facts, pinned_threads
from ..errors import MdaError
from ..heads import locate_unit, make_probe
from ..model import build_model
from ..pipeline import Data, Run
from ..scales import Scale
from ..store import Store, read_json
from ..train import cpu_facts, row_losses
from .score import InfluenceConfig, influence_scores, kronfluence_arguments, plain_args
from .task import UNIT_PROBES

ATTRIBUTION_VERSION = 1


@dataclass(frozen=True)
class Attribution:
    key: str
    path: Path
    unit: dict
    table: list[dict]  # one dict per window row, in row order
    manifest: dict


def default_probe(unit: str) -> str:
    return UNIT_PROBES[unit][0]


def check_probe(unit: str, probe: str) -> None:
    if probe not in UNIT_PROBES[unit]:
        raise MdaError(
            f"probe {probe!r} does not measure unit {unit!r}; choose {', '.join(UNIT_PROBES[unit])}"
        )


def _probe_tokens(scale: Scale, data: Data, kind: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(probe token rows, segment lengths or None): the unit's uniform probe, the frequency-band
    one, or the varied-length one."""
    if kind == "uniform":
        return make_probe(scale.model.vocab_size, scale.probe), None
    if kind == "varied":
        from ..heads import varied_probe

        return varied_probe(scale.model.vocab_size, scale.probe)
    from dataclasses import replace

    from ..heads import band_probe
    from ..probe_curves import stream_token_counts

    band = tuple(scale.probe.band) if tuple(scale.probe.band) != (0.0, 0.0) else (0.25, 0.75)
    counts = stream_token_counts(
        data.stream, scale.train.steps * scale.train.batch_size, scale.model.vocab_size
    )
    return band_probe(counts, replace(scale.probe, band=band)), None


def checkpoint_model(scale: Scale, run: Run, step: int):
    if run.official:
        from ..official import revision_model

        return revision_model(scale, run, step).eval()
    path = run.path / "ckpt" / f"step-{step:06d}"
    if not path.is_dir():
        raise MdaError(f"run {run.path} has no checkpoint at step {step}")
    model = build_model(scale.model, 0, attention=scale.runtime.attention).to(scale.runtime.device)
    load_checkpoint(model, None, path)
    return model.eval()


@torch.no_grad()
def _row_losses(model, rows: np.ndarray, batch: int, rt: Runtime) -> np.ndarray:
    out = []
    for i in range(0, len(rows), batch):
        with rt.autocast():
            chunk = torch.from_numpy(rows[i : i + batch].astype(np.int64)).to(rt.device)
            out.append(row_losses(model, chunk, rt.ce_chunk).float())
    return torch.cat(out).double().cpu().numpy()


class WindowRows:
    """The window's token rows, read from the stream only when sliced.

    Scoring reads SCORE_CHUNK_ROWS rows at a time and factors read their subset, so at
    Pythia's 1.02M-row windows (16.8 GB as int64) only a chunk is ever in memory; the stream
    may be a memory map. Indexing returns what `stream.rows` returns for those ids."""

    def __init__(self, stream, row_ids: np.ndarray):
        self.stream, self.row_ids = stream, np.asarray(row_ids)

    def __len__(self) -> int:
        return len(self.row_ids)

    def __getitem__(self, idx) -> np.ndarray:
        return self.stream.rows(self.row_ids[idx])


def checkpoint_records(run: Run) -> list[dict]:
    """The records that have weights behind them: a window starts and ends on a checkpoint
    (branches load its start, attribution its end), eval-only records just thicken curves."""
    return [r for r in run.records if r.get("weights", True)]


def default_window_start(scale: Scale, run: Run, unit: str) -> int:
    """The scale's rule for where a baseline's window starts (see attribute_stage)."""
    from ..heads import window_start_before_onset

    if scale.window_lead is not None:
        start = window_start_before_onset(checkpoint_records(run), unit, scale.window_lead)
        if start is not None:
            return start
    return scale.window_start


def attribute_stage(
    scale: Scale,
    store: Store,
    data: Data,
    run: Run,
    unit: str = "induction",
    influence: InfluenceConfig | None = None,
    window_start: int | None = None,
    n_extreme: int = 50,
    log=print,
    at_step: int | None = None,
) -> Attribution:
    """Score every training row of the unit's formation window (or load the stored scores).

    The window starts at `window_start`; by default `scale.window_lead` steps before this
    baseline's own onset (heads.window_start_before_onset), else at the scale's `window_start`."""
    influence = influence or InfluenceConfig(probe=default_probe(unit))
    window_start = default_window_start(scale, run, unit) if window_start is None else window_start
    check_probe(unit, influence.probe)
    try:
        influence.validate()
        located = locate_unit(checkpoint_records(run), unit, start=window_start)
    except ValueError as exc:
        raise MdaError(str(exc)) from None
    start, end = located["window"]
    # the checkpoint whose weights score the rows: the window's end unless told (the leaderboard
    # also scores at its start and middle); keyed only when given, so stored keys stay as they were
    steps_with_weights = {r["step"] for r in checkpoint_records(run)}
    if at_step is not None and at_step not in steps_with_weights:
        raise MdaError(f"attribution at step {at_step}: no checkpoint there in {run.path}")
    cfg = {
        "version": ATTRIBUTION_VERSION,
        "train": run.key,
        "unit": unit,
        "window_start": window_start,
        "influence": influence,
        "n_extreme": n_extreme,
        **({"at_step": at_step} if at_step is not None else {}),
        **scale.runtime.key_part(),
    }
    at = end if at_step is None else at_step

    # the fitted factors are sums over the window's tokens, split between threads like a
    # training step's weight gradients: pinned, and recorded in the manifest
    @pinned_threads(scale.runtime)
    def build(part: Path) -> dict:
        B = scale.train.batch_size
        row_ids = np.arange(start * B, end * B)
        rows = WindowRows(data.stream, row_ids)
        model = checkpoint_model(scale, run, at)
        probe, halves = _probe_tokens(scale, data, influence.probe_tokens)
        log(
            f"scoring {len(row_ids):,} rows of steps {start}-{end} on L{located['layer']}H{located['head']} "
            f"({influence.strategy}, probe {influence.probe}) ..."
        )
        t0 = time.time()
        # Off the CPU default the losses come out of the scoring pass (no forward pass of their
        # own); the CPU default keeps the separate pass its committed tables were made with.
        capture = not scale.runtime.is_default and influence.strategy != "exact"
        got = influence_scores(
            model,
            located["layer"],
            located["head"],
            rows,
            probe,
            influence,
            runtime=scale.runtime,
            losses=capture,
            halves=halves,
            log=log,
        )
        scores, losses = got if capture else (got, None)
        seconds = time.time() - t0
        if losses is None:
            losses = _row_losses(model, rows, influence.score_batch_size, scale.runtime)
        table = _table(data, row_ids, B, scores, losses)
        _write_table(part / "scores.csv", table)
        # the same numbers as arrays, for readers of a million-row window
        np.savez(part / "scores.npz", row=row_ids.astype(np.int64), score=scores, loss=losses)
        order = np.argsort(-scores, kind="stable")
        tok = data.tokenizer()
        for name, idx in (("top", order[:n_extreme]), ("bottom", order[::-1][:n_extreme])):
            with open(part / f"{name}.jsonl", "w") as f:
                for i in idx:
                    text = tok.decode(rows[i].tolist(), skip_special_tokens=False)
                    f.write(json.dumps({**table[i], "text": text}) + "\n")
        (part / "unit.json").write_text(json.dumps({**located, "checkpoint": at}, indent=2))
        args = kronfluence_arguments(influence, scale.runtime)
        return {
            "unit": {**located, "checkpoint": at},
            "kronfluence": {k: plain_args(v) for k, v in args.items()},
            "rows": len(row_ids),
            "influence_seconds": round(seconds, 2),
            "corpus_hash": data.corpus_hash,
            **facts(scale.runtime),
            **cpu_facts(),
        }

    done = store.compute("attribution", cfg, build, fresh=True)
    got = load_attribution(done)
    check_threads(scale.runtime, got.manifest, f"attribution {done}")
    return got


def _table(data: Data, row_ids: np.ndarray, B: int, scores: np.ndarray, losses: np.ndarray) -> list[dict]:
    cats = data.stream.row_category_counts(row_ids)
    out = []
    for i, r in enumerate(row_ids):
        counts = {c: int(n) for c, n in zip(CATEGORIES, cats[i])}
        out.append(
            {
                "row": int(r),
                "step": int(r // B),
                "score": float(scores[i]),
                "loss": float(losses[i]),
                "category": CATEGORIES[int(np.argmax(cats[i]))],
                **counts,
            }
        )
    return out


def _write_table(path: Path, table: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        for rec in table:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in rec.items()})


def load_attribution(path: Path) -> Attribution:
    manifest = read_json(path / "manifest.json")
    try:
        with open(path / "scores.csv", newline="") as f:
            table = [
                {
                    k: (v if k == "category" else float(v) if k in ("score", "loss") else int(v))
                    for k, v in rec.items()
                }
                for rec in csv.DictReader(f)
            ]
    except (OSError, ValueError) as exc:
        raise MdaError(f"corrupt attribution table in {path}: {exc}") from exc
    return Attribution(manifest["key"], path, manifest["unit"], table, manifest)


def category_breakdown(table: list[dict], top_frac: float = 0.1) -> list[dict]:
    """Token share of each category in the top `top_frac` rows by influence vs the window."""
    counts = np.array([[rec[c] for c in CATEGORIES] for rec in table], dtype=float)
    scores = np.array([rec["score"] for rec in table])
    n_top = max(1, int(round(top_frac * len(table))))
    top = np.argsort(-scores, kind="stable")[:n_top]
    base = counts.sum(0) / counts.sum()
    share = counts[top].sum(0) / counts[top].sum()
    return [
        {
            "category": c,
            "window share": float(base[i]),
            "top share": float(share[i]),
            "ratio": float(share[i] / base[i]) if base[i] > 0 else float("nan"),
        }
        for i, c in enumerate(CATEGORIES)
    ]
