"""Official-checkpoint revisions from a plain folder and from a Hugging Face cache layout."""

import numpy as np
import pytest
import torch

from mda_bench.checkpoints import cache_folder, checkpoint_records, find_revisions, load_revision
from mda_bench.errors import MdaError
from mda_bench.heads import make_probe, probe_model
from mda_bench.model import build_model
from mda_bench.scales import ModelConfig, ProbeConfig

SIZE = ModelConfig(n_layers=2, d_model=64, n_heads=2, ctx=64, vocab_size=512)
STEPS = (0, 1, 1000)


@pytest.fixture(scope="module")
def models():
    """Three 'revisions': a small GPT-NeoX at three inits."""
    return {step: build_model(SIZE, seed).eval() for seed, step in enumerate(STEPS)}


@pytest.fixture(scope="module")
def plain(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    for step, model in models.items():
        model.save_pretrained(root / f"step{step}")
    return root


@pytest.fixture(scope="module")
def hub_cache(models, tmp_path_factory):
    """The hub cache layout: refs/stepN -> commit, snapshots/<commit>/ (files there are links
    into blobs/ in a real cache; plain files work the same for the reader)."""
    root = tmp_path_factory.mktemp("hub")
    folder = cache_folder(root, "EleutherAI/pythia-14m")
    for step, model in models.items():
        commit = f"{step:040x}"
        model.save_pretrained(folder / "snapshots" / commit)
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / f"step{step}").write_text(commit)
    (folder / "refs" / "main").write_text("f" * 40)  # other refs are ignored
    return root


def test_both_layouts_find_every_revision(plain, hub_cache):
    assert list(find_revisions(plain)) == list(STEPS)
    assert list(find_revisions(hub_cache, "EleutherAI/pythia-14m")) == list(STEPS)
    assert list(find_revisions(cache_folder(hub_cache, "EleutherAI/pythia-14m"))) == list(STEPS)


def test_a_revision_loads_to_the_same_model(plain, models):
    probe = make_probe(SIZE.vocab_size, ProbeConfig(n_seqs=4, half=8))
    loaded = load_revision(find_revisions(plain)[1000], expect=SIZE)
    assert torch.allclose(loaded(probe).logits, models[1000](probe).logits, atol=1e-5)


def test_records_hold_the_head_scores_of_every_revision(hub_cache, models):
    probe = make_probe(SIZE.vocab_size, ProbeConfig(n_seqs=4, half=8))
    revisions = find_revisions(hub_cache, "EleutherAI/pythia-14m")
    heldout = torch.randint(1, SIZE.vocab_size, (4, SIZE.ctx), generator=torch.Generator().manual_seed(0))
    records = checkpoint_records(revisions, probe, expect=SIZE, heldout=heldout)
    assert [r["step"] for r in records] == list(STEPS)
    want = probe_model(models[1], probe)["induction"]
    assert np.allclose(records[1]["induction"], want, atol=1e-5)
    assert all("icl_score" in r and "heldout_loss" in r for r in records)


def test_bad_checkpoint_folders_are_one_line(plain, tmp_path):
    with pytest.raises(MdaError, match="does not exist"):
        find_revisions(tmp_path / "none")
    with pytest.raises(MdaError, match="no stepN revisions"):
        find_revisions(tmp_path)
    (tmp_path / "step5").mkdir()
    with pytest.raises(MdaError, match="revision step5 .* has no config.json and weights"):
        find_revisions(tmp_path)
    other = ModelConfig(n_layers=6, d_model=128, n_heads=4, ctx=2048, vocab_size=50304)
    with pytest.raises(MdaError, match="is it another model size"):
        load_revision(find_revisions(plain)[0], expect=other)
