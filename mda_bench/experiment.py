"""The engine every claim task shares: baseline, attribution, window, jobs, branch metrics.

`prepare` makes sure the baseline run and its attribution exist (training or scoring them if
the store lacks them) and fixes the window, horizon and k. Tasks then build `Job`s (a spec,
a plan, the selected rows), `run_jobs` trains their branches, and `results_table` turns
branches into one row of metrics per run against the baseline's own curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import interventions as iv
from .attribution.score import InfluenceConfig
from .attribution.stage import Attribution, attribute_stage, default_probe
from .errors import MdaError
from .metrics import curve_metrics, effect
from .pipeline import Data, Run, baseline_stage, prepare_data
from .retrain import Branch, BranchSet, Job, RunSpec, horizon_step, retrain_all
from .scales import Scale
from .store import Store


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a claim's runs depend on besides the scale (saved in every report)."""

    unit: str = "induction"
    strategy: str = "ekfac"
    k_fraction: float = 0.1  # the paper's ~9.8% of the window's rows
    draws: int = 4  # uniform random draws per operation
    matched_draws: int = 4  # category-matched random draws per operation (the headline control)
    noise_runs: int = 3  # seed-noise branches (the window's rows reordered)
    onset_fraction: float = 0.5
    margin: float = 0.5  # branches run this fraction of the window past its end
    seed: int = 0  # init seed of the first baseline
    order_seed: int = 0  # data-order seed of the first baseline
    seeds: int = 1  # independent baselines: baseline j has init seed + j and order seed + j
    window_start: int | None = None  # None: the scale's default
    generator: str | None = None  # augmentation-speedup: "module:function" replacing augment.generate


@dataclass
class Experiment:
    scale: Scale
    store: Store
    cfg: ExperimentConfig
    data: Data
    baseline: Run
    attribution: Attribution
    window: iv.Window
    horizon: int
    k: int

    @property
    def unit(self) -> dict:
        return self.attribution.unit

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, influence) of every window row."""
        t = self.attribution.table
        return np.array([r["row"] for r in t]), np.array([r["score"] for r in t])


def prepare(scale: Scale, store: Store, cfg: ExperimentConfig, log=print) -> Experiment:
    """Baseline run, attribution, window and k, from the store or computed now."""
    data = prepare_data(scale, store, order_seed=cfg.order_seed, log=log)
    baseline = baseline_stage(scale, store, data, init_seed=cfg.seed, log=log)
    influence = InfluenceConfig(strategy=cfg.strategy, probe=default_probe(cfg.unit))
    att = attribute_stage(
        scale, store, data, baseline, cfg.unit, influence, window_start=cfg.window_start, log=log
    )
    w0, w1 = att.unit["window"]
    window = iv.Window(w0, w1, scale.train.batch_size)
    horizon = horizon_step(window, scale.train.steps, cfg.margin)
    return Experiment(
        scale, store, cfg, data, baseline, att, window, horizon, iv.default_k(window, cfg.k_fraction)
    )


def prepare_seeds(scale: Scale, store: Store, cfg: ExperimentConfig, log=print) -> list[Experiment]:
    """One Experiment per independent baseline (init and order seeds both offset by j): each
    has its own data order, training run, attribution, window rows and branches."""
    out = []
    for j, one in enumerate(seed_configs(cfg)):
        log(f"baseline {j + 1}/{cfg.seeds}: init seed {one.seed}, order seed {one.order_seed}")
        out.append(prepare(scale, store, one, log=log))
    return out


def seed_configs(cfg: ExperimentConfig) -> list[ExperimentConfig]:
    """The config of each independent baseline: baseline j has init and order seeds offset by j."""
    from dataclasses import replace

    return [replace(cfg, seed=cfg.seed + j, order_seed=cfg.order_seed + j) for j in range(cfg.seeds)]


def targeted_job(exp: Experiment, operation: str, selection: str) -> Job:
    """remove/augment of the top-k or bottom-k attributed rows."""
    rows, scores = exp.scores()
    pick = {"top": iv.top_k, "bottom": iv.bottom_k}[selection]
    selected = pick(rows, scores, exp.k)
    return _job(exp, RunSpec(f"{operation}-{selection}", operation, selection, exp.k), selected)


def _job(exp: Experiment, spec: RunSpec, selected: np.ndarray) -> Job:
    n = exp.data.stream.n_rows
    if spec.operation == "remove":
        plan = iv.remove(n, selected)
    elif spec.operation == "augment":
        plan = iv.augment(n, selected, exp.window, seed=spec.seed)
    elif spec.operation == "reorder":
        plan = iv.reorder(n, exp.window, seed=spec.seed)
    elif spec.operation == "identity":
        plan = iv.Plan(n)  # the baseline's own batches, retrained from the window start
    else:
        raise ValueError(f"unknown operation {spec.operation!r}")
    return Job(spec, plan, np.asarray(selected, dtype=np.int64))


def selected_job(exp: Experiment, name: str, operation: str, selection: str, selected, seed: int = 0) -> Job:
    """A job on any explicit selection (random draws, category rules)."""
    return _job(exp, RunSpec(name, operation, selection, len(selected), seed), np.asarray(selected))


def branch_set(exp: Experiment, jobs: list[Job], horizon: int | None = None) -> BranchSet:
    """Jobs from the experiment's baseline and window, to its horizon unless told."""
    end = exp.horizon if horizon is None else horizon
    return BranchSet(exp.scale, exp.data, exp.baseline, exp.window, end, jobs)


