"""Shared fixtures: one micro-scale data stage per test session (building it takes seconds).

Golden reports hold trained numbers, and CPU float sums depend on the thread count and the
vector kernels (docs/determinism.md): the tests pin both, AVX2 kernels on x86 (set before torch
loads) and 2 threads, so any x86 machine computes the same bits as the one that wrote them.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

if platform.machine() in ("x86_64", "AMD64"):
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

from mda_bench.pipeline import prepare_data  # noqa: E402
from mda_bench.scales import get_scale  # noqa: E402
from mda_bench.store import Store  # noqa: E402

# the smallest control sizes a claim accepts: the tests' claim runs stay seconds long
FEW_DRAWS = ("--draws", "2", "--matched-draws", "2", "--noise-runs", "2")

CLAIMS = (
    "emergence-modulation",
    "random-null",
    "structural-catalyst",
    "induction-icl-link",
    "augmentation-speedup",
)


def run_claims(root: Path, scale: str, claims, seeds: int) -> dict:
    """Run `claims` at `scale` through the CLI into root/runs and root/reports; return each
    claim's output and the number of branch runs in the store after it."""
    from click.testing import CliRunner

    from mda_bench.cli import cli

    args = ["--scale", scale, "--store", str(root / "runs"), "--reports", str(root / "reports")]
    args += [*FEW_DRAWS, "--seeds", str(seeds)]
    out = {}
    for claim in claims:
        res = CliRunner().invoke(cli, ["run", claim, *args])
        assert res.exit_code == 0, res.output
        out[claim] = (res.output, len([p for p in (root / "runs" / "retrain").iterdir() if p.is_dir()]))
    return out


@pytest.fixture(scope="session")
def micro_reports(tmp_path_factory):
    """Every claim at micro, one command each, serially: 2 seeds. Some tests write more reports
    into the folder; a copy as first written stays in `serial-reports` beside it."""
    import shutil

    root = tmp_path_factory.mktemp("claims")
    out = run_claims(root, "micro", CLAIMS, seeds=2)
    shutil.copytree(root / "reports" / "micro", root / "serial-reports")
    return root / "reports" / "micro", out


@contextlib.contextmanager
def torch_threads(n: int):
    """torch on n threads inside the block, the suite's 2 restored after it (even on error):
    later tests compare trained numbers with golden files made on 2 threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def micro():
    return get_scale("micro")


@pytest.fixture(scope="session")
def micro_store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def micro_data(micro, micro_store):
    return prepare_data(micro, micro_store, log=lambda m: None)
