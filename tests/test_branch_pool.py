"""`run --jobs 2` trains each seed's attribution beside the last baselines and every branch of
the chosen claims in one pool, longest first (mda_bench/branch_pool.py): the reports are the
serial claim-by-claim run's, byte for byte but the recorded `--jobs`."""

from __future__ import annotations

import re

from click.testing import CliRunner
from conftest import CLAIMS, FEW_DRAWS

from mda_bench.branch_pool import step_cost
from mda_bench.cli import cli
from mda_bench.scales import get_scale


def test_run_all_through_one_pool_writes_the_serial_reports(micro_reports, tmp_path):
    folder, _ = micro_reports
    serial_root = folder.parent.parent
    args = ["run", "all", "--scale", "micro", "--store", str(tmp_path / "runs")]
    args += ["--reports", str(tmp_path / "reports"), *FEW_DRAWS, "--seeds", "2", "--jobs", "2"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    log = max((tmp_path / "runs" / "logs").glob("*-run.log")).read_text()
    # both seeds' attributions went to the pool of baselines, after the four baselines
    pool = re.search(r"training (\d+) runs, 2 at a time on 1 thread\(s\) each: (.*)", log)
    assert pool and pool.group(1) == "6", log
    names = pool.group(2).split("; ")
    assert names[0].startswith("micro-l") and names[1].startswith("micro-m")  # longest first
    assert [n.startswith("attribution of micro") for n in names] == [False] * 4 + [True] * 2
    # every branch was trained by the one pool, none later by a claim
    m = re.search(r"training (\d+) branches of the chosen claims, 2 at a time, longest first", log)
    stored = [p for p in (tmp_path / "runs" / "retrain").iterdir() if p.is_dir()]
    assert m and int(m.group(1)) == len(stored) == 68  # test_tasks: 68 branches for the five claims
    for claim in CLAIMS:
        for ext in ("md", "json"):
            serial = (serial_root / "serial-reports" / f"{claim}.{ext}").read_text()
            pooled = (tmp_path / "reports" / "micro" / f"{claim}.{ext}").read_text()
            pooled = pooled.replace(str(tmp_path), str(serial_root)).replace(" --jobs 2", "")
            assert pooled == serial, f"{claim}.{ext}"


def test_larger_rungs_cost_more_per_step():
    costs = [step_cost(get_scale(n)) for n in ("tiny", "tiny-m", "tiny-l")]
    assert costs == sorted(costs) and costs[0] < costs[2]
