import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import torch_threads
from safetensors.torch import load_file

from mda_bench.device import Runtime
from mda_bench.model import build_model, n_params
from mda_bench.pipeline import train_stage
from mda_bench.scales import SCALES
from mda_bench.store import Store
from mda_bench.stream import TokenStream
from mda_bench.train import checkpoint_steps, lr_at, row_losses, train_run, weighted_loss


def _final_weights(run):
    return load_file(str(sorted((run.path / "ckpt").glob("step-*"))[-1] / "model.safetensors"))


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_schedule_and_lr(micro):
    cfg = dataclasses.replace(micro.train, steps=300, ckpt_every=100, log_until=64)
    assert checkpoint_steps(cfg) == [0, 1, 2, 4, 8, 16, 32, 64, 100, 200, 300]
    assert lr_at(0, cfg) == pytest.approx(cfg.lr / cfg.warmup)
    assert lr_at(cfg.warmup, cfg) == pytest.approx(cfg.lr)
    assert lr_at(cfg.steps, cfg) == pytest.approx(cfg.lr * cfg.min_lr_ratio)


def test_two_seeded_runs_are_identical_and_seeds_matter(micro, micro_data, tmp_path):
    a = train_stage(micro, Store(tmp_path / "a"), micro_data, progress=False)
    b = train_stage(micro, Store(tmp_path / "b"), micro_data, progress=False)
    c = train_stage(micro, Store(tmp_path / "c"), micro_data, init_seed=1, progress=False)
    assert _same(_final_weights(a), _final_weights(b))
    assert not _same(_final_weights(a), _final_weights(c))
    assert a.records == b.records
    assert [r["step"] for r in a.records] == checkpoint_steps(micro.train)


def test_interrupted_run_resumes_to_identical_weights(micro, micro_data, tmp_path):
    full = train_stage(micro, Store(tmp_path / "full"), micro_data, progress=False)
    store = Store(tmp_path / "resumed")
    assert train_stage(micro, store, micro_data, progress=False, stop_after=23) is None
    assert list((tmp_path / "resumed" / "train").glob("*.partial"))  # not taken as done
    resumed = train_stage(micro, store, micro_data, progress=False)
    assert _same(_final_weights(full), _final_weights(resumed))
    assert full.records == resumed.records


def test_finished_run_is_reused_not_retrained(micro, micro_data, tmp_path):
    store = Store(tmp_path)
    first = train_stage(micro, store, micro_data, progress=False)
    again = train_stage(micro, store, micro_data, progress=False)
    assert first.path == again.path and first.manifest == again.manifest
    assert torch.get_num_threads() == 2  # the suite's count (conftest) ...
    assert first.manifest["torch_threads"] == 1  # ... but a run trains on Runtime.threads


