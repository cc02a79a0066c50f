import hashlib

import numpy as np
import pytest

from mda_bench.corpus import CorpusConfig, build_corpus
from mda_bench.errors import MdaError
from mda_bench.stream import RepeatRows, build_stream, train_tokenizer


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
    rep = s.is_repeat_row(np.arange(s.n_rows))
    assert 0 < rep.sum() < s.n_rows  # micro has a share of repeat rows
    for r in range(40):
        cats = s.row_categories(r)
        if rep[r]:  # synthetic: all tokens repetitive, no source document
            assert cats == {"repetitive": s.ctx} and s.row_docs(r) == []
        else:
            assert set(cats) <= {docs[i].category for i in s.row_docs(r)} and s.row_docs(r)


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


def test_repeat_rows_are_tiled_uniform_segments_and_leave_document_order_alone():
    docs = build_corpus(CorpusConfig(n_chars=40_000))
    tok = train_tokenizer(docs, 300)
    spec = RepeatRows(share=0.3, min_len=4, max_len=12)
    plain = build_stream(docs, tok, 32, 2000, seed=3)
    mixed = build_stream(docs, tok, 32, 2000, seed=3, repeat=spec)
    again = build_stream(docs, tok, 32, 2000, seed=3, repeat=spec)
    assert np.array_equal(mixed.rows(np.arange(2000)), again.rows(np.arange(2000)))
    rep = mixed.is_repeat_row(np.arange(2000))
    assert abs(rep.mean() - 0.3) < 0.05
    # the document rows come in the same order as without repeat rows
    n_nat = int((~rep).sum())
    assert np.array_equal(mixed.order[~rep], plain.order[:n_nat])
    periods = []
    for row in mixed.rows(np.flatnonzero(rep)):
        assert (row > 0).all()  # never <|endoftext|>
        period = next(p for p in range(4, 13) if np.array_equal(row[p:], row[:-p]))
        periods.append(period)
    assert len(set(periods)) > 4  # varying lengths: no fixed offset to copy from
    assert len(np.unique(mixed.rows(np.flatnonzero(rep)), axis=0)) == rep.sum()  # all fresh


@pytest.mark.parametrize(
    "spec", [RepeatRows(share=1.0), RepeatRows(share=0.2, min_len=1), RepeatRows(0.2, 8, 40)]
)
def test_bad_repeat_rows_are_refused(spec):
    with pytest.raises(MdaError):
        spec.validate(64)
