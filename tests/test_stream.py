import hashlib

import numpy as np

from mda_bench.corpus import CorpusConfig, build_corpus
from mda_bench.stream import build_stream, train_tokenizer


def _vocab_hash(tok) -> str:
    return hashlib.sha256(tok.to_str().encode()).hexdigest()


def test_tokenizer_is_deterministic_and_eot_is_zero():
    docs = build_corpus(CorpusConfig(n_chars=50_000))
    a, b = train_tokenizer(docs, 400), train_tokenizer(docs, 400)
    assert _vocab_hash(a) == _vocab_hash(b)
    assert a.get_vocab_size() == 400
    assert a.token_to_id("<|endoftext|>") == 0
    text = docs[0].text
    assert a.decode(a.encode(text).ids) == text  # byte-level: lossless


def test_row_identity_and_metadata(micro_data, micro):
    s = micro_data.stream
    B = micro.train.batch_size
    assert np.array_equal(s.step_rows(3, B), np.arange(3 * B, 4 * B))
    assert np.array_equal(s.rows(s.step_rows(3, B)), s.chunks[s.order[3 * B : 4 * B]])
    assert s.n_rows == micro.train.steps * B
    # every row's category counts add up to its tokens, and its documents are known
    assert (s.chunk_cats.sum(1) == s.ctx).all()
    docs = micro_data.documents()
    for r in range(5):
        cats = s.row_categories(r)
        assert set(cats) <= {docs[i].category for i in s.row_docs(r)}


def test_stream_order_is_seeded():
    docs = build_corpus(CorpusConfig(n_chars=40_000))
    tok = train_tokenizer(docs, 300)
    a = build_stream(docs, tok, 32, 500, seed=1)
    b = build_stream(docs, tok, 32, 500, seed=1)
    c = build_stream(docs, tok, 32, 500, seed=2)
    assert np.array_equal(a.order, b.order) and not np.array_equal(a.order, c.order)
    assert np.array_equal(a.chunks, c.chunks)  # only the order differs
    held = {tuple(r) for r in a.heldout}
    assert not held & {tuple(r) for r in a.chunks}  # held-out text is never trained on
