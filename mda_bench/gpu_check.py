"""The GPU check: one short script that says whether the CUDA path is right, and how fast it is.

`python -m mda_bench.gpu_check --out FILE` (or `scripts/gpu-check.sh`) on a machine with one
GPU, in a few minutes:

1. `micro` trained on the CPU and on CUDA at fp32 (same seeds, same data): the head scores of
   every checkpoint agree to 1e-3;
2. two CUDA runs of `micro` give identical weights and records (the determinism settings hold);
3. at Pythia-14m shapes (random weights, context 2,048) training throughput (tokens/s) and peak
   memory at fp32 and bf16, eager attention vs SDPA;
4. EK-FAC on one split head at those shapes: factor fitting and scoring throughput (rows/s) at
   fp32 and bf16, and the Spearman correlation of the bf16 and fp32 scores over the same rows;
5. two `micro` branches through Ray on the device equal the same branches run serially
   (mda_bench/ray_check.py; skipped, and said so, where Ray is not installed).

Every number goes into one JSON file; a table is printed. `--quick` runs the same code at toy
shapes on any device (the test suite runs it on the CPU), so the script itself is tested.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .device import Runtime, deterministic, facts, resolve
from .scales import ModelConfig, ProbeConfig, get_scale

HEAD_TOL = 1e-3  # CPU vs CUDA head scores at fp32 (the bar)


def _micro_run(device: str, store_root: Path, data_root: Path) -> tuple[list[dict], dict]:
    """Train `micro` on `device` (data built once on the CPU); its records and final weights."""
    from safetensors.torch import load_file

    from .pipeline import prepare_data, train_stage
    from .store import Store

    rt = resolve(device)
    scale = dataclasses.replace(get_scale("micro"), runtime=rt)
    data = prepare_data(scale, Store(data_root), log=lambda m: None)
    run = train_stage(scale, Store(store_root), data, progress=False)
    last = sorted((run.path / "ckpt").glob("step-*"))[-1]
    return run.records, load_file(str(last / "model.safetensors"))


def _head_gap(a: list[dict], b: list[dict]) -> float:
    """Largest |difference| of any head score (induction, previous-token) at any checkpoint."""
    gaps = [
        float(np.max(np.abs(np.array(x[k]) - np.array(y[k]))))
        for x, y in zip(a, b, strict=True)
        for k in ("induction", "previous-token")
    ]
    return max(gaps)


def check_micro(device: str) -> dict:
    """Items 1 and 2: CPU vs `device` at fp32, and `device` twice."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cpu, w0 = _micro_run("cpu", root / "cpu", root / "data")
        t0 = time.perf_counter()
        dev1, w1 = _micro_run(device, root / "dev1", root / "data")
        seconds = time.perf_counter() - t0
        dev2, w2 = _micro_run(device, root / "dev2", root / "data")
    gap = _head_gap(cpu, dev1)
    # a distinct computation, not the CPU's numbers again: the weights differ by rounding
    wgap = max(float((w0[k] - w1[k]).abs().max()) for k in w0)
    same = w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1) and dev1 == dev2
    return {
        "micro_head_gap_vs_cpu": gap,
        "micro_head_gap_ok": gap <= HEAD_TOL,
        "micro_weight_gap_vs_cpu": wgap,
        "micro_heldout_loss_gap_vs_cpu": abs(cpu[-1]["heldout_loss"] - dev1[-1]["heldout_loss"]),
        "micro_repeat_identical": bool(same),
        "micro_train_seconds": round(seconds, 2),
    }


def _shapes(quick: bool) -> tuple[ModelConfig, int, int]:
    """(model, rows per step, micro-batch): Pythia-14m at context 2,048, or toy shapes."""
    if quick:
        return ModelConfig(n_layers=2, d_model=32, n_heads=2, ctx=64, vocab_size=300), 8, 4
    return dataclasses.replace(get_scale("pythia-14m").model, ctx=2048), 32, 8


def _sync(rt: Runtime) -> None:
    if rt.device == "cuda":
        torch.cuda.synchronize()


