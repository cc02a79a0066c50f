"""Influence of training rows on one head's probe, with kronfluence on the split head.

`influence_scores` is the computation (model + rows + probe in, one score per row out); the
store stage around it lives in `stage.py`. Batch sizes are always explicit (kronfluence's
automatic search retries ever-larger batches and can kill a CPU run) and factors are
deterministic: sampled Fisher labels come from a seeded generator, eigendecompositions are
exact, the data loader never shuffles.
"""

from __future__ import annotations

import copy
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import ranks
from ..device import Runtime
from ..store import KEY_OMITS_DEFAULT
from . import STRATEGIES
from .exact import exact_scores
from .split import split_head
from .task import HeadTask, RowDataset

# Rows per kronfluence scoring call. One call over a long window grows the process by ~50 KB a
# row at `tiny` (heap fragmentation from its per-batch tensors, not a leak: 11.9 GB for the
# 230,400 rows of steps 0-3,600); calls of 8,192 rows keep that bounded and were not slower.
SCORE_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class InfluenceConfig:
    """Everything kronfluence is told; saved in the attribution manifest."""

    strategy: str = "ekfac"
    probe: str = "prefix-matching"
    factor_batch_size: int = 32
    score_batch_size: int = 32
    empirical_fisher: bool = False  # False: the true Fisher with labels sampled from the model
    fisher_seed: int = 0
    damping: float | None = None  # None: kronfluence's heuristic, 0.1 x mean eigenvalue
    whole_layer: bool = False  # track the fused attention layer instead of the split head
    # Factors (covariances, eigenbases) fitted on at most this many rows, evenly spaced over
    # the window; 0 = all. Fitting costs ~2x scoring per row and its estimate converges fast.
    max_fit_rows: int = 8192
    # the probe's tokens: "uniform" over the vocabulary (the unit's own probe); "band", the
    # scale's frequency-band probe (heads.band_probe; the middle half of ranks where the scale
    # names none); "varied", segments of per-sequence lengths (heads.varied_probe). Keyed only
    # off its default, so stored attributions keep their keys.
    probe_tokens: str = field(default="uniform", metadata=KEY_OMITS_DEFAULT)

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.factor_batch_size < 1 or self.score_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.max_fit_rows < 0:
            raise ValueError("max_fit_rows must be >= 0")
        if self.damping is not None and self.damping < 0:
            raise ValueError("damping must be >= 0")
        if self.probe_tokens not in ("uniform", "band", "varied"):
            raise ValueError(f"probe_tokens must be uniform, band or varied, got {self.probe_tokens!r}")


def kronfluence_arguments(cfg: InfluenceConfig, runtime: Runtime | None = None) -> dict:
    """The FactorArguments and ScoreArguments of a config (none for `exact`, which does not go
    through kronfluence). Off the CPU default, bf16 runs the forward and backward passes under
    autocast (factors, eigenbases and scores stay fp32) and the probe's query gradients are
    summed before scoring (influence is linear in them: one query instead of n_seqs)."""
    from kronfluence.arguments import FactorArguments, ScoreArguments

    if cfg.strategy == "exact":
        return {}
    rt = runtime or Runtime()
    amp = torch.bfloat16 if rt.precision == "bf16" else None
    fa = FactorArguments(strategy=cfg.strategy, use_empirical_fisher=cfg.empirical_fisher, amp_dtype=amp)
    # at the CPU default (fp32, no aggregation) these are kronfluence's defaults, which every
    # committed attribution used
    sa = ScoreArguments(
        damping_factor=cfg.damping,
        use_full_svd=True,
        amp_dtype=amp,
        aggregate_query_gradients=not rt.is_default,
    )
    return {"factor_args": fa, "score_args": sa}


def plain_args(args) -> dict:
    return {k: (str(v) if isinstance(v, torch.dtype) else v) for k, v in asdict(args).items()}


def head_model(
    model, layer: int, head: int, cfg: InfluenceConfig, attention: str = "eager"
) -> tuple[torch.nn.Module, HeadTask]:
    """What either scorer sees: the split head (or, with `whole_layer`, the model itself) in
    eval mode, under deterministic kernels; and the head's Task. The split layer computes its
    pattern by hand; the other layers run `attention` (SDPA on CUDA), and the unsplit model is
    eager throughout, since its probe reads the pattern from `output_attentions`."""
    cfg.validate()
    torch.use_deterministic_algorithms(True)
    # A copy either way: kronfluence wraps the tracked modules in place, and the caller's model
    # (and its attention implementation) must stay as it was for a second call.
    net = copy.deepcopy(model) if cfg.whole_layer else split_head(model, layer, head)
    net.config._attn_implementation = "eager" if cfg.whole_layer else attention
    return net.eval(), HeadTask(layer, head, cfg.probe, whole_layer=cfg.whole_layer)


