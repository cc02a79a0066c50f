"""Head-LDS on hand-made cases, and the model-free heuristics on hand-made rows."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.heuristics import HEURISTICS, bigram_repetition
from mda_bench.lds import LdsConfig, draw_subsets, lds, noise_ceiling, predicted_change, predictions


def test_subsets_are_seeded_distinct_and_inside_the_window():
    rows = np.arange(100, 200)
    subs = draw_subsets(rows, LdsConfig(subsets=8, fraction=0.25, seed=3))
    assert len(subs) == 8 and all(len(s) == 25 for s in subs)
    assert all(np.isin(s, rows).all() and len(np.unique(s)) == 25 and np.all(np.diff(s) > 0) for s in subs)
    assert len({s.tobytes() for s in subs}) == 8
    again = draw_subsets(rows, LdsConfig(subsets=12, fraction=0.25, seed=3))
    assert all(np.array_equal(a, b) for a, b in zip(subs, again))  # more subsets keep the first
    assert not np.array_equal(subs[0], draw_subsets(rows, LdsConfig(subsets=8, fraction=0.25, seed=4))[0])
    with pytest.raises(ValueError, match="at least 3 subsets"):
        draw_subsets(rows, LdsConfig(subsets=2))
    with pytest.raises(ValueError, match="fraction"):
        draw_subsets(rows, LdsConfig(fraction=1.0))


def test_the_prediction_is_minus_the_removed_rows_influence():
    rows, scores = np.array([10, 11, 12]), np.array([1.0, 2.0, 3.0])
    assert predicted_change(rows, scores, np.array([10, 12])) == -4.0
    assert predictions(rows, scores, [np.array([11]), np.array([10, 11, 12])]).tolist() == [-2.0, -6.0]
    with pytest.raises(ValueError, match="not among the scored"):
        predicted_change(rows, scores, np.array([13]))
    with pytest.raises(ValueError, match="sorted"):
        predictions(np.array([12, 10, 11]), scores, [np.array([10])])


def test_lds_is_the_rank_correlation_with_a_known_value():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert lds(x, x)["lds"] == pytest.approx(1.0)
    assert lds(x, -x)["lds"] == pytest.approx(-1.0)
    # one pair of neighbours swapped twice: sum d^2 = 4, rho = 1 - 6 * 4 / (5 * 24) = 0.8
    got = lds(x, np.array([2.0, 1.0, 4.0, 3.0, 5.0]))
    assert got["lds"] == pytest.approx(0.8) and got["n"] == 5
    assert -1 <= got["low"] <= 0.8 <= got["high"] <= 1
    # monotone transforms do not change it (a rank statistic in the strategy's own units)
    assert lds(np.exp(x), x**3)["lds"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="predictions for"):
        lds(x, x[:4])


def test_an_attribution_that_knows_the_truth_reaches_the_noise_ceiling():
    """Simulated: each row has a true effect; a measurement adds noise; an attribution that
    equals the true effects scores about the ceiling, a random one about zero."""
    rng = np.random.default_rng(0)
    rows = np.arange(200)
    true = rng.normal(size=200)
    subs = draw_subsets(rows, LdsConfig(subsets=64, fraction=0.5))
    clean = np.array([-true[s].sum() for s in subs])
    a, b = clean + rng.normal(0, 2, 64), clean + rng.normal(0, 2, 64)
    ceiling = noise_ceiling(a, b)
    good = lds(predictions(rows, true, subs), a)["lds"]
    bad = lds(predictions(rows, rng.normal(size=200), subs), a)["lds"]
    assert 0.5 < ceiling < 1 and good > 0.6 and abs(bad) < 0.35


def test_bigram_repetition_on_hand_made_rows():
    assert bigram_repetition(np.array([1, 2, 3, 1, 2, 3])) == pytest.approx(1 / 4)  # (1, 2) again at 5
    assert bigram_repetition(np.array([5, 6, 5, 6, 5, 6])) == pytest.approx(2 / 4)
    assert bigram_repetition(np.array([1, 2, 3, 4, 5, 6])) == 0.0
    assert bigram_repetition(np.array([7, 7, 7, 7])) == pytest.approx(1 / 2)  # (7, 7) from position 3
    assert bigram_repetition(np.array([1, 2])) == 0.0


class _Stream:
    def __init__(self, rows, injected):
        self._rows, self._inj = np.asarray(rows), np.asarray(injected)

    def rows(self, ids):
        return self._rows[ids]

    def is_repeat_row(self, ids):
        return self._inj[ids]


def test_heuristic_scores_per_row():
    stream = _Stream([[1, 2, 1, 2, 1, 2], [1, 2, 3, 4, 5, 6], [9, 9, 9, 9, 9, 9]], [True, False, False])
    ids = np.array([0, 1, 2])
    assert HEURISTICS["bigram-repetition"](stream, ids).tolist() == [0.5, 0.0, 0.75]
    assert HEURISTICS["repeat-row"](stream, ids).tolist() == [1.0, 0.0, 0.0]
    r = HEURISTICS["random"](stream, ids)
    assert r.shape == (3,) and np.array_equal(r, HEURISTICS["random"](stream, ids))


def test_subset_branches_at_micro_give_a_leaderboard(micro, micro_store):
    """The whole path on real branches: subsets removed and removed-and-reordered, measured
    against the baseline, every strategy's LDS on both measures, and the noise ceiling."""
    from mda_bench.experiment import ExperimentConfig, prepare, run_jobs
    from mda_bench.lds_runs import changes, leaderboard, subset_jobs

    exp = prepare(micro, micro_store, ExperimentConfig(), log=lambda m: None)
    cfg = LdsConfig(subsets=4, fraction=0.5)
    jobs = subset_jobs(exp, cfg, ceiling=2)
    assert [j.spec.selection for j in jobs] == ["lds-subset", "lds-ceiling"] * 2 + ["lds-subset"] * 2
    assert jobs[0].plan.key() != jobs[1].plan.key()  # the reorder is a different run
    branches = run_jobs(exp, jobs, progress=False, horizon=exp.window.end)
    assert all(max(r["step"] for r in b.records) == exp.window.end for b in branches)
    # the reference measured against itself changes nothing
    assert changes(exp, branches[:0], exp.baseline.records)["score"].shape == (0,)
    rows, scores = exp.scores()
    stream = exp.data.stream
    strategies = {
        "ekfac": (rows, scores),
        "bigram-repetition": (rows, HEURISTICS["bigram-repetition"](stream, rows)),
        "random": (rows, HEURISTICS["random"](stream, rows)),
    }
    board = leaderboard(exp, cfg, branches, strategies)
    assert set(board["strategies"]) == set(strategies) and board["subsets"] == 4
    for per in board["strategies"].values():
        for m in ("score", "area"):
            assert per[m]["n"] == 4 and (np.isnan(per[m]["lds"]) or -1 <= per[m]["lds"] <= 1)
    assert set(board["ceiling"]) == {"score", "area"} and board["ceiling_subsets"] == 2
    assert any(v != 0 for v in board["measured"]["area"])  # removing half the window moves the head
    with pytest.raises(ValueError, match="subset branches"):
        leaderboard(exp, LdsConfig(subsets=5, fraction=0.5), branches, strategies)


