"""Where the time of a report folder's runs went, from the store's manifests.

    python scripts/wall_time.py reports/tiny [--store runs] [--jobs 2]

Every run a report names (the `store_key` of its table rows: baselines and branches; each
seed's `attribution_key`) and the ICL curves of those runs, each
with the wall time its manifest recorded. A claim is charged with the runs it was the first to
use, in `run all`'s order. The wall time on a machine of --cores cores is estimated as the runs'
core-seconds (wall time x the torch threads the manifest recorded) over the cores: exact when
the cores are kept busy (two one-thread branches at a time on 2 cores, one two-thread baseline),
an estimate of what `run all` from an empty store costs, not a timing of one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tabulate import tabulate

ORDER = (
    "emergence-modulation",
    "random-null",
    "structural-catalyst",
    "induction-icl-link",
    "augmentation-speedup",
)


def store_keys(obj) -> list[str]:
    """Every `store_key` value anywhere in a report's JSON, in order."""
    if isinstance(obj, dict):
        out = [obj["store_key"]] if isinstance(obj.get("store_key"), str) else []
        return out + [k for v in obj.values() for k in store_keys(v)]
    if isinstance(obj, list):
        return [k for v in obj for k in store_keys(v)]
    return []


def manifest(store: Path, stage_key: str) -> dict:
    path = store / stage_key / "manifest.json"
    if not path.exists():
        sys.exit(f"wall_time: {path} is missing (was the report made from another store?)")
    return json.loads(path.read_text())


def _cost(m: dict) -> dict:
    return {"s": float(m["wall_time_s"]), "threads": int(m.get("torch_threads", 0))}


def collect(reports: Path, store: Path) -> list[dict]:
    """(claim, part, stage/key, seconds) for every run the folder's reports used."""
    seen, rows = set(), []
    attributions: list[tuple[str, str]] = []
    for claim in ORDER:
        path = reports / f"{claim}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        for seed in report.get("seeds", []):
            if "attribution_key" in seed:
                attributions.append((claim, seed["attribution_key"]))
        for key in store_keys(report):
            if key in seen:
                continue
            seen.add(key)
            part = "baselines" if key.startswith("train/") else "branches"
            rows.append({"claim": claim, "part": part, "key": key, **_cost(manifest(store, key))})
    runs = {r["key"].split("/", 1)[1] for r in rows}
    for claim, key in attributions:
        if key not in seen:  # each seed's attribution, named by the report
            seen.add(key)
            rows.append({"claim": claim, "part": "attribution", "key": key, **_cost(manifest(store, key))})
    # ICL curves are not named by the reports: per run, the newest curve stored (an older one
    # may hold another set of checkpoints, from before a protocol change)
    newest: dict[str, tuple[float, str, dict]] = {}
    for m in (store / "icl").glob("*/manifest.json"):
        info = json.loads(m.read_text())
        owner, mtime = info["config"].get("run"), m.stat().st_mtime
        if owner in runs and (owner not in newest or mtime > newest[owner][0]):
            newest[owner] = (mtime, m.parent.name, info)
    for _, name, info in newest.values():  # computed by induction-icl-link, for runs others trained
        rows.append({"claim": "induction-icl-link", "part": "icl", "key": f"icl/{name}", **_cost(info)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", type=Path)
    ap.add_argument("--store", type=Path, default=Path("runs"))
    ap.add_argument("--cores", type=int, default=2, help="the machine's cores [default: 2]")
    a = ap.parse_args()
    rows = collect(a.reports, a.store)
    if not rows:
        sys.exit(f"wall_time: no report in {a.reports} names a stored run")
    table, total = [], 0.0
    for claim in ORDER:
        for part in ("baselines", "attribution", "branches", "icl"):
            mine = [r for r in rows if r["claim"] == claim and r["part"] == part]
            if not mine:
                continue
            wall = sum(r["s"] * (r["threads"] or a.cores) for r in mine) / a.cores
            total += wall
            threads = sorted({r["threads"] for r in mine})
            table.append(
                [
                    claim,
                    part,
                    len(mine),
                    ",".join(map(str, threads)),
                    round(sum(r["s"] for r in mine)),
                    round(wall / 60, 1),
                ]
            )
    table.append(["all", "", len(rows), "", round(sum(r["s"] for r in rows)), round(total / 60, 1)])
    headers = [
        "claim (first to use)",
        "part",
        "runs",
        "threads",
        "run-seconds",
        f"wall min on {a.cores} cores",
    ]
    print(tabulate(table, headers=headers, tablefmt="github"))


if __name__ == "__main__":
    main()
