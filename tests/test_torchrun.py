"""A claim launched by torchrun over two CPU processes (gloo) equals the one-process claim.

The ranks train the baseline and every branch together (mda_bench/ranks.py), rank 0 alone
writes the store and the report; their runs are keyed by the world size, and every number
agrees with one process to float rounding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FEW_DRAWS
from safetensors.numpy import load_file

from mda_bench.checkpoint_io import read_records

CLAIM = [
    "run",
    "random-null",
    "--scale",
    "micro",
    "--seeds",
    "1",
    *FEW_DRAWS,
]


def _launch(args: list[str], world: int, tmp: Path, name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    head = [sys.executable, "-m", "mda_bench"]
    if world > 1:
        head = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(world)]
        head += ["--standalone", "-m", "mda_bench"]  # --standalone: a free port of its own
    # one store for every launch: the data stage is shared, the runs are keyed by world size
    cmd = [*head, *args, "--store", str(tmp / "store"), "--reports", str(tmp / name / "reports")]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _runs(store: Path, stage: str, world: int) -> dict[str, tuple[Path, dict]]:
    """Finished runs of a stage trained by `world` processes, by what they are (their config
    without the world size and the baseline's key, which differs by world size too)."""
    out = {}
    for d in sorted((store / stage).iterdir()):
        assert not d.name.endswith(".partial"), d
        config = json.loads((d / "manifest.json").read_text())["config"]
        if config.get("world_size", 1) == world:
            what = {k: v for k, v in config.items() if k not in ("world_size", "baseline")}
            out[json.dumps(what, sort_keys=True)] = (d, config)
    return out


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("torchrun")
    return tmp, _launch(CLAIM, 1, tmp, "one"), _launch(CLAIM, 2, tmp, "two")


def test_two_ranks_write_one_report_with_the_single_process_verdict(launched):
    tmp, one, two = launched
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    verdict = [line for line in two.stdout.splitlines() if line.startswith("random-null:")]
    assert len(verdict) == 1  # rank 1 printed nothing
    assert verdict[0].replace("/two/", "/one/") in one.stdout
    assert sorted(p.name for p in (tmp / "two" / "reports" / "micro").iterdir()) == sorted(
        p.name for p in (tmp / "one" / "reports" / "micro").iterdir()
    )


@pytest.mark.parametrize("stage", ["train", "retrain"])
def test_two_ranks_train_every_run_as_one_process_does(launched, stage):
    tmp, one, two = launched
    single, ranked = _runs(tmp / "store", stage, 1), _runs(tmp / "store", stage, 2)
    assert single.keys() == ranked.keys() and single
    for what, (d1, c1) in single.items():
        d2, c2 = ranked[what]
        assert "world_size" not in c1 and c2["world_size"] == 2 and d1.name != d2.name
        r1, r2 = read_records(d1 / "ckpt"), read_records(d2 / "ckpt")
        assert [r["step"] for r in r1] == [r["step"] for r in r2]
        for a, b in zip(r1, r2):
            assert np.allclose(a["induction"], b["induction"], atol=1e-5)
            if a["train_loss"] is not None:  # the all-reduced mean of the ranks' slices
                assert abs(a["train_loss"] - b["train_loss"]) < 1e-5
        last = sorted((d1 / "ckpt").glob("step-*"))[-1].name
        w1 = load_file(d1 / "ckpt" / last / "model.safetensors")
        w2 = load_file(d2 / "ckpt" / last / "model.safetensors")
        assert max(float(np.abs(w1[k] - w2[k]).max()) for k in w1) < 1e-4


def test_parallel_branches_inside_a_group_are_refused_before_training(tmp_path):
    out = _launch([*CLAIM, "--jobs", "2"], 2, tmp_path, "jobs")
    assert out.returncode != 0
    assert "error: under torchrun the ranks train each branch together" in out.stderr
    assert not (tmp_path / "store" / "train").exists()


def test_kronfluence_built_inside_alone_does_not_join_the_group(monkeypatch):
    """kronfluence's State joins a torchrun group by itself when LOCAL_RANK is set (and CUDA is
    visible); rank 0's attribution must not, or it would wait for ranks that never come."""
    from mda_bench import ranks

    monkeypatch.setenv("LOCAL_RANK", "3")
    with ranks.alone():
        assert "LOCAL_RANK" not in os.environ
    assert os.environ["LOCAL_RANK"] == "3"
    with pytest.raises(RuntimeError), ranks.alone():
        raise RuntimeError("restored on error too")
    assert os.environ["LOCAL_RANK"] == "3"