def test_validate_at_micro_writes_the_leaderboard_against_its_golden(tmp_path):
    """`mda-bench validate` end to end: every strategy and heuristic on one board; the cost
    column (wall time) is masked, every other number must match the golden file."""
    import json
    import os
    import re
    from pathlib import Path

    from click.testing import CliRunner

    from mda_bench.cli import cli

    args = ["validate", "--scale", "micro", "--subsets", "4", "--store", str(tmp_path / "runs")]
    res = CliRunner().invoke(cli, [*args, "--reports", str(tmp_path / "reports")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "reports" / "micro"
    md = (out / "attribution-leaderboard.md").read_text().replace(str(tmp_path), "$ROOT")
    md = re.sub(r"\| [0-9.]+ \|$", "| (s) |", md, flags=re.M)  # the cost column is wall time
    data = json.loads((out / "attribution-leaderboard.json").read_text())
    kronfluence = ("ekfac", "kfac", "diagonal", "identity", "exact")
    variants = (
        "ekfac@start",
        "ekfac@middle",
        "ekfac@mean",
        "ekfac/copy-logprob",
        "ekfac/band-tokens",
        "ekfac/varied-length",
    )
    heuristics = ("bigram-repetition", "repeat-row", "random")
    assert set(data["strategies"]) == {*kronfluence, "dattri-tracin", *variants, *heuristics}
    assert data["strategies"]["dattri-tracin"]["remove_top_d_onset"] is not None
    assert (out / "attribution-leaderboard-lds.png").stat().st_size > 0
    assert (out / "attribution-leaderboard-efficacy.png").stat().st_size > 0
    assert [t["fraction"] for t in data["lds"]] == [0.5, 0.1] and "ceiling" in data["lds"][0]
    assert "ceiling" not in data["lds"][1]
    # efficacy for the methods and heuristics, beside the reorder runs; variants get LDS only
    assert all(data["strategies"][v]["remove_top_d_onset"] is None for v in variants)
    assert all(data["strategies"][n]["augment_top_d_onset"] is not None for n in kronfluence)
    assert len(data["efficacy_noise"]) >= 1
    # the top-k's categories cover it exactly; the repeat-row flag's top-k is all injected rows
    assert all(sum(v["top_k_categories"].values()) == data["k"] for v in data["strategies"].values())
    assert data["strategies"]["repeat-row"]["top_k_categories"] == {"injected": data["k"]}
    golden = Path(__file__).parent / "golden" / "micro-attribution-leaderboard.md"
    if os.environ.get("MDA_UPDATE_GOLDEN"):
        golden.write_text(md)
    assert md == golden.read_text()
    bad = CliRunner().invoke(cli, [*args, "--strategies", "ekfac,nope"])
    assert bad.exit_code != 0
