"""Executors: a claim through Ray writes the same store keys and the same reports as the local
process pool; a failing task is retried, and one that keeps failing stops in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mda_bench import executor as ex
from mda_bench.cli import cli
from mda_bench.errors import MdaError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    ex.configure("local")


def _claim(root: Path, *extra: str) -> None:
    args = ["run", "emergence-modulation", "--scale", "micro", "--draws", "2", "--noise-runs", "2"]
    args += ["--store", str(root / "runs"), "--reports", str(root / "reports"), "--jobs", "2", *extra]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output


def test_ray_gives_the_local_pools_keys_and_reports(local_ray, tmp_path):
    _claim(tmp_path / "pool")
    _claim(tmp_path / "ray", "--executor", "ray")
    assert ex.current().kind == "ray"
    keys = {w: sorted(p.name for p in (tmp_path / w / "runs" / "retrain").iterdir()) for w in ("pool", "ray")}
    assert keys["pool"] == keys["ray"] and len(keys["pool"]) > 5
    for name in ("emergence-modulation.md", "emergence-modulation.json"):
        a = (tmp_path / "pool" / "reports" / "micro" / name).read_text()
        b = (tmp_path / "ray" / "reports" / "micro" / name).read_text()
        assert a.replace(str(tmp_path / "pool"), "$") == b.replace(str(tmp_path / "ray"), "$")
    # the next command without --executor is back on the local pool
    CliRunner().invoke(cli, ["run", "--help"])
    _claim(tmp_path / "pool")
    assert ex.current().kind == "local"


def test_a_failing_task_is_retried_then_named(local_ray, tmp_path):
    ex.configure("ray")
    marker = tmp_path / "failed-once"

    def flaky(path: str) -> str:
        p = Path(path)
        if not p.exists():
            p.write_text("x")
            raise RuntimeError("worker lost")
        return "ok"

    ex.run_ray(flaky, [str(marker)], ["flaky-run"], cpus=1, gpus=0, desc="test", progress=False)
    assert marker.exists()

    def broken(_: str) -> str:
        raise RuntimeError("always")

    with pytest.raises(MdaError, match="branch broken-run failed on Ray after 2 retries"):
        ex.run_ray(broken, ["x"], ["broken-run"], cpus=1, gpus=0, desc="test", progress=False)
    ex.configure("local")


def test_an_unknown_executor_is_refused():
    with pytest.raises(MdaError, match="unknown executor"):
        ex.configure("slurm")
