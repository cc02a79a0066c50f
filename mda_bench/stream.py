"""Tokenizer and the token stream: fixed-length rows with an identity.

Documents are tokenized, joined with `<|endoftext|>` (id 0, as in GPT-NeoX) and cut into
chunks of `ctx` tokens. The stream is those chunks in one seeded order (a fresh permutation
per epoch when training needs more rows than there are chunks). A row id is the position in
the stream, and step s trains on rows [s*B, (s+1)*B): the identity that attribution scores
and interventions address. Every row remembers its documents and category token counts.

Optionally a seeded share of rows are *repeat rows*: one segment of tokens drawn uniformly
from the whole vocabulary, tiled to fill the row. They are labelled `repetitive` and have no
source document. They exist because, on one CPU and the embedded corpus alone, no induction
head forms within the step budget (the README's trials): a clean repeated record with
unpredictable content is the catalyst, and repetition built from corpus words is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .categories import CATEGORIES
from .corpus import Document
from .errors import MdaError

EOT = "<|endoftext|>"
NATURAL = ("prose", "code")


def train_tokenizer(docs: list[Document], vocab_size: int, max_chars: int = 3_000_000):
    """A byte-level BPE trained on (a deterministic prefix of) the documents."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts, got = [], 0
    for d in docs:
        texts.append(d.text)
        got += len(d.text)
        if got >= max_chars:
            break
    tok.train_from_iterator(texts, trainer)
    if tok.token_to_id(EOT) != 0:
        raise MdaError("tokenizer must map <|endoftext|> to id 0")
    return tok


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:
        raise MdaError(f"corrupt tokenizer file {path}: {exc}") from exc


@dataclass(frozen=True)
class RepeatRows:
    """Share of stream rows that are one uniform-random segment tiled over the row."""

    share: float = 0.0
    min_len: int = 6
    max_len: int = 32

    def validate(self, ctx: int) -> None:
        if not 0 <= self.share < 1:
            raise MdaError(f"repeat-row share must be in [0, 1), got {self.share}")
        if self.share > 0 and not 2 <= self.min_len <= self.max_len <= ctx // 2:
            raise MdaError(f"repeat-row lengths need 2 <= min_len <= max_len <= ctx/2 = {ctx // 2}")


def repeat_row(rng: np.random.Generator, spec: RepeatRows, vocab_size: int, ctx: int) -> np.ndarray:
    """One repeat row: a segment of uniform tokens in [1, V) (never <|endoftext|>), tiled.

    The length varies row to row so that no fixed-offset (positional) head can copy it.
    """
    length = int(rng.integers(spec.min_len, spec.max_len + 1))
    return np.resize(rng.integers(1, vocab_size, length), ctx).astype(np.int32)


@dataclass
class TokenStream:
    chunks: np.ndarray  # [n_chunks, ctx] int32 token ids
    chunk_cats: np.ndarray  # [n_chunks, n_categories] int32 tokens of each category
    chunk_doc_ptr: np.ndarray  # [n_chunks + 1] offsets into chunk_doc_ids
    chunk_doc_ids: np.ndarray  # document ids overlapping each chunk
    order: np.ndarray  # [n_rows] chunk index of each stream row
    heldout: np.ndarray  # [n_heldout, ctx] natural text never trained on (ICL score)

    @property
    def ctx(self) -> int:
        return int(self.chunks.shape[1])

    @property
    def n_rows(self) -> int:
        return int(self.order.shape[0])

    def step_rows(self, step: int, batch_size: int) -> np.ndarray:
        """Row ids trained at `step`: [step*B, (step+1)*B)."""
        return np.arange(step * batch_size, (step + 1) * batch_size)

    def rows(self, row_ids: np.ndarray) -> np.ndarray:
        """Token ids of stream rows, [len(row_ids), ctx]."""
        return self.chunks[self.order[np.asarray(row_ids)]]

    def is_repeat_row(self, row_ids: np.ndarray) -> np.ndarray:
        """True for synthetic repeat rows (chunks with no source document)."""
        c = self.order[np.asarray(row_ids)]
        return self.chunk_doc_ptr[c + 1] == self.chunk_doc_ptr[c]

    def row_category_counts(self, row_ids) -> np.ndarray:
        """[n, categories]: tokens of each category in each row (from the documents' labels)."""
        return self.chunk_cats[self.order[np.asarray(row_ids)]]

    def row_docs(self, row_id: int) -> list[int]:
        c = int(self.order[row_id])
        return self.chunk_doc_ids[self.chunk_doc_ptr[c] : self.chunk_doc_ptr[c + 1]].tolist()

    def row_categories(self, row_id: int) -> dict[str, int]:
        counts = self.chunk_cats[self.order[row_id]]
        return {c: int(n) for c, n in zip(CATEGORIES, counts) if n}

    def save(self, path: Path) -> None:
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> TokenStream:
        try:
            with np.load(path) as z:
                return cls(**{k: z[k] for k in cls.__dataclass_fields__})
        except Exception as exc:
            raise MdaError(f"corrupt token stream {path}: {exc}") from exc


