import numpy as np

from mda_bench.augment import (
    Template,
    extract_template,
    extract_templates,
    fill,
    generate,
    line_skeleton,
    load_generator,
    synthetic_rows,
    token_period,
    word_pool,
)

WORDS = ("alpha", "beta", "gamma", "delta")


def test_token_period_finds_the_smallest_tiling():
    seg = np.array([5, 9, 2, 7])
    assert token_period(np.resize(seg, 30)) == 4
    assert token_period(np.resize(np.array([3, 3]), 10)) == 1
    assert token_period(np.arange(20)) == 0


def test_line_skeletons_keep_structure_and_cut_values():
    assert (
        line_skeleton('<row id="17"><name>foo</name></row>') == '<row id="{NUM2}"><name>{WORD}</name></row>'
    )
    assert line_skeleton(r"\textbf{x} & 3.25 & y \\") == r"\textbf{{{WORD}}} & {NUM1}.{NUM2} & {WORD} \\"
    assert line_skeleton("port = 8080") == "port = {NUM4}"
    assert line_skeleton("timeout: 30 seconds") == "timeout: {NUM2} {WORD}"


def test_templates_from_hand_made_rows_and_fresh_generation():
    rows = [np.resize(np.array([4, 8, 15]), 24), np.arange(24), np.resize(np.array([1, 2, 3]), 24)]
    texts = ["", '<a href="x1">link</a>\n<a href="x2">more</a>', ""]
    ts = extract_templates(np.stack(rows), texts, row_ids=[10, 11, 12])
    assert [t.kind for t in ts] == ["repeat", "lines"]  # the two period-3 rows share one template
    assert ts[0].period == 3 and ts[0].source_row == 10
    assert ts[1].lines == ('<a href="{WORD}">{WORD}</a>', '<a href="{WORD}">{WORD}</a>')  # "x1" is one word
    rng = np.random.default_rng(0)
    new = generate(ts[0], rng, WORDS, vocab_size=100, ctx=24)
    assert token_period(new) == 3 and not np.array_equal(new, rows[0]) and (new > 0).all()
    doc = generate(ts[1], np.random.default_rng(1), WORDS, 100, 24)
    assert doc.count("<a href=") == 2 and all(w in WORDS for w in [doc.split('">')[1].split("<")[0]])
    assert extract_template(np.arange(24), doc).lines == ts[1].lines  # same structure, new content
    again = generate(ts[1], np.random.default_rng(1), WORDS, 100, 24)
    assert doc == again  # seeded
    assert fill("{NUM3}", np.random.default_rng(2), WORDS).isdigit() and len(fill("{NUM3}", rng, WORDS)) == 3


class _CharTokenizer:
    """A stand-in tokenizer: one id per character (ord % 97 + 1), for packing tests."""

    class _Enc:
        def __init__(self, ids):
            self.ids = ids

    def encode(self, text):
        return self._Enc([ord(c) % 97 + 1 for c in text])


def test_whitespace_rows_give_no_template():
    ts = extract_templates(np.stack([np.arange(24)]), ["  \n \n"])
    assert ts == []


def test_word_pool_is_sorted_and_distinct():
    assert word_pool(["b a bb", "aa bb x9 cc"]) == ("aa", "bb", "cc")


def test_synthetic_rows_pack_documents_and_tile_repeats():
    ts = [Template("repeat", period=5), Template("lines", lines=("<p>{WORD}</p>",))]
    rows = synthetic_rows(ts, 40, seed=3, tokenizer=_CharTokenizer(), words=WORDS, vocab_size=100, ctx=16)
    assert rows.shape == (40, 16) and rows.dtype == np.int32
    periodic = [token_period(r) == 5 for r in rows]
    assert 5 < sum(periodic) < 35  # both templates drawn
    packed = rows[[not p for p in periodic]]
    assert (packed == 0).any()  # documents separated by end-of-text, as in the stream
    again = synthetic_rows(ts, 40, seed=3, tokenizer=_CharTokenizer(), words=WORDS, vocab_size=100, ctx=16)
    other = synthetic_rows(ts, 40, seed=4, tokenizer=_CharTokenizer(), words=WORDS, vocab_size=100, ctx=16)
    assert np.array_equal(rows, again) and not np.array_equal(rows, other)


def test_generator_hook_replaces_the_filler_and_is_checked():
    import pytest

    from mda_bench.errors import MdaError

    def shout(template, rng, words, vocab_size, ctx):  # a stand-in for an LLM-backed generator
        return "HELLO " * int(rng.integers(1, 4))

    ts = [Template("repeat", period=5)]
    rows = synthetic_rows(ts, 6, 0, _CharTokenizer(), WORDS, 100, 16, generator=shout)
    assert rows.shape == (6, 16) and not any(token_period(r) == 5 for r in rows)  # text packed, no tiling
    with pytest.raises(ValueError, match="16 ids"):
        synthetic_rows(ts, 2, 0, _CharTokenizer(), WORDS, 100, 16, generator=lambda *a: np.zeros(3))
    assert load_generator("mda_bench.augment:generate") is generate
    with pytest.raises(MdaError, match="cannot load"):
        load_generator("mda_bench.augment:nope")
    with pytest.raises(MdaError, match="MODULE:FUNCTION"):
        load_generator("generate")