def test_one_and_two_threads_train_identical_weights(micro, micro_data, tmp_path):
    """StableLayerNorm keeps every reduction of a micro step thread-count independent: asked
    for 2 threads (another key), micro still trains the same bits as on the default 1."""
    one = train_stage(micro, Store(tmp_path / "one"), micro_data, progress=False)
    two_rt = dataclasses.replace(micro, runtime=Runtime(threads=2))
    two = train_stage(two_rt, Store(tmp_path / "two"), micro_data, progress=False)
    assert (one.manifest["torch_threads"], two.manifest["torch_threads"]) == (1, 2)
    assert one.key != two.key  # off the default, the count is part of the key
    assert one.manifest["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert _same(_final_weights(one), _final_weights(two))
    assert one.records == two.records


def _tiny_steps(tmp_path, runtime: Runtime) -> tuple[dict, set[int]]:
    """Three `tiny`-sized steps (64 rows of 64 tokens) on random tokens: the size at which MKL
    may split a weight gradient's sum over tokens between threads. Returns the weights and
    optimizer state after them, and the thread counts torch had at each step."""
    tiny = SCALES["tiny"]
    n, ctx = 3 * tiny.train.batch_size, tiny.model.ctx
    rng = np.random.default_rng(0)
    stream = TokenStream(
        chunks=rng.integers(0, tiny.model.vocab_size, (n, ctx)).astype(np.int32),
        chunk_cats=np.zeros((n, 1), np.int32),
        chunk_doc_ptr=np.zeros(n + 1, np.int64),
        chunk_doc_ids=np.zeros(0, np.int64),
        order=np.arange(n),
        heldout=rng.integers(0, tiny.model.vocab_size, (4, ctx)).astype(np.int32),
    )
    train = dataclasses.replace(tiny.train, steps=3, ckpt_every=3, log_until=0, eval_every=0)
    seen: set[int] = set()
    scale = dataclasses.replace(tiny, train=train, runtime=runtime)
    train_run(scale, stream, tmp_path, on_step=lambda step, loss: seen.add(torch.get_num_threads()))
    last = tmp_path / "ckpt" / "step-000003"
    return {**load_file(str(last / "model.safetensors")), **load_file(str(last / "optim.safetensors"))}, seen


def test_a_run_trains_on_its_pinned_thread_count_whatever_the_process_has(tmp_path):
    """Whether the thread count moves a `tiny` step's bits is MKL's choice per CPU (on one
    Intel Xeon 1 and 2 threads gave weight gradients 1e-9 apart, on an AMD EPYC the same bits;
    docs/determinism.md), so a run pins its count: started from a 1- and a 2-thread process it
    trains on Runtime.threads, gives the same weights and optimizer state, and hands the
    process its own count back."""
    with torch_threads(1):
        from_one, seen_one = _tiny_steps(tmp_path / "a", Runtime())
    with torch_threads(2):
        from_two, seen_two = _tiny_steps(tmp_path / "b", Runtime())
        assert torch.get_num_threads() == 2
        _, seen_asked = _tiny_steps(tmp_path / "c", Runtime(threads=2))
    assert (seen_one, seen_two, seen_asked) == ({1}, {1}, {2})
    assert _same(from_one, from_two)


def test_stable_layer_norm_matches_torch_and_loads_the_same_state(micro):
    from mda_bench.model import StableLayerNorm

    ref = torch.nn.LayerNorm(16)
    torch.nn.init.normal_(ref.weight)
    torch.nn.init.normal_(ref.bias)
    stable = StableLayerNorm(16)
    stable.load_state_dict(ref.state_dict())
    x = torch.randn(4, 7, 16)
    torch.testing.assert_close(stable(x), ref(x))
    model = build_model(micro.model, 0)
    assert not any(type(m) is torch.nn.LayerNorm for m in model.modules())
    assert sum(isinstance(m, StableLayerNorm) for m in model.modules()) == 2 * micro.model.n_layers + 1


def test_zero_weight_removes_exactly_that_rows_gradient(micro, micro_data):
    model = build_model(micro.model, 0)
    tokens = torch.from_numpy(micro_data.stream.rows(np.arange(8)).astype(np.int64))

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    w = torch.ones(8)
    w[3] = 0
    with_zero = grads(weighted_loss(row_losses(model, tokens), w))
    keep = [0, 1, 2, 4, 5, 6, 7]
    without = grads(row_losses(model, tokens[keep]).sum() / 8)
    full = grads(weighted_loss(row_losses(model, tokens), torch.ones(8)))
    for g0, g1 in zip(with_zero, without):
        torch.testing.assert_close(g0, g1, atol=1e-6, rtol=1e-5)
    assert any(not torch.allclose(g0, g2) for g0, g2 in zip(with_zero, full))


def test_zero_weight_rows_change_training_only_through_those_rows(micro, micro_data, tmp_path):
    weights = np.ones(micro_data.stream.n_rows, dtype=np.float32)
    weights[5] = 0.0
    base = train_stage(micro, Store(tmp_path), micro_data, progress=False)
    masked = train_stage(micro, Store(tmp_path), micro_data, weights=weights, progress=False)
    assert masked.path != base.path
    assert np.load(masked.path / "weights.npy")[5] == 0
    # step 0 checkpoint is shared (same init); the first update already differs
    assert base.records[0] == masked.records[0]
    assert base.records[1]["heldout_loss"] != masked.records[1]["heldout_loss"]


@pytest.mark.parametrize("name,expected", [("pythia-14m", 14_067_712), ("pythia-70m", 70_426_624)])
def test_pythia_configs_match_published_sizes(name, expected):
    cfg = SCALES[name].model
    with torch.device("meta"):
        model = build_model(cfg, 0)
    assert n_params(model) == expected


def test_eval_every_scores_between_checkpoints_without_weights(micro, micro_data, tmp_path):
    """eval_every adds scored steps with no weights behind them; the checkpoints, their weights
    and scores stay those of a run without it, and the key of a run without it is unchanged."""
    from mda_bench.pipeline import train_config
    from mda_bench.store import canonical, config_key

    dense = dataclasses.replace(micro, train=dataclasses.replace(micro.train, eval_every=5))
    base = train_stage(micro, Store(tmp_path), micro_data, progress=False)
    run = train_stage(dense, Store(tmp_path), micro_data, progress=False)
    assert run.path != base.path
    ckpt_steps = [r["step"] for r in base.records]
    assert [r["step"] for r in run.records if r.get("weights", True)] == ckpt_steps
    assert sorted(r["step"] for r in run.records) == sorted(set(ckpt_steps) | set(range(5, 41, 5)))
    assert (
        not (run.path / "ckpt" / "step-000005").exists() and (run.path / "ckpt" / "eval-000005.json").exists()
    )
    assert _same(_final_weights(run), _final_weights(base))
    by_step = {r["step"]: r for r in base.records}
    for r in run.records:
        if r["step"] in by_step:  # same scores (the train-loss mean covers a shorter span)
            assert r["induction"] == by_step[r["step"]]["induction"]
    # a field added later is out of the key at its default: stored runs keep their keys
    cfg = train_config(micro, micro_data, 0, None)
    assert "eval_every" not in canonical(cfg)
    assert config_key(cfg) == config_key(
        {**cfg, "train": {k: v for k, v in dataclasses.asdict(micro.train).items() if k != "eval_every"}}
    )


def test_a_stored_run_from_another_thread_count_is_refused_not_reused(micro, micro_data, tmp_path):
    """A store written before threads were pinned holds 2-thread runs under today's 1-thread
    keys: reusing one would mix two computations' bits, so it is refused with one line."""
    from mda_bench.errors import MdaError
    from mda_bench.store import read_json

    store = Store(tmp_path)
    run = train_stage(micro, store, micro_data, progress=False)
    manifest = read_json(run.path / "manifest.json")
    (run.path / "manifest.json").write_text(json.dumps({**manifest, "torch_threads": 2}))
    with pytest.raises(MdaError, match=r"computed on 2 CPU threads but its key means 1.*--threads 2"):
        train_stage(micro, store, micro_data, progress=False)