def build_stream(
    docs: list[Document],
    tok,
    ctx: int,
    n_rows: int,
    seed: int,
    n_heldout: int = 64,
    repeat: RepeatRows = RepeatRows(),
) -> TokenStream:
    """Tokenize `docs`, hold out natural text for ICL, chunk the rest, order `n_rows` rows.

    With `repeat.share` > 0, each row is independently (seeded) a fresh repeat row with that
    probability; the document chunks fill the other rows in their seeded order.
    """
    repeat.validate(ctx)
    cat_index = {c: i for i, c in enumerate(CATEGORIES)}
    encoded = tok.encode_batch([d.text for d in docs])
    # Hold out natural documents from the end of the (already shuffled) list until n_heldout
    # rows of ctx tokens are filled; they never enter training.
    held_ids: list[int] = []
    need = n_heldout * ctx
    for i in range(len(docs) - 1, -1, -1):
        if need <= 0:
            break
        if docs[i].category in NATURAL:
            held_ids.append(i)
            need -= len(encoded[i].ids) + 1
    held = set(held_ids)
    held_tokens = [t for i in sorted(held) for t in encoded[i].ids + [0]]
    heldout = np.array(held_tokens[: (len(held_tokens) // ctx) * ctx], dtype=np.int32)
    heldout = heldout.reshape(-1, ctx)[:n_heldout]
    if len(heldout) == 0:
        raise MdaError(
            f"corpus has too little prose or code to hold out one row of {ctx} tokens for the ICL "
            "score (outside text is labelled by the content classifier; add natural text)"
        )

    tokens: list[int] = []
    tok_doc: list[int] = []
    for i in range(len(docs)):
        if i in held:
            continue
        ids = encoded[i].ids + [0]
        tokens += ids
        tok_doc += [i] * len(ids)
    n_chunks = len(tokens) // ctx
    if n_chunks < 2:
        raise MdaError(f"corpus too small: {len(tokens)} tokens make fewer than 2 rows of {ctx}")
    chunks = np.array(tokens[: n_chunks * ctx], dtype=np.int32).reshape(n_chunks, ctx)
    doc_of = np.array(tok_doc[: n_chunks * ctx], dtype=np.int64).reshape(n_chunks, ctx)
    cat_of_doc = np.array([cat_index[d.category] for d in docs], dtype=np.int64)
    cats = np.zeros((n_chunks, len(CATEGORIES)), dtype=np.int32)
    ptr, ids = [0], []
    for c in range(n_chunks):
        cats[c] = np.bincount(cat_of_doc[doc_of[c]], minlength=len(CATEGORIES))
        uniq = np.unique(doc_of[c])
        ids.extend(uniq.tolist())
        ptr.append(len(ids))
    rng = np.random.default_rng(seed)
    # A separate generator for repeat rows, so the document order is the same function of
    # the seed whatever the share.
    rrng = np.random.default_rng([seed, 1])
    is_rep = rrng.random(n_rows) < repeat.share
    n_rep, n_nat = int(is_rep.sum()), int((~is_rep).sum())
    epochs = max(1, -(-n_nat // n_chunks))
    order = np.empty(n_rows, dtype=np.int64)
    order[~is_rep] = np.concatenate([rng.permutation(n_chunks) for _ in range(epochs)])[:n_nat]
    order[is_rep] = n_chunks + np.arange(n_rep)
    if n_rep:
        vocab = tok.get_vocab_size()
        synth = np.stack([repeat_row(rrng, repeat, vocab, ctx) for _ in range(n_rep)])
        chunks = np.concatenate([chunks, synth])
        rep_cats = np.zeros((n_rep, len(CATEGORIES)), dtype=np.int32)
        rep_cats[:, cat_index["repetitive"]] = ctx
        cats = np.concatenate([cats, rep_cats])
        ptr += [ptr[-1]] * n_rep  # no source document
    return TokenStream(
        chunks=chunks,
        chunk_cats=cats,
        chunk_doc_ptr=np.array(ptr, dtype=np.int64),
        chunk_doc_ids=np.array(ids, dtype=np.int64),
        order=order.astype(np.int64),
        heldout=heldout,
    )


def stream_summary(stream: TokenStream) -> dict:
    """Row counts and the token share of each category over the rows actually trained."""
    tot = stream.chunk_cats[stream.order].sum(0)
    rep = stream.is_repeat_row(np.arange(stream.n_rows))
    n_doc_chunks = int((np.diff(stream.chunk_doc_ptr) > 0).sum())
    return {
        "chunks": n_doc_chunks,
        "rows": stream.n_rows,
        "repeat_rows": int(rep.sum()),
        "epochs": round(int((~rep).sum()) / max(1, n_doc_chunks), 3),
        "token_share": {c: round(float(t / tot.sum()), 4) for c, t in zip(CATEGORIES, tot)},
    }
