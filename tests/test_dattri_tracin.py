"""dattri's TracIn on the unit's head: another library's gradient dot product must equal
kronfluence's `identity` strategy at one checkpoint, and sum over checkpoints otherwise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dattri")


def test_dattri_tracin_at_one_checkpoint_is_kronfluence_identity(micro, micro_store):
    from baselines.dattri_tracin import tracin_scores
    from mda_bench.attribution.score import InfluenceConfig
    from mda_bench.attribution.stage import attribute_stage, default_probe
    from mda_bench.experiment import ExperimentConfig, prepare
    from mda_bench.metrics import spearman

    exp = prepare(micro, micro_store, ExperimentConfig(), log=lambda m: None)
    cfg = InfluenceConfig(strategy="identity", probe=default_probe("induction"))
    att = attribute_stage(
        micro, micro_store, exp.data, exp.baseline, "induction", cfg, exp.window.start, log=lambda m: None
    )
    rows = np.array([r["row"] for r in att.table])
    identity = np.array([r["score"] for r in att.table])
    end = exp.window.end
    ours = tracin_scores(micro, exp.baseline, exp.data.stream, rows, exp.unit, [end])
    assert ours.shape == identity.shape and np.std(ours) > 0
    assert spearman(ours, identity) > 0.999
    np.testing.assert_allclose(ours, identity, rtol=1e-3, atol=1e-3 * np.abs(identity).max())
    # over two checkpoints TracIn is the sum of the two single-checkpoint scores
    mid = exp.window.start
    both = tracin_scores(micro, exp.baseline, exp.data.stream, rows[:16], exp.unit, [mid, end])
    stream = exp.data.stream
    parts = [tracin_scores(micro, exp.baseline, stream, rows[:16], exp.unit, [s]) for s in (mid, end)]
    np.testing.assert_allclose(both, parts[0] + parts[1], rtol=1e-5, atol=1e-9)


def test_dattri_tracin_is_stored_once_and_reused(micro, micro_store):
    from baselines.dattri_tracin import tracin_stage
    from mda_bench.experiment import ExperimentConfig, prepare

    exp = prepare(micro, micro_store, ExperimentConfig(), log=lambda m: None)
    rows = exp.window.rows[:24]
    args = (micro, micro_store, exp.baseline, exp.data.stream, rows, exp.unit, [exp.window.end])
    said: list[str] = []
    first, cost = tracin_stage(*args, log=said.append)
    again, _ = tracin_stage(*args, log=said.append)
    assert len(said) == 1 and np.array_equal(first, again) and cost > 0
    assert len(list((micro_store.root / "dattri-tracin").iterdir())) >= 1
