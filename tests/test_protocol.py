"""Pre-registered protocols: the hash moves with any threshold, and a registered protocol
cannot change without a new task version (tests/golden/protocols.json pins them)."""

import json
import os
from dataclasses import replace
from pathlib import Path

from mda_bench.experiment import ExperimentConfig
from mda_bench.protocol import describe, protocol_hash, registered
from mda_bench.scales import get_scale
from tasks import TASKS
from tasks import emergence_modulation as em

PINNED = Path(__file__).parent / "golden" / "protocols.json"


def test_hash_changes_with_a_threshold_and_a_size(monkeypatch):
    tiny = get_scale("tiny")
    before = protocol_hash(registered(em, tiny))
    monkeypatch.setitem(em.PROTOCOL, "alpha", 0.1)
    assert protocol_hash(registered(em, tiny)) != before
    monkeypatch.undo()
    assert protocol_hash(registered(em, tiny)) == before
    more = describe(em, replace(ExperimentConfig(), seeds=5), tiny)
    assert more["hash"] != before and more["registered_hash"] == before
    assert more["status"].startswith("NOT the registered") and "seeds 5 (registered 3)" in more["status"]
    same = describe(em, replace(ExperimentConfig(), seeds=3, draws=2, noise_runs=2), tiny)
    assert same["hash"] == before and same["status"].startswith("the registered protocol of task version 3")


PINNED_SCALES = ("smoke", "tiny", "tiny-natural")


def test_registered_protocols_are_pinned_to_task_versions():
    """A changed rule, threshold, size or seed count at a registered scale needs a version bump:
    then rewrite the pins with MDA_UPDATE_GOLDEN=1."""
    now = {
        cid: {
            "version": t.CLAIM.version,
            **{s: protocol_hash(registered(t, get_scale(s))) for s in PINNED_SCALES},
        }
        for cid, t in TASKS.items()
    }
    if os.environ.get("MDA_UPDATE_GOLDEN"):
        old = json.loads(PINNED.read_text()) if PINNED.exists() else {}
        for cid, pin in now.items():
            moved = cid in old and any(s in old[cid] and old[cid][s] != pin[s] for s in PINNED_SCALES)
            assert not moved or old[cid]["version"] != pin["version"], (
                f"{cid}: protocol changed, bump its version"
            )
        PINNED.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(PINNED.read_text())
    for cid, pin in now.items():
        if pin["version"] == pinned[cid]["version"]:
            assert pin == pinned[cid], f"{cid}: its protocol changed without a new task version"
