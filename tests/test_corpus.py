import json

import pytest

from mda_bench.categories import CATEGORIES, classify
from mda_bench.corpus import CorpusConfig, build_corpus, category_shares, corpus_hash
from mda_bench.errors import MdaError


def test_embedded_corpus_is_deterministic_and_labelled():
    cfg = CorpusConfig(n_chars=60_000, seed=3)
    a, b = build_corpus(cfg), build_corpus(cfg)
    assert corpus_hash(a) == corpus_hash(b)
    assert corpus_hash(a) != corpus_hash(build_corpus(CorpusConfig(n_chars=60_000, seed=4)))
    assert {d.category for d in a} == set(CATEGORIES)
    shares = category_shares(a)
    for cat, frac in cfg.mixture.items():  # within 5 points of the configured mixture
        assert abs(shares[cat] - frac) < 0.05, (cat, shares[cat], frac)


def test_mixture_is_configurable():
    docs = build_corpus(CorpusConfig(n_chars=30_000, mixture={"prose": 1.0, "latex": 1.0}))
    shares = category_shares(docs)
    assert set(d.category for d in docs) == {"prose", "latex"}
    assert 0.4 < shares["latex"] < 0.6


@pytest.mark.parametrize("bad", [{"n_chars": 0}, {"mixture": {"poetry": 1.0}}, {"mixture": {"prose": -1.0}}])
def test_bad_corpus_config_is_refused(bad):
    with pytest.raises(MdaError):
        build_corpus(CorpusConfig(**bad))


def test_classifier_agrees_with_embedded_labels():
    docs = build_corpus(CorpusConfig(n_chars=200_000, seed=1))
    for cat in CATEGORIES:
        sub = [d for d in docs if d.category == cat]
        agree = sum(classify(d.text) == cat for d in sub) / len(sub)
        assert agree >= 0.8, (cat, agree)


def test_outside_corpus_from_local_files(tmp_path):
    (tmp_path / "a.txt").write_text("The quick brown fox jumps over the lazy dog. " * 3)
    rows = [
        {"text": "<ul>\n<li><a href='/x'>x</a></li>\n<li><a href='/y'>y</a></li>\n</ul>"},
        {"text": "def f(x):\n    return x + 1\n\nclass A:\n    pass\n"},
    ]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    docs = build_corpus(CorpusConfig(source=str(tmp_path), n_chars=10_000))
    assert sorted(d.category for d in docs) == ["code", "markup", "repetitive"]


def test_outside_corpus_parquet(tmp_path):
    import datasets

    datasets.Dataset.from_dict(
        {"body": ["\\begin{tabular}{ll}\n\\hline\na & b \\\\\n\\end{tabular}"]}
    ).to_parquet(str(tmp_path / "x.parquet"))
    docs = build_corpus(CorpusConfig(source=str(tmp_path / "x.parquet"), text_field="body"))
    assert [d.category for d in docs] == ["latex"]
    with pytest.raises(MdaError, match="no text field"):
        build_corpus(CorpusConfig(source=str(tmp_path / "x.parquet")))


def test_unreadable_corpus_path_is_a_clear_error(tmp_path):
    with pytest.raises(MdaError, match="does not exist"):
        build_corpus(CorpusConfig(source=str(tmp_path / "missing")))


def test_an_outside_corpus_is_keyed_by_the_classifier_version():
    """Its documents are labelled by the classifier: a rule change must not reuse old labels."""
    from dataclasses import replace

    from mda_bench.categories import CLASSIFIER_VERSION
    from mda_bench.pipeline import data_config
    from mda_bench.scales import get_scale

    tiny = get_scale("tiny")
    outside = replace(tiny, corpus=replace(tiny.corpus, source="/data/my-corpus"))
    assert "classifier" not in data_config(tiny, 0)  # embedded: labels from its generators
    assert data_config(outside, 0)["classifier"] == CLASSIFIER_VERSION
