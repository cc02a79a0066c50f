"""The frequency-band probe read over a run's stored checkpoints (reported beside the unit).

The unit of every claim is read with the uniform-token probe (heads.make_probe), recorded at
every checkpoint while training. On natural text that probe is far from the data: its tokens
are mostly rare, so a head can attend to the right place while the model cannot copy the
token. The band probe (heads.band_probe) repeats mid-frequency tokens of the training stream
instead; it is evaluated afterwards on the stored weights, so adding it changes no run's key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint_io import load_checkpoint
from .heads import band_probe, band_tokens, probe_model, top_head
from .model import build_model
from .scales import Scale
from .stream import TokenStream


def stream_token_counts(stream: TokenStream, n_rows: int, vocab_size: int) -> np.ndarray:
    """How often each token id occurs in the stream's first `n_rows` rows (the baseline's data)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for i in range(0, n_rows, 8192):  # in blocks: 146k rows of 256 tokens would be 150 MB at once
        block = stream.rows(np.arange(i, min(n_rows, i + 8192)))
        counts += np.bincount(block.ravel(), minlength=vocab_size)[:vocab_size]
    return counts


def band_curve(scale: Scale, counts: np.ndarray, run_dir: Path) -> list[dict]:
    """{step, induction, previous-token, copy_logprob} of the band probe at every checkpoint
    with weights in `run_dir/ckpt`, on the CPU; `counts` from stream_token_counts."""
    probe = band_probe(counts, scale.probe)
    model = build_model(scale.model, 0)
    out = []
    for ckpt in sorted((run_dir / "ckpt").glob("step-*")):
        load_checkpoint(model, None, ckpt)
        out.append({"step": int(ckpt.name.split("-")[1]), **probe_model(model, probe)})
    return out


def describe_probes(scale: Scale, stream: TokenStream, records: list[dict], run_dir: Path) -> list[str]:
    """Report lines naming each probe and the unit head's final scores on it; the band probe's
    line only where the scale has one."""
    layer, head, final = top_head(np.array(records[-1]["induction"]))
    p = scale.probe
    lines = [
        f"- probe `uniform` (defines the unit): {p.n_seqs} sequences of {p.half} tokens drawn uniformly "
        f"from the vocabulary, repeated; L{layer}H{head} prefix-matching {final:.3f} and copy log-prob "
        f"{records[-1]['copy_logprob']:.2f} at the baseline's last step"
    ]
    if tuple(p.band) == (0.0, 0.0):
        return lines
    counts = stream_token_counts(stream, scale.train.steps * scale.train.batch_size, scale.model.vocab_size)
    band = band_curve(scale, counts, run_dir)
    pool = band_tokens(counts, p.band)
    last = band[-1]
    bl, bh, bfinal = top_head(np.array(last["induction"]))
    lines.append(
        f"- probe `band` (reported): the same shape and seed, tokens from frequency ranks "
        f"{p.band[0]:.0%}-{p.band[1]:.0%} of the training stream ({len(pool)} tokens); L{layer}H{head} "
        f"prefix-matching {float(np.array(last['induction'])[layer, head]):.3f} (top head L{bl}H{bh} "
        f"{bfinal:.3f}), copy log-prob {last['copy_logprob']:.2f} at the last step"
    )
    return lines
