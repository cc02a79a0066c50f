"""The natural-data setting: the tiny-natural scale, its registered sizes and the band probe."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mda_bench.cli.options import override
from mda_bench.errors import MdaError
from mda_bench.heads import band_probe, band_tokens, make_probe
from mda_bench.pipeline import prepare_data, train_stage
from mda_bench.probe_curves import band_curve, describe_probes, stream_token_counts
from mda_bench.protocol import registered
from mda_bench.scales import ProbeConfig, get_scale
from mda_bench.store import Store, canonical


def test_tiny_natural_validates_and_plants_nothing():
    sc = get_scale("tiny-natural")
    sc.validate()
    assert sc.repeat.share == 0
    assert sc.probe.band == (0.25, 0.75)
    # only the recipe differs from tiny: same model widths, tokenizer kind and lr schedule; the
    # data differ (trial N7 of docs/recipe.md): a larger vocabulary, longer rows, the same
    # 4,096 tokens a step
    tiny = get_scale("tiny")
    assert (sc.model.n_layers, sc.model.d_model, sc.model.n_heads) == (2, 64, 2)
    assert sc.train.lr == tiny.train.lr and sc.tokenizer == tiny.tokenizer
    assert (sc.model.vocab_size, sc.model.ctx) == (2048, 512)
    assert sc.model.ctx * sc.train.batch_size == tiny.model.ctx * tiny.train.batch_size
    assert sc.window_lead is not None and sc.window_start % sc.train.ckpt_every == 0


def test_scale_sizes_enter_the_registered_protocol_only_where_they_differ():
    from tasks import TASKS

    em = TASKS["emergence-modulation"]
    nat, tiny = get_scale("tiny-natural"), get_scale("tiny")
    assert registered(em, nat)["run"]["draws"] == nat.draws
    run = registered(em, tiny)["run"]
    assert (run["draws"], run["matched_draws"], run["noise_runs"]) == (2, 4, 2)  # task version 3
    assert registered(em, nat)["run"]["matched_draws"] == 2
    # the Scale's size fields and the probe band stay out of every existing key at their defaults
    smoke = get_scale("smoke")
    assert "draws" not in canonical(smoke) and "band" not in canonical(tiny.probe)
    assert '"band"' in canonical(nat.probe)


def test_band_tokens_on_a_hand_made_vocabulary():
    # id 0 is the special token; ids 1..8 with counts making the frequency order 8,7,...,1
    counts = np.array([1000, 1, 2, 3, 4, 5, 6, 7, 8])
    assert band_tokens(counts, (0.0, 0.25)).tolist() == [7, 8]  # the two most frequent
    assert band_tokens(counts, (0.25, 0.75)).tolist() == [3, 4, 5, 6]
    assert band_tokens(counts, (0.75, 1.0)).tolist() == [1, 2]
    # ties are broken by id, so the band is a function of the counts alone
    tied = np.array([0, 5, 5, 5, 5])
    assert band_tokens(tied, (0.0, 0.5)).tolist() == [1, 2]


def test_band_probe_draws_only_band_tokens_repeated_and_seeded():
    counts = np.array([0, *range(100, 0, -1)])  # token 1 most frequent ... token 100 least
    cfg = ProbeConfig(n_seqs=16, half=10, seed=3, band=(0.25, 0.75))
    p = band_probe(counts, cfg)
    assert p.shape == (16, 20)
    assert torch.equal(p[:, :10], p[:, 10:])
    assert set(p.unique().tolist()) <= set(range(26, 76))
    assert len(p.unique()) > 40  # drawn across the band, not one token
    assert torch.equal(p, band_probe(counts, cfg))
    assert not torch.equal(p, band_probe(counts, dataclasses.replace(cfg, seed=4)))
    with pytest.raises(ValueError, match="holds 1 tokens"):
        band_probe(np.array([0, 5, 4]), dataclasses.replace(cfg, band=(0.0, 0.5)))
    # the uniform probe is unchanged by the new field
    assert torch.equal(make_probe(101, cfg), make_probe(101, dataclasses.replace(cfg, band=(0.0, 0.0))))


def test_set_parses_the_band_and_refuses_a_bad_one():
    sc = override(get_scale("tiny"), None, ("probe.band=0.1,0.6",))
    assert sc.probe.band == (0.1, 0.6)
    for bad in ("probe.band=0.6,0.1", "probe.band=0.5", "probe.band=a,b"):
        with pytest.raises(MdaError, match="probe.band"):
            override(get_scale("tiny"), None, (bad,))


def test_a_micro_sized_tiny_natural_trains_and_reports_both_probes(tmp_path):
    sets = (
        "model.ctx=32",
        "model.d_model=32",
        "model.vocab_size=300",
        "train.steps=30",
        "train.warmup=5",
        "train.batch_size=8",
        "train.ckpt_every=10",
        "corpus.n_chars=120000",
        "probe.n_seqs=8",
        "probe.half=8",
    )
    sc = override(get_scale("tiny-natural"), None, sets)
    store = Store(tmp_path)
    data = prepare_data(sc, store, log=lambda m: None)
    assert not data.stream.is_repeat_row(np.arange(data.stream.n_rows)).any()
    run = train_stage(sc, store, data, init_seed=0, progress=False)
    assert run.records[-1]["step"] == 30
    counts = stream_token_counts(data.stream, 30 * 8, 300)
    assert counts.sum() == 30 * 8 * 32
    curve = band_curve(sc, counts, run.path)
    assert [r["step"] for r in curve] == [r["step"] for r in run.records]
    # the band probe reads other tokens than the unit's probe, so other scores
    assert curve[-1]["copy_logprob"] != run.records[-1]["copy_logprob"]
    lines = describe_probes(sc, data.stream, run.records, run.path)
    assert len(lines) == 2 and "`uniform`" in lines[0] and "`band`" in lines[1]
    assert "ranks 25%-75%" in lines[1]
