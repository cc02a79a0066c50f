"""Selections of window rows and the two interventions, as a training `Plan`.

A plan says what each step trains on. Every intervention keeps every other row at its own
step (the row identity attribution addressed):

- *remove*: the selected rows get loss weight 0 (the paper's masking); the batch loss stays
  sum_r w_r * loss_r / B, so no other row's contribution changes.
- *augment*: each selected row is trained once more, as an extra row in the batch of a later
  step of the window (drawn with a seed), with the same 1/B weight as any row.
- *reorder*: the window's rows are shuffled among the window's steps (the seed-noise runs:
  the same data, another order).
- *insert*: new token rows that are not in the stream (synthetic documents) are trained as
  extra rows of seeded steps in a range, again with the 1/B weight of any row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .errors import MdaError

OPERATIONS = ("none", "remove", "augment", "reorder", "identity")


@dataclass(frozen=True)
class Window:
    """Steps [start, end) of the formation window with batch size B: rows [start*B, end*B)."""

    start: int
    end: int
    batch_size: int

    @property
    def rows(self) -> np.ndarray:
        return np.arange(self.start * self.batch_size, self.end * self.batch_size)


# Rows per slice when a sparse plan streams its dense bytes into the key hash.
_KEY_CHUNK = 1 << 22


@dataclass
class Plan:
    """Per-row loss weights, extra rows per step, and an optional row permutation.

    Weights and order come dense (an array over every stream row) or sparse (only the rows
    that differ from 1 / from the identity): at Pythia's 146M rows a dense weight array is
    586 MB and a dense order 1.2 GB, while an intervention touches one window. Both forms
    train the same batches and have the same key.
    """

    n_rows: int
    weights: np.ndarray | None = None  # [n_rows] float32; None = all ones
    extras: dict[int, np.ndarray] = field(default_factory=dict)  # step -> extra row ids
    order: np.ndarray | None = None  # row id trained at each stream position; None = identity
    inserted: dict[int, np.ndarray] = field(default_factory=dict)  # step -> [n, ctx] new token rows
    # sparse forms: (sorted row ids, their weights) and (sorted positions, the row trained there)
    sparse_weights: tuple[np.ndarray, np.ndarray] | None = None
    sparse_order: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and self.sparse_weights is not None:
            raise MdaError("a plan has dense or sparse weights, not both")
        if self.order is not None and self.sparse_order is not None:
            raise MdaError("a plan has a dense or a sparse order, not both")

    def batch(self, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, loss weights) trained at `step`: its B positions, then any extras."""
        pos = np.arange(step * batch_size, (step + 1) * batch_size)
        if self.order is not None:
            rows = self.order[pos]
        elif self.sparse_order is not None:
            rows = _lookup(self.sparse_order, pos, pos)
        else:
            rows = pos
        rows = np.concatenate([rows, self.extras.get(step, np.zeros(0, dtype=np.int64))])
        if self.weights is not None:
            w = self.weights[rows]
        elif self.sparse_weights is not None:
            w = _lookup(self.sparse_weights, rows, np.ones(len(rows), np.float32))
        else:
            w = np.ones(len(rows), np.float32)
        return rows, w

    def tokens(self, step: int, batch_size: int, stream) -> tuple[np.ndarray, np.ndarray]:
        """(token rows, loss weights) trained at `step`: `batch` rows, then inserted rows."""
        rows, w = self.batch(step, batch_size)
        tokens = stream.rows(rows)
        new = self.inserted.get(step)
        if new is not None:
            tokens = np.concatenate([tokens, new.astype(tokens.dtype)])
            w = np.concatenate([w, np.ones(len(new), np.float32)])
        return tokens, w

    def key(self) -> str:
        """A content hash: two plans with the same key train on exactly the same batches. A
        sparse plan hashes the bytes its dense form would have, a slice at a time."""
        if "_key" in self.__dict__:
            return self.__dict__["_key"]
        h = hashlib.sha256()
        if self.sparse_weights is not None:
            _hash_dense(
                h, self.n_rows, self.sparse_weights, np.float32, lambda a, b: np.ones(b - a, np.float32)
            )
        else:
            h.update(b"ones" if self.weights is None else self.weights.astype(np.float32).tobytes())
        for s in sorted(self.extras):
            h.update(f"{s}:".encode() + np.asarray(self.extras[s], np.int64).tobytes())
        if self.sparse_order is not None:
            _hash_dense(
                h, self.n_rows, self.sparse_order, np.int64, lambda a, b: np.arange(a, b, dtype=np.int64)
            )
        else:
            h.update(b"id" if self.order is None else self.order.astype(np.int64).tobytes())
        for s in sorted(self.inserted):  # absent for older plans, so their keys are unchanged
            h.update(f"ins{s}:".encode() + np.asarray(self.inserted[s], np.int32).tobytes())
        self.__dict__["_key"] = h.hexdigest()[:16]
        return self.__dict__["_key"]

    @property
    def is_identity(self) -> bool:
        return (
            self.weights is None
            and self.sparse_weights is None
            and not self.extras
            and self.order is None
            and self.sparse_order is None
            and not self.inserted
        )


