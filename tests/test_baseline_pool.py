"""`run --jobs N` trains the missing from-scratch baselines N at a time before the claims:
the same store keys and the same bits as training them one by one, and nothing twice."""

import torch
from safetensors.torch import load_file

from mda_bench.baseline_pool import BaselineSpec, train_baselines
from mda_bench.pipeline import prepare_data, train_stage
from mda_bench.scales import get_scale
from mda_bench.store import Store


def _final(run) -> dict:
    return load_file(str(sorted((run.path / "ckpt").glob("step-*"))[-1] / "model.safetensors"))


def test_pooled_baselines_equal_serial_ones(micro, tmp_path):
    quiet = lambda m: None  # noqa: E731
    rung = get_scale("micro-m")
    specs = [
        BaselineSpec(micro, micro, 0, 0),
        BaselineSpec(micro, micro, 1, 1),
        BaselineSpec(rung, micro, 0, 0),
    ]
    pool = Store(tmp_path / "pool")
    threads = torch.get_num_threads()
    trained = train_baselines([*specs, specs[0]], pool, n_jobs=2, progress=False, log=quiet)
    assert torch.get_num_threads() == threads  # the workers set theirs, not this process's
    assert len(trained) == 3  # the spec listed twice is trained once
    assert train_baselines(specs, pool, n_jobs=2, progress=False, log=quiet) == []  # all stored
    serial = Store(tmp_path / "serial")
    for s in specs:
        one = train_stage(
            s.scale, serial, prepare_data(s.data_scale, serial, s.order_seed, log=quiet), s.init_seed
        )
        two = train_stage(
            s.scale, pool, prepare_data(s.data_scale, pool, s.order_seed, log=quiet), s.init_seed
        )
        assert one.key == two.key
        a, b = _final(one), _final(two)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert two.manifest["torch_threads"] == s.scale.runtime.threads == 1  # pinned, whatever --jobs


def test_one_job_or_one_missing_run_trains_nothing_here(micro, tmp_path):
    quiet = lambda m: None  # noqa: E731
    store = Store(tmp_path / "runs")
    specs = [BaselineSpec(micro, micro, 0, 0), BaselineSpec(micro, micro, 1, 1)]
    assert train_baselines(specs, store, n_jobs=1, progress=False, log=quiet) == []
    assert train_baselines(specs[:1], store, n_jobs=2, progress=False, log=quiet) == []
    assert not (tmp_path / "runs" / "train").exists()  # left to the claims, which use every core