def _peak_gb(rt: Runtime) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if rt.device == "cuda" else None


def train_throughput(
    cfg: ModelConfig, rows: int, rt: Runtime, steps: int = 5, warmup: int = 2, compile: bool = False
) -> dict:
    """Tokens/s of full training steps (forward, backward, clip, AdamW) and peak memory;
    `compile` runs the transformer body under torch.compile (in place: same parameter names)."""
    from .model import build_model
    from .train import make_optimizer, train_step

    deterministic(rt)
    train = get_scale("pythia-14m").train
    model = build_model(cfg, 0, attention=rt.attention).to(rt.device).train()
    opt = make_optimizer(model, train)
    if compile:
        model.gpt_neox.compile()
    g = np.random.default_rng(0)
    toks = g.integers(1, cfg.vocab_size, (rows, cfg.ctx + 1)).astype(np.int64)[:, : cfg.ctx]
    w = np.ones(rows, np.float32)
    batch = dataclasses.replace(train, batch_size=rows)
    if rt.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        train_step(model, opt, toks, w, batch, rt)
    _sync(rt)
    t0 = time.perf_counter()
    for _ in range(steps):
        losses = train_step(model, opt, toks, w, batch, rt)
    _sync(rt)
    dt = (time.perf_counter() - t0) / steps
    return {
        "tokens_per_s": round(rows * cfg.ctx / dt),
        "rows_per_s": round(rows / dt, 2),
        "peak_gb": _peak_gb(rt),
        "loss": round(float(losses.mean()), 4),
    }


def scoring(cfg: ModelConfig, n_rows: int, rt: Runtime, batch: int) -> tuple[np.ndarray, dict]:
    """EK-FAC on head L1H0 of a random-weight model: fit on `n_rows` rows, score the same rows."""
    from .attribution.score import HeadInfluence, InfluenceConfig
    from .heads import make_probe
    from .model import build_model

    deterministic(rt)
    model = build_model(cfg, 0, attention=rt.attention).to(rt.device).eval()
    rows = np.random.default_rng(1).integers(1, cfg.vocab_size, (n_rows, cfg.ctx)).astype(np.int64)
    probe = make_probe(cfg.vocab_size, ProbeConfig())
    icfg = InfluenceConfig(factor_batch_size=batch, score_batch_size=batch, max_fit_rows=0)
    if rt.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with HeadInfluence(model, 1, 0, icfg, runtime=rt) as hi:
        t0 = time.perf_counter()
        hi.fit(rows)
        _sync(rt)
        t1 = time.perf_counter()
        scores = hi.score(rows, probe)
        _sync(rt)
        t2 = time.perf_counter()
    return scores, {
        "fit_rows_per_s": round(n_rows / (t1 - t0), 2),
        "score_rows_per_s": round(n_rows / (t2 - t1), 2),
        "peak_gb": _peak_gb(rt),
    }


