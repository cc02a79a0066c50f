"""Attribution heuristics that need no model: the strategies any influence method must beat.

Each returns one score per window row, higher meaning "more likely to build the head", on the
same footing as an attribution's scores (head-LDS and causal efficacy read them the same way).
DATE-LM found simple baselines often competitive with influence functions; if repetition
alone picks rows whose removal delays the head as much as EK-FAC's top-k, the leaderboard must
be able to say so.
"""

from __future__ import annotations

import numpy as np


def bigram_repetition(tokens: np.ndarray) -> float:
    """Share of positions i >= 2 whose preceding bigram (t[i-2], t[i-1]) already occurred
    earlier in the row: the tokens an induction head could predict by copying."""
    t = np.asarray(tokens).tolist()
    seen: set[tuple[int, int]] = set()
    hits = 0
    for i in range(2, len(t)):
        b = (t[i - 2], t[i - 1])
        hits += b in seen
        seen.add(b)
    return hits / max(1, len(t) - 2)


def bigram_repetition_scores(stream, rows: np.ndarray) -> np.ndarray:
    return np.array([bigram_repetition(r) for r in stream.rows(np.asarray(rows))])


def repeat_row_scores(stream, rows: np.ndarray) -> np.ndarray:
    """1 for an injected repeat row, 0 for corpus text: the recipe's catalyst, by construction."""
    return stream.is_repeat_row(np.asarray(rows)).astype(float)


def random_scores(stream, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """Uniform noise: LDS about 0, a sanity check of the leaderboard itself."""
    return np.random.default_rng([seed, 59]).random(len(np.asarray(rows)))


HEURISTICS = {
    "bigram-repetition": bigram_repetition_scores,
    "repeat-row": repeat_row_scores,
    "random": random_scores,
}
