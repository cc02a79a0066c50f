import json

import numpy as np
import pytest
import torch
from conftest import torch_threads
from safetensors.torch import load_file

from mda_bench import interventions as iv
from mda_bench.pipeline import train_stage
from mda_bench.retrain import BranchSet, Job, RunSpec, horizon_step, retrain_all
from mda_bench.store import Store


@pytest.fixture(scope="module")
def base(micro, micro_data, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("retrain"))
    return store, train_stage(micro, store, micro_data, progress=False)


def _weights(path, step):
    return load_file(str(path / "ckpt" / f"step-{step:06d}" / "model.safetensors"))


def _job(name, plan, selected=()):
    return Job(RunSpec(name, "x", "x", len(selected)), plan, np.asarray(selected, dtype=np.int64))


def test_branches_match_the_baseline_until_their_intervention(micro, micro_data, base):
    store, run = base
    B, n = micro.train.batch_size, micro_data.stream.n_rows
    window = iv.Window(10, 30, B)
    horizon = horizon_step(window, micro.train.steps)
    assert horizon == 40
    sel = np.arange(20 * B, 20 * B + 3)  # three rows of step 20
    jobs = [
        _job("same", iv.Plan(n)),
        _job("remove", iv.remove(n, sel), sel),
        _job("augment", iv.augment(n, sel, window, seed=0), sel),
    ]
    same, removed, augmented = retrain_all(
        BranchSet(micro, micro_data, run, window, horizon, jobs), store, progress=False
    )
    # the identity plan retraces the baseline bit for bit from the branch point
    base_recs = {r["step"]: r for r in run.records}
    assert [r["step"] for r in same.records] == [s for s in base_recs if s >= 10]
    assert all(r == base_recs[r["step"]] for r in same.records)
    ref = _weights(run.path, 40)
    assert all(torch.equal(v, _weights(same.path, 40)[k]) for k, v in ref.items())
    # removal changes nothing before step 20 and something after it
    early = {r["step"]: r for r in removed.records if r["step"] <= 20}
    assert all(early[s] == base_recs[s] for s in early)
    assert not all(torch.equal(v, _weights(removed.path, 40)[k]) for k, v in ref.items())
    # augmentation only adds rows after step 20
    first_extra = min(iv.augment(n, sel, window, seed=0).extras)
    assert first_extra > 20
    assert all(r == base_recs[r["step"]] for r in augmented.records if r["step"] <= first_extra)
    assert not all(torch.equal(v, _weights(augmented.path, 40)[k]) for k, v in ref.items())
    # stored: asking again trains nothing and returns the same folders
    again = retrain_all(BranchSet(micro, micro_data, run, window, horizon, jobs), store, progress=False)
    assert [b.path for b in again] == [same.path, removed.path, augmented.path]
    assert (removed.path / "selected.npy").exists()


def test_parallel_jobs_give_the_same_branches_as_serial(micro, micro_data, base, tmp_path):
    """--jobs 2 trains in spawned processes; with one thread each, branches equal serial ones."""
    import shutil

    store, run = base
    B, n = micro.train.batch_size, micro_data.stream.n_rows
    window = iv.Window(20, 30, B)
    sel = np.arange(22 * B, 22 * B + 2)
    jobs = [_job("remove", iv.remove(n, sel), sel), _job("reorder", iv.reorder(n, window, seed=1))]
    with torch_threads(2):  # the process's count: a branch trains on Runtime.threads whatever it is
        serial = retrain_all(BranchSet(micro, micro_data, run, window, 40, jobs), store, progress=False)
        for b in serial:
            shutil.rmtree(b.path)
        parallel = retrain_all(
            BranchSet(micro, micro_data, run, window, 40, jobs), store, n_jobs=2, progress=False
        )
    assert [b.records for b in parallel] == [b.records for b in serial]
    # the thread count that bit-identity depends on is pinned and recorded with each branch
    assert all(json.loads((b.path / "manifest.json").read_text())["torch_threads"] == 1 for b in parallel)


def test_inserted_rows_change_nothing_before_their_first_step(micro, micro_data, base):
    store, run = base
    B, n, ctx = micro.train.batch_size, micro_data.stream.n_rows, micro.model.ctx
    window = iv.Window(10, 30, B)
    new = np.random.default_rng(0).integers(1, micro.model.vocab_size, (6, ctx))
    plan = iv.insert(n, new, 21, 30, seed=0)
    (branch,) = retrain_all(
        BranchSet(micro, micro_data, run, window, 40, [_job("insert", plan)]), store, progress=False
    )
    first = min(plan.inserted)
    base_recs = {r["step"]: r for r in run.records}
    assert all(r == base_recs[r["step"]] for r in branch.records if r["step"] <= first)
    assert branch.records[-1] != base_recs[40]
