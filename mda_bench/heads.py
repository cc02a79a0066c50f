"""Head detectors: named head types in, a layer x head score matrix out.

Definitions follow docs/design.md exactly. The probe is `n_seqs` sequences of `half` random
non-special token ids repeated twice, with no BOS. Scores are pure functions of attention
patterns so they can be tested on hand-built patterns.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .model import eager_attention
from .scales import ProbeConfig


def make_probe(vocab_size: int, cfg: ProbeConfig, n_special: int = 1) -> torch.Tensor:
    """[n_seqs, 2*half] token ids: a random sequence followed by its exact repeat."""
    g = torch.Generator().manual_seed(cfg.seed)
    first = torch.randint(n_special, vocab_size, (cfg.n_seqs, cfg.half), generator=g)
    return torch.cat([first, first], dim=1)


def band_tokens(counts: np.ndarray, band: tuple[float, float], n_special: int = 1) -> np.ndarray:
    """Token ids whose frequency rank (most frequent first, ties by id; specials excluded) lies in
    [lo, hi) x the number of non-special tokens: Olsson et al.'s mid-frequency tokens."""
    ids = np.arange(n_special, len(counts))
    ranked = ids[np.lexsort((ids, -counts[n_special:]))]
    lo, hi = (round(f * len(ranked)) for f in band)
    return np.sort(ranked[lo:hi])


def band_probe(counts: np.ndarray, cfg: ProbeConfig, n_special: int = 1) -> torch.Tensor:
    """The repeated-sequence probe with tokens drawn uniformly (with replacement, the probe's
    seed) from the frequency band `cfg.band` of `counts` (each token's count in the training
    stream): repeated text made of tokens the model has seen often, unlike the uniform probe's
    rare ones, so that copying them is in distribution."""
    pool = band_tokens(counts, cfg.band, n_special)
    if len(pool) < 2:
        raise ValueError(f"frequency band {cfg.band} holds {len(pool)} tokens; it needs at least 2")
    g = torch.Generator().manual_seed(cfg.seed)
    first = torch.from_numpy(pool)[torch.randint(0, len(pool), (cfg.n_seqs, cfg.half), generator=g)]
    return torch.cat([first, first], dim=1)


