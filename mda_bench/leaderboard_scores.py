"""The leaderboard's strategies: every attribution's and heuristic's score of each window row.

kronfluence's methods at the window's end (as the claims attribute), EK-FAC also at other
checkpoints and with other probes of the same head, another library's TracIn
(baselines/dattri_tracin.py) and the model-free heuristics (baselines/heuristics.py), each as
{rows, scores, seconds_per_1k} over the window's rows sorted by id, so that head-LDS and causal
efficacy read every one the same way.
"""

from __future__ import annotations

import time

import numpy as np

from .experiment import Experiment


def _scored(att) -> dict:
    """{rows, scores, seconds_per_1k} of one stored attribution (rows sorted by id)."""
    rows = np.array([r["row"] for r in att.table])
    secs = float(att.manifest.get("influence_seconds", float("nan")))
    return {
        "rows": rows,
        "scores": np.array([r["score"] for r in att.table]),
        "seconds_per_1k": 1000 * secs / len(rows),
    }


def strategy_scores(
    exp: Experiment, strategies: list[str], heuristics: list[str], external: list[str], log=print
) -> dict:
    """{name: {rows, scores, seconds_per_1k}} over the window's rows, sorted by row id:
    kronfluence's `strategies` (and EK-FAC's variants), other libraries' methods (`external`)
    and model-free `heuristics`."""
    from baselines.heuristics import HEURISTICS

    from .attribution.score import InfluenceConfig
    from .attribution.stage import attribute_stage, default_probe

    out = {}
    for s in strategies:
        if s == exp.cfg.strategy:
            att = exp.attribution
        else:
            cfg = InfluenceConfig(strategy=s, probe=default_probe(exp.cfg.unit))
            att = attribute_stage(
                exp.scale, exp.store, exp.data, exp.baseline, exp.cfg.unit, cfg, exp.window.start, log=log
            )
        out[s] = _scored(att)
    if "ekfac" in strategies:
        out.update(checkpoint_variants(exp, out["ekfac"], log))
        out.update(probe_variants(exp, log))
    rows = exp.window.rows
    if "dattri-tracin" in external:
        from baselines.dattri_tracin import tracin_stage

        steps = window_checkpoints(exp)
        scores, per_1k = tracin_stage(
            exp.scale, exp.store, exp.baseline, exp.data.stream, rows, exp.unit, steps, log
        )
        out["dattri-tracin"] = {"rows": rows, "scores": scores, "seconds_per_1k": per_1k}
    for h in heuristics:
        t0 = time.perf_counter()
        scores = HEURISTICS[h](exp.data.stream, rows)
        out[h] = {
            "rows": rows,
            "scores": scores,
            "seconds_per_1k": 1000 * (time.perf_counter() - t0) / len(rows),
        }
    return out


def window_checkpoints(exp: Experiment) -> list[int]:
    """[start, the checkpoint nearest the middle, end] of the window: where variants are scored."""
    from .attribution.stage import checkpoint_records

    w = exp.window
    steps = sorted(r["step"] for r in checkpoint_records(exp.baseline) if w.start <= r["step"] < w.end)
    middle = min(steps, key=lambda s: abs(s - (w.start + w.end) / 2))
    return [w.start, middle, w.end]


def checkpoint_variants(exp: Experiment, at_end: dict, log=print) -> dict:
    """EK-FAC scored with the weights at the window's start and middle, and the mean of start,
    middle and end: does the checkpoint the head is read at matter?"""
    from .attribution.score import InfluenceConfig
    from .attribution.stage import attribute_stage, default_probe

    start, middle, _ = window_checkpoints(exp)
    cfg = InfluenceConfig(strategy="ekfac", probe=default_probe(exp.cfg.unit))
    out, parts = {}, [at_end]
    for name, step in (("start", start), ("middle", middle)):
        att = attribute_stage(
            exp.scale,
            exp.store,
            exp.data,
            exp.baseline,
            exp.cfg.unit,
            cfg,
            exp.window.start,
            log=log,
            at_step=step,
        )
        out[f"ekfac@{name}"] = _scored(att)
        parts.append(out[f"ekfac@{name}"])
    out["ekfac@mean"] = {
        "rows": at_end["rows"],
        "scores": np.mean([p["scores"] for p in parts], axis=0),
        "seconds_per_1k": sum(p["seconds_per_1k"] for p in parts),
    }
    return out


def probe_variants(exp: Experiment, log=print) -> dict:
    """EK-FAC with another measurement of the same head: the copy-target log-prob instead of
    the attention pattern, and the frequency-band probe's tokens instead of uniform ones."""
    from .attribution.score import InfluenceConfig
    from .attribution.stage import attribute_stage

    out = {}
    for name, cfg in (
        ("ekfac/copy-logprob", InfluenceConfig(strategy="ekfac", probe="copy-logprob")),
        ("ekfac/band-tokens", InfluenceConfig(strategy="ekfac", probe_tokens="band")),
        ("ekfac/varied-length", InfluenceConfig(strategy="ekfac", probe_tokens="varied")),
    ):
        att = attribute_stage(
            exp.scale, exp.store, exp.data, exp.baseline, exp.cfg.unit, cfg, exp.window.start, log=log
        )
        out[name] = _scored(att)
    return out