def _lookup(table: tuple[np.ndarray, np.ndarray], query: np.ndarray, default: np.ndarray) -> np.ndarray:
    """default, with the entries of `query` found among table's sorted keys replaced."""
    keys, values = table
    idx = np.searchsorted(keys, query).clip(max=max(len(keys) - 1, 0))
    hit = keys[idx] == query if len(keys) else np.zeros(len(query), bool)
    out = np.array(default, copy=True)
    out[hit] = values[idx[hit]]
    return out


def _hash_dense(h, n: int, table: tuple[np.ndarray, np.ndarray], dtype, base) -> None:
    """Feed `h` the bytes of the dense array (`base` with table's entries set), in slices."""
    keys, values = table
    for a in range(0, n, _KEY_CHUNK):
        b = min(n, a + _KEY_CHUNK)
        chunk = base(a, b)
        lo, hi = np.searchsorted(keys, [a, b])
        chunk[keys[lo:hi] - a] = values[lo:hi]
        h.update(chunk.astype(dtype).tobytes())


# --------------------------------------------------------------------------- selections
def top_k(rows: np.ndarray, scores: np.ndarray, k: int, tie_seed: int | None = None) -> np.ndarray:
    """The k rows with the highest influence. Ties are broken by row id, or with `tie_seed` by a
    seeded random order: a 0/1 score (the repeat-row flag) ties thousands of rows, and by row id
    its top-k would be the window's earliest rows, trained first, not a draw from its top class."""
    rows, scores = np.asarray(rows), np.asarray(scores)
    tie = rows if tie_seed is None else np.random.default_rng([tie_seed, 71]).permutation(len(rows))
    idx = np.lexsort((tie, -scores))[:k]
    return np.sort(rows[idx])


def bottom_k(rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The k rows with the lowest influence."""
    idx = np.lexsort((rows, scores))[:k]
    return np.sort(rows[idx])


def random_k(window_rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k distinct rows drawn uniformly from the window with `seed`."""
    if not 0 < k <= len(window_rows):
        raise MdaError(f"cannot draw {k} rows from a window of {len(window_rows)}")
    return np.sort(np.random.default_rng([seed, 7]).choice(window_rows, size=k, replace=False))


def default_k(window: Window, fraction: float) -> int:
    """k as a fraction of the window's rows (the paper removes about 9.8%)."""
    if not 0 < fraction < 1:
        raise MdaError(f"k fraction must be in (0, 1), got {fraction}")
    return max(1, round(fraction * len(window.rows)))


# --------------------------------------------------------------------------- operations
def remove(n_rows: int, selected: np.ndarray) -> Plan:
    """Loss weight 0 for the selected rows, 1 for every other row (held sparsely)."""
    rows = np.unique(np.asarray(selected, dtype=np.int64))
    return Plan(n_rows, sparse_weights=(rows, np.zeros(len(rows), np.float32)))


def augment(n_rows: int, selected: np.ndarray, window: Window, seed: int) -> Plan:
    """Each selected row once more, at a seeded step after its own, within the window.

    A row of the window's last step has no later step; its copy goes into that same step.
    """
    rng = np.random.default_rng([seed, 11])
    B = window.batch_size
    extras: dict[int, list[int]] = {}
    for r in np.sort(np.asarray(selected)):
        own = int(r) // B
        if not window.start <= own < window.end:
            raise MdaError(f"row {r} (step {own}) is outside the window {window.start}-{window.end}")
        later = int(rng.integers(own + 1, window.end)) if own + 1 < window.end else own
        extras.setdefault(later, []).append(int(r))
    return Plan(n_rows, extras={s: np.array(v, dtype=np.int64) for s, v in sorted(extras.items())})


def reorder(n_rows: int, window: Window, seed: int) -> Plan:
    """The window's rows in a seeded random order; every row outside it stays put."""
    rows = window.rows
    return Plan(n_rows, sparse_order=(rows, np.random.default_rng([seed, 13]).permutation(rows)))


def insert(n_rows: int, new_rows: np.ndarray, start: int, end: int, seed: int) -> Plan:
    """Train each of `new_rows` ([n, ctx] tokens) once, at a seeded step in [start, end)."""
    if not 0 <= start < end:
        raise MdaError(f"insertion steps must satisfy 0 <= start < end, got {start}, {end}")
    steps = np.random.default_rng([seed, 23]).integers(start, end, len(new_rows))
    inserted = {int(s): np.asarray(new_rows)[steps == s] for s in np.unique(steps)}
    return Plan(n_rows, inserted=inserted)