def run_jobs(
    exp: Experiment, jobs: list[Job], n_jobs: int = 1, progress: bool = True, horizon: int | None = None
) -> list[Branch]:
    """Train (or read from the store) each job's branch, to the experiment's horizon unless told."""
    return retrain_all(branch_set(exp, jobs, horizon), exp.store, n_jobs, progress)


# --------------------------------------------------------------------------- curves and metrics
def head_curve(
    records: list[dict], unit: dict, lo: int, hi: int, other: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, the unit's head score, the record field `other`) of records in [lo, hi]."""
    keep = [r for r in records if lo <= r["step"] <= hi]
    steps = np.array([r["step"] for r in keep])
    ys = np.array([r[unit["score"]][unit["layer"]][unit["head"]] for r in keep])
    return steps, ys, np.array([r[other] for r in keep])


def unit_curve(exp: Experiment, records: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, target head's score, ICL score) of records inside [window start, horizon]."""
    return head_curve(records, exp.unit, exp.window.start, exp.horizon, "icl_score")


def reference_final(exp: Experiment) -> float:
    """The baseline run's final score of the target head (the onset level's reference)."""
    return float(exp.unit["final_score"])


def _metrics(exp: Experiment, records: list[dict]) -> dict:
    steps, ys, icl = unit_curve(exp, records)
    m = curve_metrics(
        steps, ys, reference_final(exp), (exp.window.start, exp.window.end), exp.cfg.onset_fraction
    )
    m["icl_end"] = float(np.interp(exp.window.end, steps, icl))
    # Means over the checkpoints from the window's end to the horizon: the ICL score of one
    # checkpoint is noisy (64 held-out rows), the mean of several much less so.
    after = steps >= exp.window.end
    m["score_after"] = float(ys[after].mean())
    m["icl_after"] = float(icl[after].mean())
    return m


def reference_records(exp: Experiment, branches: list[Branch]) -> list[dict]:
    """The curve every effect is measured against: the baseline's own records, or, for an
    official baseline (revisions 1,000 steps apart, too coarse for an onset), the identity
    branch's (same start, code, precision and optimizer state as every other branch)."""
    if not exp.baseline.official:
        return exp.baseline.records
    for b in branches:
        if b.spec.operation == "identity":
            return b.records
    raise MdaError("an official baseline's effects need its identity branch as the reference curve")


def baseline_metrics(exp: Experiment, branches: list[Branch] = ()) -> dict:
    return _metrics(exp, reference_records(exp, branches))


def results_table(
    exp: Experiment, branches: list[Branch], reference: list[Branch] | None = None
) -> list[dict]:
    """One row per branch: its spec, onset, area, end score, ICL, and their deltas (against the
    reference curve found among `reference`, default `branches`), and where it is in the store
    (`store_key`: what `mda-bench store` and the wall-time accounting read)."""
    base = baseline_metrics(exp, branches if reference is None else reference)
    head = {"run": "baseline", "operation": "none", "selection": "none", "k": 0}
    rows = [{**head, **base, **_zero(), "store_key": f"train/{exp.baseline.key}"}]
    for b in branches:
        m = _metrics(exp, b.records)
        e = effect(m, base)
        rows.append(
            {
                "run": b.spec.name,
                "operation": b.spec.operation,
                "selection": b.spec.selection,
                "k": b.spec.k,
                **m,
                **{k: v for k, v in e.items() if k != "censored"},
                "d_icl": m["icl_end"] - base["icl_end"],
                "d_score_after": m["score_after"] - base["score_after"],
                "d_icl_after": m["icl_after"] - base["icl_after"],
                "store_key": f"retrain/{b.key}",
            }
        )
    return rows


def _zero() -> dict:
    return {
        "d_onset": 0.0,
        "d_area": 0.0,
        "d_end_score": 0.0,
        "d_icl": 0.0,
        "d_score_after": 0.0,
        "d_icl_after": 0.0,
    }
