"""Pre-registered protocols: each claim's rule, thresholds, sizes and seeds as data, hashed.

A task module holds `CLAIM` (with its version), `RULE` (the text) and `PROTOCOL` (every
number the verdict depends on). The run adds the sizes a user can change on the command line
(k, uniform and category-matched draws, noise runs, margin, onset fraction, seeds, window).
The hash of all of it is printed on each report's first line and stored in its JSON, next to
the hash of the registered protocol (the task's defaults at that scale): a reader sees at once
whether a verdict was decided under the protocol fixed before the runs, and a test pins the
registered hashes so that changing any of it without bumping the task version fails.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

RUN_FIELDS = ("k_fraction", "draws", "matched_draws", "noise_runs", "margin", "onset_fraction", "seeds")


def run_protocol(cfg, scale) -> dict:
    """The run-level part: sizes from the ExperimentConfig, the window from it or the scale."""
    out = {f: getattr(cfg, f) for f in RUN_FIELDS}
    if cfg.window_start is not None:
        out["window_start"] = cfg.window_start
    elif scale.window_lead is not None:
        out["window_start"] = f"{scale.window_lead} steps before each baseline's onset"
    else:
        out["window_start"] = scale.window_start
    return out


def protocol_of(task, cfg, scale) -> dict:
    return {
        "claim": task.CLAIM.id,
        "version": task.CLAIM.version,
        "rule": task.RULE,
        "task": getattr(task, "PROTOCOL", {}),
        "run": run_protocol(cfg, scale),
    }


def protocol_hash(protocol: dict) -> str:
    text = json.dumps(protocol, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def registered(task, scale) -> dict:
    """The protocol fixed for this task version at `scale`: the defaults, with the scale's seeds,
    draws and reorder runs (a scale whose branches cost more registers fewer)."""
    from .experiment import ExperimentConfig

    cfg = replace(
        ExperimentConfig(),
        seeds=scale.seeds,
        draws=scale.draws,
        matched_draws=scale.matched_draws,
        noise_runs=scale.noise_runs,
    )
    return protocol_of(task, cfg, scale)


def describe(task, cfg, scale) -> dict:
    """{hash, registered_hash, status, protocol}: what a report prints and stores."""
    used, reg = protocol_of(task, cfg, scale), registered(task, scale)
    h, rh = protocol_hash(used), protocol_hash(reg)
    if h == rh:
        status = f"the registered protocol of task version {task.CLAIM.version} at scale `{scale.name}`"
    else:
        diff = ", ".join(
            f"{k} {used['run'][k]} (registered {reg['run'][k]})"
            for k in used["run"]
            if used["run"][k] != reg["run"][k]
        )
        status = f"NOT the registered protocol `{rh}`: {diff}"
    return {"hash": h, "registered_hash": rh, "status": status, "protocol": used}
