"""The device layer: runtime resolution, micro-batching, chunked cross-entropy, SDPA, store keys."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from mda_bench.device import Runtime, facts, resolve
from mda_bench.errors import MdaError
from mda_bench.heads import probe_model
from mda_bench.model import build_model
from mda_bench.pipeline import train_config, train_stage
from mda_bench.store import Store
from mda_bench.train import make_optimizer, row_losses, train_step


def _with(scale, **rt):
    return dataclasses.replace(scale, runtime=dataclasses.replace(scale.runtime, **rt))


def test_resolve_refuses_cuda_where_there_is_none_and_bad_values(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MdaError, match="no CUDA device"):
        resolve("cuda")
    with pytest.raises(MdaError, match="--device must be one of"):
        resolve("tpu")
    with pytest.raises(MdaError, match="--precision must be one of"):
        resolve("cpu", "fp16")
    with pytest.raises(MdaError, match="micro-batch"):
        resolve("cpu", micro_batch=-1)
    assert resolve("auto") == Runtime()  # auto without CUDA is the CPU default, eager attention
    assert resolve("cpu", "bf16").attention == "eager"


def test_runtime_enters_store_keys_only_off_the_cpu_default(micro, micro_data):
    base = train_config(micro, micro_data, 0, None)
    assert "runtime" not in base  # every run stored before the device layer keeps its key
    bf = train_config(_with(micro, precision="bf16"), micro_data, 0, None)
    mb = train_config(_with(micro, micro_batch=4), micro_data, 0, None)
    assert bf["runtime"].precision == "bf16" and mb["runtime"].micro_batch == 4
    # the scale itself (report config hashes): the runtime is out of its JSON at the default
    from mda_bench.store import canonical

    assert '"runtime"' not in canonical(micro) and '"runtime"' in canonical(_with(micro, precision="bf16"))
    assert facts(Runtime())["device"] == "cpu"

    # threads: in the key only off 1, so CUDA keys from before the field stay as they were
    def keyed(rt: Runtime) -> dict:
        return json.loads(canonical(rt.key_part()))["runtime"]

    assert "threads" not in keyed(_with(micro, precision="bf16").runtime)
    assert keyed(Runtime(threads=2))["threads"] == 2
    assert '"threads"' not in canonical(_with(micro, precision="bf16"))
    assert Runtime(threads=2).is_default  # the same computation, on another count
    with pytest.raises(MdaError, match="--threads must be >= 1"):
        Runtime(threads=0).validate()
    assert resolve("cpu", threads=3).threads == 3


def _one_step(micro, micro_data, rt: Runtime, weights: np.ndarray, n_rows: int = 8):
    cfg = dataclasses.replace(micro.train, batch_size=n_rows)
    model = build_model(micro.model, 0)
    opt = make_optimizer(model, cfg)
    toks = micro_data.stream.rows(np.arange(n_rows))
    for g in opt.param_groups:
        g["lr"] = 1e-3
    losses = train_step(model, opt, toks, weights.astype(np.float32), cfg, rt)
    return losses, {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("zero", [False, True])
def test_micro_batches_give_the_whole_batch_update(micro, micro_data, zero):
    """The step's accumulated gradient, which the update is a function of: compared after
    AdamW's first step, a weight whose gradient is near AdamW's eps (1e-8) moves by ~1e-6 for a
    rounding-level gradient difference (seen on an AMD EPYC, not on an Intel Xeon)."""
    w = np.ones(8)
    if zero:
        w[[2, 5]] = 0.0  # zero-weight rows stay exact under accumulation
    ref_losses, ref = _one_step(micro, micro_data, Runtime(), w)
    for mb in (1, 2, 4, 8):
        losses, got = _one_step(micro, micro_data, Runtime(micro_batch=mb), w)
        torch.testing.assert_close(losses, ref_losses, atol=1e-6, rtol=0)
        for name in ref:
            torch.testing.assert_close(got[name], ref[name], atol=1e-7, rtol=0, msg=name)
    # and the gradient is not the same as one without those rows' weight (the test can fail)
    _, other = _one_step(micro, micro_data, Runtime(micro_batch=2), np.r_[np.zeros(1), np.ones(7)])
    assert any(not torch.allclose(other[n], ref[n], atol=1e-5) for n in ref)


def test_micro_batches_keep_augmented_rows_beyond_the_batch(micro, micro_data):
    """A step with extra (augmented) rows: B = 6 regular rows plus 2 extra, in odd micro-batches."""
    cfg = dataclasses.replace(micro.train, batch_size=6)
    toks = micro_data.stream.rows(np.arange(8))
    out = []
    for mb in (0, 3):
        model = build_model(micro.model, 0)
        opt = make_optimizer(model, cfg)
        for g in opt.param_groups:
            g["lr"] = 0.0  # keep the accumulated gradient to compare (Adam's update amplifies
            # ~1e-9 differences on parameters whose gradient is near zero)
        train_step(model, opt, toks, np.ones(8, np.float32), cfg, Runtime(micro_batch=mb))
        out.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(out[0], out[1], atol=1e-6, rtol=0)
    assert out[0].abs().max() > 1e-3


def test_chunked_cross_entropy_equals_the_whole_row_and_its_gradient(micro, micro_data):
    model = build_model(micro.model, 0)
    tokens = torch.from_numpy(micro_data.stream.rows(np.arange(4)).astype(np.int64))

    def run(chunk):
        model.zero_grad()
        losses = row_losses(model, tokens, ce_chunk=chunk)
        losses.sum().backward()
        return losses.detach(), [p.grad.clone() for p in model.parameters()]

    ref, gref = run(0)
    for chunk in (7, 16, tokens.shape[1]):
        got, g = run(chunk)
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-6)
        for a, b in zip(g, gref):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_sdpa_training_reads_patterns_eagerly_and_matches_eager(micro, micro_data):
    probe = torch.randint(
        1, micro.model.vocab_size, (4, 2 * micro.probe.half), generator=torch.Generator().manual_seed(0)
    )
    eager = build_model(micro.model, 0)
    sdpa = build_model(micro.model, 0, attention="sdpa")
    a, b = probe_model(eager, probe), probe_model(sdpa, probe)
    np.testing.assert_allclose(a["induction"], b["induction"], atol=1e-6)
    assert sdpa.config._attn_implementation == "sdpa"  # switched back after the probe
    tokens = torch.from_numpy(micro_data.stream.rows(np.arange(4)).astype(np.int64))
    torch.testing.assert_close(row_losses(sdpa, tokens), row_losses(eager, tokens), atol=1e-5, rtol=0)


def test_bf16_training_keeps_fp32_master_weights(micro, micro_data, tmp_path):
    scale = _with(
        dataclasses.replace(micro, train=dataclasses.replace(micro.train, steps=4)), precision="bf16"
    )
    run = train_stage(scale, Store(tmp_path), micro_data, progress=False)
    ref = train_stage(
        dataclasses.replace(scale, runtime=Runtime()), Store(tmp_path), micro_data, progress=False
    )
    assert run.path != ref.path and run.manifest["precision"] == "bf16"
    from safetensors.torch import load_file

    w = load_file(str(run.path / "ckpt" / "step-000004" / "model.safetensors"))
    assert all(v.dtype == torch.float32 for v in w.values())
    # bf16 rounding moves the run, but not far from fp32 after 4 steps
    assert abs(run.records[-1]["heldout_loss"] - ref.records[-1]["heldout_loss"]) < 0.05
    assert run.records[-1]["heldout_loss"] != ref.records[-1]["heldout_loss"]


def test_summed_query_gradients_score_like_per_query_scores(micro):
    """Off the CPU default, kronfluence sums the probe's query gradients before scoring; the
    mean influence over probe sequences must not change (influence is linear in them)."""
    from mda_bench.attribution.score import InfluenceConfig, influence_scores
    from mda_bench.heads import make_probe

    model = build_model(micro.model, 0).eval()
    rows = np.random.default_rng(0).integers(1, micro.model.vocab_size, (16, micro.model.ctx))
    probe = make_probe(micro.model.vocab_size, micro.probe)
    cfg = InfluenceConfig(factor_batch_size=8, score_batch_size=8)
    ref = influence_scores(model, 1, 0, rows, probe, cfg)
    got = influence_scores(model, 1, 0, rows, probe, cfg, runtime=Runtime(micro_batch=4))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
    assert np.abs(ref).max() > 0


def test_gpu_check_script_runs_at_toy_shapes_on_the_cpu(tmp_path):
    """The GPU check's own code, at --quick shapes on the CPU: its JSON holds every number."""
    import json

    from mda_bench.gpu_check import main

    out = tmp_path / "gpu-check.json"
    assert main(["--device", "cpu", "--quick", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["micro_head_gap_vs_cpu"] == 0.0 and res["micro_repeat_identical"] is True
    assert set(res["train"]) == {"fp32-eager", "fp32-sdpa", "bf16-eager"}  # bf16 SDPA: CUDA only
    assert all(r["tokens_per_s"] > 0 for r in res["train"].values())
    assert res["scoring"]["bf16_vs_fp32_spearman"] > 0.9
    assert res["ray"] == {"ray_branches_identical": True, "ray_seconds": res["ray"]["ray_seconds"]}


def test_losses_captured_in_the_scoring_pass_match_a_forward_pass(micro):
    """Off the CPU default, attribution takes each row's loss from kronfluence's scoring pass
    instead of a forward pass of its own: the same losses, in row order, over several chunks."""
    from mda_bench.attribution.score import HeadInfluence, InfluenceConfig
    from mda_bench.heads import make_probe

    model = build_model(micro.model, 0).eval()
    rows = np.random.default_rng(1).integers(1, micro.model.vocab_size, (20, micro.model.ctx))
    probe = make_probe(micro.model.vocab_size, micro.probe)
    with HeadInfluence(model, 1, 0, InfluenceConfig(factor_batch_size=8, score_batch_size=8)) as hi:
        hi.fit(rows)
        plain = hi.score(rows, probe, chunk_rows=8)
        scores, losses = hi.score(rows, probe, chunk_rows=8, losses=True)
    with torch.no_grad():
        ref = row_losses(model, torch.from_numpy(rows)).double().numpy()
    np.testing.assert_allclose(losses, ref, atol=1e-5)
    np.testing.assert_allclose(scores, plain, rtol=1e-4, atol=1e-6 * np.abs(plain).max())
