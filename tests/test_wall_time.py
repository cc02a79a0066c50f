"""scripts/wall_time.py on a hand-made store: each claim is charged with the runs it used first,
core-seconds over cores, and a report naming a missing run stops in one line."""

import json
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts" / "wall_time.py"


def _manifest(store: Path, stage_key: str, wall: float, threads: int, **config) -> None:
    (store / stage_key).mkdir(parents=True)
    (store / stage_key / "manifest.json").write_text(
        json.dumps({"wall_time_s": wall, "torch_threads": threads, "config": config})
    )


def test_claims_are_charged_with_their_first_runs(tmp_path):
    store, reports = tmp_path / "runs", tmp_path / "reports"
    reports.mkdir()
    _manifest(store, "train/base", 300, 2)
    _manifest(store, "retrain/b1", 100, 1)
    _manifest(store, "retrain/b2", 60, 1)
    _manifest(store, "attribution/at", 50, 2, train="base", window_start=10)
    _manifest(store, "attribution/old", 999, 2, train="base", window_start=99)  # not named
    _manifest(store, "icl/i0", 99, 2, run="b1")  # an older curve of the same run
    time.sleep(0.05)
    _manifest(store, "icl/i1", 4, 2, run="b1")
    em = {
        "seeds": [{"window": [10, 20], "attribution_key": "attribution/at"}],
        "table": [{"store_key": "train/base"}, {"store_key": "retrain/b1"}],
    }
    sc = {"table": [{"store_key": "retrain/b1"}, {"store_key": "retrain/b2"}]}  # b1 is emergence's
    (reports / "emergence-modulation.json").write_text(json.dumps(em))
    (reports / "structural-catalyst.json").write_text(json.dumps(sc))
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(reports), "--store", str(store)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.stdout.splitlines()[2:]]
    rows = {tuple(c[:3]): (float(c[4]), float(c[5])) for c in cells}  # (run-seconds, wall minutes)
    # baseline 300 s on 2 threads = 5.0 min on 2 cores; branch 100 s on 1 thread = 50 s
    assert rows[("emergence-modulation", "baselines", "1")] == (300, 5.0)
    assert rows[("emergence-modulation", "branches", "1")] == (100, 0.8)
    assert rows[("structural-catalyst", "branches", "1")] == (60, 0.5)  # only b2: b1 was emergence's
    assert rows[("emergence-modulation", "attribution", "1")] == (50, 0.8)  # the named one only
    assert rows[("induction-icl-link", "icl", "1")] == (4, 0.1)  # the newest curve only
    # all: (600 + 100 + 60 + 100 + 8) / 2 s = 7.2 min
    assert rows[("all", "", "5")] == (514, 7.2)
    (store / "retrain" / "b2" / "manifest.json").unlink()
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(reports), "--store", str(store)], capture_output=True, text=True
    )
    assert out.returncode != 0 and out.stderr.strip().count("\n") == 0 and "b2" in out.stderr