def varied_probe(vocab_size: int, cfg: ProbeConfig, n_special: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [n_seqs, 2*half], halves [n_seqs]): sequence i repeats a segment of h_i tokens,
    h_i drawn uniformly from [half / 4, half] (the probe's seed), after 2 (half - h_i) other
    random tokens, so every sequence ends with its segment twice and all have one length."""
    g = torch.Generator().manual_seed(cfg.seed)
    halves = torch.randint(max(2, cfg.half // 4), cfg.half + 1, (cfg.n_seqs,), generator=g)
    rows = torch.randint(n_special, vocab_size, (cfg.n_seqs, 2 * cfg.half), generator=g)
    for i, h in enumerate(halves.tolist()):
        rows[i, 2 * cfg.half - h :] = rows[i, 2 * cfg.half - 2 * h : 2 * cfg.half - h]
    return rows, halves


def _second_copy(length: int, halves: torch.Tensor, drop_last: int = 0) -> torch.Tensor:
    """[seqs, length] mask of the positions in each sequence's second copy (minus its last
    `drop_last`), the segment of halves[i] tokens at the end of a row of `length`."""
    pos = torch.arange(length)
    return (pos >= length - halves[:, None]) & (pos < length - drop_last)


def prefix_matching_varied(attn: torch.Tensor, halves: torch.Tensor) -> torch.Tensor:
    """prefix_matching_score for a probe whose sequences repeat segments of their own length:
    patterns [seqs, q, k] -> [seqs], each the mean over its second copy's queries of the weight
    on key q - h_i + 1."""
    n, length = attn.shape[0], attn.shape[-1]
    mask = _second_copy(length, halves)
    q = torch.arange(length).expand(n, length)
    k = (q - halves[:, None] + 1).clamp(min=0)
    picked = attn.gather(-1, k.unsqueeze(-1)).squeeze(-1)  # [seqs, q]
    return (picked * mask).sum(-1) / halves


def copy_logprob_varied(logits: torch.Tensor, probe: torch.Tensor, halves: torch.Tensor) -> torch.Tensor:
    """copy_target_logprob for the varied probe: position q of the second copy (but its last)
    predicts token q + 1, a copy of the token h_i positions earlier. -> [seqs]."""
    logp = F.log_softmax(logits[:, :-1].float(), -1).gather(-1, probe[:, 1:].unsqueeze(-1)).squeeze(-1)
    mask = _second_copy(probe.shape[1], halves, drop_last=1)[:, :-1]
    return (logp * mask).sum(-1) / (halves - 1)


def prefix_matching_score(attn: torch.Tensor, half: int) -> torch.Tensor:
    """Induction score from patterns [..., heads, q, k] of a repeated probe -> [..., heads].

    For every query i in the second copy (half <= i < 2*half), the weight on key i-half+1,
    the token after the earlier occurrence of token i; averaged over positions and sequences
    (the sequence axis is the one before `heads`, averaged by the caller's layout below).
    """
    q = torch.arange(half, 2 * half)
    return attn[..., q, q - half + 1].mean(-1)


def previous_token_score(attn: torch.Tensor, half: int | None = None) -> torch.Tensor:
    """Mean weight from position i to i-1 over i >= 1, patterns [..., q, k] -> [...]."""
    q = torch.arange(1, attn.shape[-2])
    return attn[..., q, q - 1].mean(-1)


HEAD_TYPES = {"induction": prefix_matching_score, "previous-token": previous_token_score}


@torch.no_grad()
def probe_model(model, probe: torch.Tensor, types=tuple(HEAD_TYPES)) -> dict:
    """Run the probe once: a layer x head matrix per head type plus copy-target metrics."""
    half = probe.shape[1] // 2
    was_training = model.training
    model.eval()
    with eager_attention(model):
        out = model(input_ids=probe, output_attentions=True)
    model.train(was_training)
    attn = torch.stack(out.attentions).float().cpu()  # [layers, seqs, heads, q, k]
    scores = {t: HEAD_TYPES[t](attn, half).mean(1).numpy() for t in types}  # mean over seqs
    scores["copy_logprob"] = float(copy_target_logprob(out.logits, probe).mean())
    return scores


def copy_target_logprob(logits: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
    """Per-sequence mean log-prob of the induction target in the second copy, [n_seqs]."""
    half = probe.shape[1] // 2
    # Position i (half <= i < 2*half-1) predicts token i+1, a copy of token i-half+1.
    pos = torch.arange(half, 2 * half - 1)
    logp = F.log_softmax(logits[:, pos].float(), -1)
    return logp.gather(-1, probe[:, pos + 1].unsqueeze(-1)).squeeze(-1).mean(-1)


def icl_positions(ctx: int) -> tuple[int, int, int]:
    """(early, late, half-band): Olsson et al.'s tokens 50 and 500 scaled to a 512 reference
    context, so the late/early ratio stays 10 at any ctx; each averaged over +-band tokens."""
    early = max(1, round(50 * ctx / 512))
    late = min(ctx - 2, round(500 * ctx / 512))
    band = max(1, ctx // 64)
    return early, late, band


EVAL_LOGITS = 2**28


@torch.no_grad()
def icl_and_loss(model, rows: torch.Tensor) -> dict:
    """Held-out loss and ICL score (loss at late positions minus loss at early positions)."""
    was_training = model.training
    model.eval()
    # at most EVAL_LOGITS logits at once (a 2,048-token row over a 50k vocabulary is 0.1 G);
    # every CPU scale fits one pass, so their numbers are those of the unbatched evaluation
    step = max(1, EVAL_LOGITS // (rows.shape[1] * model.config.vocab_size))
    parts = []
    for i in range(0, rows.shape[0], step):
        chunk = rows[i : i + step]
        logits = model(input_ids=chunk).logits.float()
        parts.append(
            F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1), reduction="none"
            ).view(chunk.shape[0], -1)
        )
        del logits
    model.train(was_training)
    nll = parts[0] if len(parts) == 1 else torch.cat(parts)
    per_pos = nll.mean(0)  # per_pos[j] is the loss of predicting token j+1
    early, late, band = icl_positions(rows.shape[1])

    def at(p: int) -> float:
        return float(per_pos[max(0, p - 1 - band) : p + band].mean())

    return {"heldout_loss": float(nll.mean()), "icl_score": at(late) - at(early)}


def uniform_prefix_score(half: int) -> float:
    """The prefix-matching score of uniform causal attention (a reference for tests/plots)."""
    return float(np.mean([1.0 / (i + 1) for i in range(half, 2 * half)]))


def top_head(scores: np.ndarray, min_layer: int = 1) -> tuple[int, int, float]:
    """(layer, head, score) of the highest score in layers >= min_layer."""
    sub = scores[min_layer:]
    layer, h = np.unravel_index(int(np.argmax(sub)), sub.shape)
    return int(layer) + min_layer, int(h), float(sub[layer, h])


# A rise smaller than this is probe noise (untrained micro/tiny heads drift by ~0.01), not a unit.
MIN_RISE = 0.05


def window_start_before_onset(records: list[dict], unit: str, lead: int, fraction: float = 0.5) -> int | None:
    """The latest checkpoint step at least `lead` steps before the unit's onset (first crossing
    of `fraction` x its final score over the whole run); None when it never crosses or never
    rose by MIN_RISE (a baseline whose unit did not form gets the scale's fixed start instead).

    This places each baseline's formation window by one rule fixed in advance (the scale's
    lead), so independent baselines whose heads form at different steps are all cut around
    their own formation, not at one step chosen on the first baseline."""
    from .metrics import crossing_step

    steps = np.array([r["step"] for r in records])
    layer, head, final = top_head(np.array(records[-1][unit]), min_layer=1 if unit == "induction" else 0)
    ys = np.array([r[unit][layer][head] for r in records])
    if final - ys.min() < MIN_RISE:  # no unit formed: its "onset" would be noise (None: the scale's start)
        return None
    onset = crossing_step(steps, ys, fraction * final)
    if onset is None:
        return None
    before = steps[steps <= onset - lead]
    return int(before[-1]) if len(before) else int(steps[0])


def locate_unit(records: list[dict], unit: str = "induction", start: int = 0) -> dict:
    """Target head and formation window from a baseline run's per-checkpoint scores.

    induction: the highest final prefix-matching score in layers >= 1; previous-token: the
    highest final previous-token score in any layer. The window runs from `start` to the first
    checkpoint at or after the score's 90% crossing (the end of its rise); a head whose score
    never rose by at least MIN_RISE, or had already reached half its final score at `start`,
    gets the window from `start` to the last checkpoint, flagged `rose: False`.
    """
    from .metrics import crossing_step

    if unit not in HEAD_TYPES:
        raise ValueError(f"unknown unit {unit!r}; choose one of {', '.join(HEAD_TYPES)}")
    kind = unit  # the unit's own head type is its score
    steps = np.array([r["step"] for r in records])
    layer, head, final = top_head(np.array(records[-1][kind]), min_layer=1 if unit == "induction" else 0)
    ys = np.array([r[kind][layer][head] for r in records])
    if start >= steps[-1]:
        raise ValueError(f"window start {start} is not before the last checkpoint ({steps[-1]})")
    if start not in steps:
        near = steps[np.argsort(np.abs(steps - start))[:3]].tolist()
        raise ValueError(f"window start {start} is not a checkpoint step (nearest: {sorted(near)})")
    keep = steps >= start
    steps, ys = steps[keep], ys[keep]
    first = float(ys[0])
    # formed inside the window: it rose by MIN_RISE and had not yet reached half its final
    # score at the window's start (a head already formed there cannot be delayed by the window)
    rose = final - first >= MIN_RISE and first < 0.5 * final
    # 10% and 90% of the rise from the window start to the final score
    lo = crossing_step(steps, ys, first + 0.1 * (final - first)) if rose else None
    hi = crossing_step(steps, ys, first + 0.9 * (final - first)) if rose else None
    end = int(steps[-1]) if hi is None else int(steps[np.searchsorted(steps, hi)])
    end = max(end, int(steps[1]) if len(steps) > 1 else end)
    return {
        "unit": unit,
        "score": kind,
        "layer": layer,
        "head": head,
        "start_score": first,
        "final_score": final,
        "rose": bool(rose),
        "rise_10": lo,
        "rise_90": hi,
        "window": (int(start), end),
    }
