"""Executors: a claim through Ray writes the same store keys and the same reports as the local
process pool; a failing task is retried, and one that keeps failing stops in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FEW_DRAWS

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
    args = [
        "run",
        "emergence-modulation",
        "--scale",
        "micro",
        *FEW_DRAWS,
    ]
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
    marker = tmp_path / "failed-once"

    def flaky(path: str) -> str:
        p = Path(path)
        if not p.exists():
            p.write_text("x")
            raise RuntimeError("worker lost")
        return "ok"

    def broken(_: str) -> str:
        raise RuntimeError("always")

    with ex.using("ray"):
        ex.run_ray(flaky, [str(marker)], ["flaky-run"], cpus=1, gpus=0, desc="test", progress=False)
        assert marker.exists()
        with pytest.raises(MdaError, match="branch broken-run failed on Ray after 2 retries"):
            ex.run_ray(broken, ["x"], ["broken-run"], cpus=1, gpus=0, desc="test", progress=False)


def test_using_sets_the_executor_for_a_block_and_restores_it_even_on_error():
    ex.configure("local")
    with ex.using("ray", "auto"):
        assert ex.current() == ex.ExecutorConfig("ray", "auto")
    assert ex.current() == ex.ExecutorConfig("local")
    with pytest.raises(RuntimeError, match="inside"), ex.using("ray"):
        raise RuntimeError("inside")
    assert ex.current().kind == "local"


def test_an_unknown_executor_is_refused():
    with pytest.raises(MdaError, match="unknown executor"):
        ex.configure("slurm")


def test_a_worker_killed_mid_branch_is_retried_and_resumes_to_the_same_branch(local_ray, micro, tmp_path):
    """The first attempt's worker process is SIGKILLed right after it writes the branch's first
    checkpoint past the window start; Ray retries the task, the retry resumes from the
    `.partial` folder, and the branch equals one trained serially in another store, bit for bit."""
    from mda_bench import retrain
    from mda_bench.experiment import ExperimentConfig, prepare, run_jobs, selected_job
    from mda_bench.store import Store

    def branch(root: Path, kind: str):
        exp = prepare(micro, Store(root), ExperimentConfig(), log=lambda m: None)
        job = selected_job(exp, "remove-some", "remove", "some", exp.window.rows[:8])
        with ex.using(kind):
            return exp, job, run_jobs(exp, [job], progress=False)[0]

    serial_exp, _, serial = branch(tmp_path / "serial", "local")
    marker = tmp_path / "killed-once"

    def dying(args):
        import os
        import signal

        from mda_bench import train

        if not marker.exists():
            save = train.save_checkpoint

            def save_then_die(model, opt, step, rec, ckpt_dir):
                save(model, opt, step, rec, ckpt_dir)
                if step > serial_exp.window.start:  # the branch's own first checkpoint
                    marker.write_text(str(step))
                    os.kill(os.getpid(), signal.SIGKILL)

            train.save_checkpoint = save_then_die
        return retrain._worker(args)

    real = retrain._worker
    retrain._worker = dying  # what retrain_all submits to Ray
    try:
        _, _, killed = branch(tmp_path / "ray", "ray")
    finally:
        retrain._worker = real
    assert int(marker.read_text()) < serial_exp.horizon  # it died mid-branch
    assert killed.key == serial.key and killed.records == serial.records
    last = f"ckpt/step-{serial_exp.horizon:06d}/model.safetensors"
    assert (killed.path / last).read_bytes() == (serial.path / last).read_bytes()