def _guarded(fn, *args, **kw):
    """fn's result, or {"error": ...}: one failed measurement must not lose the others (the
    check runs once, on borrowed GPU time)."""
    try:
        return fn(*args, **kw)
    except Exception as exc:  # recorded in the JSON and shown in the table
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def run_check(device: str, quick: bool, log=print, save=None) -> dict:
    """Everything above, as one dict (the JSON file's content). `save(result)` is called before
    the Ray item, so a Ray that hangs (it starts daemons) cannot lose items 1-4."""
    from scipy.stats import spearmanr

    base = resolve(device)
    out: dict = {"quick": quick, "runtime": facts(base)}
    log("1-2. micro: CPU vs device, and the device twice ...")
    out.update(_guarded(check_micro, base.device))
    cfg, rows, micro = _shapes(quick)
    out["shapes"] = {"model": dataclasses.asdict(cfg), "rows_per_step": rows, "micro_batch": micro}
    out["train"] = {}
    # (precision, attention, cross-entropy chunk, micro-batch multiple, torch.compile)
    variants = [(p, a, 0, 1, False) for p in ("fp32", "bf16") for a in ("eager", "sdpa")]
    variants += [
        ("bf16", "sdpa", 512, 1, False),
        ("bf16", "sdpa", 512, 4, False),
        ("bf16", "sdpa", 512, 4, True),
    ]
    if base.device == "cpu":  # torch's bf16 SDPA kernel on the CPU needs AVX-512 (the CLI pins AVX2)
        variants = [v for v in variants if v[:2] != ("bf16", "sdpa")]
    for precision, attention, chunk, mult, comp in variants:
        rt = dataclasses.replace(
            base, precision=precision, attention=attention, micro_batch=micro * mult, ce_chunk=chunk
        )
        name = f"{precision}-{attention}" + (f"-ce{chunk}" if chunk else "")
        name += (f"-mb{micro * mult}" if mult > 1 else "") + ("-compile" if comp else "")
        log(f"3. training throughput, {name} ...")
        out["train"][name] = _guarded(train_throughput, cfg, rows * mult, rt, compile=comp)
    n_score = 32 if quick else 256
    out["scoring"], scores = {}, {}
    for precision in ("fp32", "bf16"):
        rt = dataclasses.replace(base, precision=precision)
        log(f"4. EK-FAC fit and score of {n_score} rows, {precision} ...")
        got = _guarded(scoring, cfg, n_score, rt, batch=micro)
        if isinstance(got, tuple):
            scores[precision], out["scoring"][precision] = got
        else:
            out["scoring"][precision] = got
    if len(scores) == 2:
        rho = spearmanr(scores["fp32"], scores["bf16"])[0]
        out["scoring"]["bf16_vs_fp32_spearman"] = round(float(rho), 4)
    from .ray_check import check_ray_branches

    if save is not None:
        save(out)
    log("5. two micro branches through Ray vs serially ...")
    out["ray"] = _guarded(check_ray_branches, base.device)
    return out


def table(result: dict) -> str:
    """The throughput part of a result as plain tables (tabulate)."""
    from tabulate import tabulate

    def row(name: str, r: dict, keys: tuple[str, ...]) -> list:
        return [name, *(r.get(k) for k in keys), r.get("error", "")]

    keys = ("tokens_per_s", "rows_per_s", "peak_gb")
    lines = [row(name, r, keys) for name, r in result["train"].items()]
    train = tabulate(lines, headers=["train", "tokens/s", "rows/s", "peak GiB", "error"])
    sc = result["scoring"]
    keys = ("fit_rows_per_s", "score_rows_per_s", "peak_gb")
    lines = [row(p, sc[p], keys) for p in ("fp32", "bf16")]
    score = tabulate(lines, headers=["EK-FAC", "fit rows/s", "score rows/s", "peak GiB", "error"])
    return f"{train}\n\n{score}\nbf16 vs fp32 influence Spearman: {sc.get('bf16_vs_fp32_spearman')}"


def _write(path: Path, result: dict) -> None:
    """The JSON file, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mda_bench.gpu_check", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file the numbers go to")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu", "auto"))
    ap.add_argument("--quick", action="store_true", help="toy shapes (any device): tests the script")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before the first cuBLAS call
    result = run_check(
        args.device, args.quick, log=lambda m: print(m, flush=True), save=lambda r: _write(args.out, r)
    )
    result["seconds"] = round(time.perf_counter() - t0, 1)
    _write(args.out, result)
    print(table(result))
    ok = bool(result.get("micro_head_gap_ok")) and bool(result.get("micro_repeat_identical"))
    parts = [*result["train"].values(), *result["scoring"].values()]
    ok = ok and not any(isinstance(r, dict) and "error" in r for r in parts)
    ray_result = result.get("ray", {})
    ok = ok and (ray_result.get("ray_branches_identical") is True or "ray_skipped" in ray_result)
    print(
        f"micro CPU vs {result['runtime']['device']}: max head gap {result.get('micro_head_gap_vs_cpu')}; "
        f"repeat identical: {result.get('micro_repeat_identical')} {result.get('error', '')}"
    )
    print(f"Ray: {ray_result}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