class HeadInfluence:
    """kronfluence on one head: `fit` factors on rows, then `score` rows against the probe.

    Use as a context manager; factors live in a temporary folder removed on exit.
    """

    def __init__(
        self,
        model,
        layer: int,
        head: int,
        cfg: InfluenceConfig,
        workdir: Path | None = None,
        runtime: Runtime | None = None,
    ):
        from kronfluence.analyzer import Analyzer, prepare_model

        self.cfg = cfg
        rt = runtime or Runtime()
        net, task = head_model(model, layer, head, cfg, rt.attention)
        self.task = task
        self.args = kronfluence_arguments(cfg, rt)
        logging.getLogger("kronfluence").setLevel(logging.WARNING)
        self._tmp = tempfile.TemporaryDirectory(dir=workdir)
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        # kronfluence builds a (disabled) torch.cuda.amp.GradScaler, deprecated in torch 2.x
        warnings.filterwarnings("ignore", message=".*GradScaler.*", category=FutureWarning)
        quiet = not sys.stderr.isatty()
        with ranks.alone():  # under torchrun, rank 0 attributes by itself (mda_bench/ranks.py)
            self.analyzer = Analyzer(
                "head",
                prepare_model(net, task),
                task,
                cpu=rt.device == "cpu",
                output_dir=self._tmp.name,
                disable_tqdm=quiet,
            )

    def __enter__(self) -> HeadInfluence:
        return self

    def __exit__(self, *exc) -> None:
        self._warn.__exit__(*exc)
        self._tmp.cleanup()

    def fit(self, rows: np.ndarray) -> None:
        torch.manual_seed(self.cfg.fisher_seed)  # sampled Fisher labels
        self.analyzer.fit_all_factors(
            "factors",
            RowDataset(rows),
            per_device_batch_size=self.cfg.factor_batch_size,
            factor_args=self.args["factor_args"],
            overwrite_output_dir=True,
        )

    def score(
        self,
        rows: np.ndarray,
        probe: torch.Tensor,
        chunk_rows: int = SCORE_CHUNK_ROWS,
        losses: bool = False,
        on_chunk: Callable[[int, int], None] | None = None,
    ):
        """Mean influence of each row on the probe sequences, scored `chunk_rows` rows per
        kronfluence call (rounded up to whole batches, so the result does not depend on it).
        With `losses`, also each row's mean next-token loss, captured in the same pass:
        (scores, losses). `on_chunk(rows done, rows)` after each chunk."""
        queries = RowDataset(probe)
        B = self.cfg.score_batch_size
        chunk = -(-max(chunk_rows, 1) // B) * B
        out = []
        self.task.captured = [] if losses else None
        for i in range(0, len(rows), chunk):
            self.analyzer.compute_pairwise_scores(
                "scores",
                "factors",
                query_dataset=queries,
                train_dataset=RowDataset(rows[i : i + chunk]),
                per_device_query_batch_size=len(queries),
                per_device_train_batch_size=B,
                score_args=self.args["score_args"],
                overwrite_output_dir=True,
            )
            scores = self.analyzer.load_pairwise_scores("scores")["all_modules"]
            # one row of scores per probe sequence; the probe is their mean (influence is linear)
            out.append(scores.double().sum(0).cpu().numpy() / len(queries))
            if on_chunk is not None:
                on_chunk(min(i + chunk, len(rows)), len(rows))
        result = np.concatenate(out) if out else np.zeros(0)
        if not losses:
            return result
        captured, self.task.captured = self.task.captured, None
        row_loss = torch.cat(captured).numpy() if captured else np.zeros(0)
        if len(row_loss) != len(result):  # kronfluence passed a row twice or not at all
            raise RuntimeError(f"captured {len(row_loss)} losses for {len(result)} scored rows")
        return result, row_loss


def fit_subset(n: int, max_rows: int) -> np.ndarray:
    """Indices of the rows factors are fitted on: all, or `max_rows` evenly spaced."""
    if max_rows == 0 or n <= max_rows:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_rows).round().astype(np.int64))


def influence_scores(
    model,
    layer: int,
    head: int,
    rows: np.ndarray,
    probe: torch.Tensor,
    cfg: InfluenceConfig,
    fit_rows: np.ndarray | None = None,
    workdir: Path | None = None,
    runtime: Runtime | None = None,
    losses: bool = False,
    halves: torch.Tensor | None = None,
    log: Callable[[str], None] | None = None,
):
    """Influence of each of `rows` ([n, ctx] token ids) on the mean probe of head (layer, head)
    (`halves`: the segment lengths of a varied-length probe).

    Factors (or, for `exact`, the Fisher) are fitted on `fit_rows` (default: `cfg.max_fit_rows`
    of `rows`). Positive = up-weighting the row raises the probe. Returns float64 [n]; with
    `losses` (EK-FAC and the other kronfluence strategies), (scores, per-row losses). `log`
    gets a line when the factors are fitted and at most once a minute while rows are scored
    (an attribution at `tiny-natural` runs for half an hour).
    """
    fit = rows[fit_subset(len(rows), cfg.max_fit_rows)] if fit_rows is None else fit_rows
    if cfg.strategy == "exact":
        net, task = head_model(model, layer, head, cfg)
        task.halves = halves
        return exact_scores(net, task, rows, fit, probe, cfg, progress=sys.stderr.isatty())
    with HeadInfluence(model, layer, head, cfg, workdir, runtime) as hi:
        hi.task.halves = halves
        t0 = time.monotonic()
        hi.fit(fit)
        if log is not None:
            log(f"{cfg.strategy} factors fitted on {len(fit):,} rows in {time.monotonic() - t0:.0f} s")
        return hi.score(rows, probe, losses=losses, on_chunk=None if log is None else _throttled(log, 60))


def _throttled(log: Callable[[str], None], every_s: float) -> Callable[[int, int], None]:
    """An on_chunk callback logging progress and time left, at most once per `every_s`."""
    t0 = last = time.monotonic()

    def on_chunk(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_s and done < total:
            return
        last = now
        left = (now - t0) / done * (total - done)
        log(f"scored {done:,} of {total:,} rows ({now - t0:.0f} s, about {left:.0f} s left)")

    return on_chunk
