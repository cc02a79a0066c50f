"""Verdict rules on hand-made run tables, and full micro runs of the implemented claims."""

import json
import os
import platform
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CLAIMS, FEW_DRAWS, run_claims

from mda_bench.cli import cli
from tasks import augmentation_speedup as aug
from tasks import emergence_modulation as em
from tasks import induction_icl_link as link
from tasks import random_null as rn
from tasks import structural_catalyst as sc

GOLDEN = Path(__file__).parent / "golden"


def _row(run, op, sel, d_onset, d_area, censored=False):
    return {
        "run": run,
        "operation": op,
        "selection": sel,
        "d_onset": d_onset,
        "d_area": d_area,
        "censored": censored,
    }


def _table(rem_top, aug_top, rem_rand, aug_rand, noise, rem_matched=None, aug_matched=None):
    """One seed's runs table; matched draws default to the uniform ones."""
    t = [_row("baseline", "none", "none", 0, 0), _row("remove-top", "remove", "top", *rem_top)]
    t.append(_row("augment-top", "augment", "top", *aug_top))
    t += [_row(f"remove-random-{i}", "remove", "random", *x) for i, x in enumerate(rem_rand)]
    t += [_row(f"augment-random-{i}", "augment", "random", *x) for i, x in enumerate(aug_rand)]
    t += [
        _row(f"remove-matched-{i}", "remove", "matched-random", *x)
        for i, x in enumerate(rem_matched or rem_rand)
    ]
    t += [
        _row(f"augment-matched-{i}", "augment", "matched-random", *x)
        for i, x in enumerate(aug_matched or aug_rand)
    ]
    t += [_row(f"reorder-{i}", "reorder", "none", *x) for i, x in enumerate(noise)]
    return t


RAND = [(5, -1), (-5, 1), (0, 0), (2, 0)]
NOISE = [(10, -2), (-10, 2), (0, 0)]


def test_emergence_modulation_verdicts():
    holds = [_table((100, -20), (-80, 15), RAND, RAND, NOISE)] * 2  # most extreme of 4 in 2 seeds: p = 1/25
    assert em.decide(holds, [True, True]).verdict == "holds"
    assert em.decide(holds, [True, False]).verdict == "inconclusive"
    # one seed cannot reach alpha with 4 draws (smallest p 1/5): inconclusive, and it says so
    v = em.decide(holds[:1], [True])
    assert v.verdict == "inconclusive" and "smallest reachable 0.2" in v.reasons[0]
    wrong = [_table((-100, 20), (-80, 15), RAND, RAND, NOISE)] * 2  # removal advanced it
    assert em.decide(wrong, [True, True]).verdict == "does not hold"
    # beyond uniform draws but inside the category-matched ones: the headline does not hold
    # (the targeted effect is smaller than the matched draws' mean), the uniform finding is reported
    matched = [(150, -30), (120, -25), (130, -20), (140, -20)]
    catalyst = [_table((100, -20), (-80, 15), RAND, RAND, NOISE, rem_matched=matched)] * 2
    v = em.decide(catalyst, [True, True])
    assert v.verdict == "does not hold"
    assert (
        v.reasons[0].startswith("remove-top not beyond category-matched") and "beyond uniform" in v.reasons[2]
    )
    # right way on average but not in every seed: inconclusive
    mixed = [_table((100, -20), (-80, 15), RAND, RAND, NOISE), _table((-1, 0), (-80, 15), RAND, RAND, NOISE)]
    assert em.decide(mixed, [True, True]).verdict == "inconclusive"


def test_random_null_verdicts():
    # random draws like noise, a large targeted effect: null with power, ratio CI under 1/3
    seeds = [
        _table((100, -20), (-80, 15), RAND, RAND, NOISE),
        _table((120, -20), (-90, 15), RAND, RAND, NOISE),
    ]
    pooled = [row for t in seeds for row in t]
    v = rn.decide(pooled, [True, True])
    assert v.verdict == "holds", v.reasons
    far_off = [_table((100, -20), (-80, 15), [(60, -9), (70, -11), (65, -10), (62, 0)], RAND, NOISE)] * 2
    v = rn.decide([row for t in far_off for row in t], [True, True])
    assert v.verdict == "does not hold" and "not null" in v.reasons[0]
    # a weak targeted effect: the test has no power for 1/3 of it -> inconclusive
    weak = [_table((3, -0.2), (-3, 0.2), RAND, RAND, NOISE)] * 2
    assert rn.decide([row for t in weak for row in t], [True, True]).verdict == "inconclusive"
    # no targeted effect at all: the ratio is undefined, never "far smaller"
    none = [_table((0, 0), (0, 0), RAND, RAND, NOISE)] * 2
    v = rn.decide([row for t in none for row in t], [True, True])
    assert v.verdict == "inconclusive" and "untestable" in v.reasons[0]
    s = rn.stats(pooled, "remove")
    assert np.mean(s["noise"]) == 0 and len(s["random"]) == 8


NUM = re.compile(r"[-+]?(?:\d+(?:\.\d+)?|nan|inf)")


def _same_within(text: str, golden: str, rel: float = 0.02, abs_: float = 0.02, numbers: bool = True) -> None:
    """Same markdown with every number equal within a tolerance (float rounding), or with
    `numbers=False` the same markdown but for its numbers."""
    assert NUM.sub("#", text) == NUM.sub("#", golden)
    if numbers:
        for a, b in zip(NUM.findall(text), NUM.findall(golden)):
            assert float(a) == pytest.approx(float(b), rel=rel, abs=abs_, nan_ok=True), (a, b)


def cpu_vendor() -> str:
    """`intel`, `amd` or the machine's architecture: MKL takes other kernels on other CPUs,
    and 1,500 steps of training turn their last-bit differences into other onsets."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                v = line.split(":", 1)[1].strip()
                return {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(v, v.lower())
    except OSError:
        pass
    return platform.machine().lower()


def _check_golden(md: str, root: Path, name: str, by_cpu: bool = False) -> None:
    """Compare a report with tests/golden/NAME.md (paths of this run replaced by $ROOT);
    MDA_UPDATE_GOLDEN=1 rewrites the golden instead.

    `by_cpu`: the numbers are this CPU vendor's (tests/golden/<vendor>/NAME.md): `smoke`'s
    claims train 1,500 steps, and an Intel and an AMD machine reach onsets a step or two apart
    (docs/determinism.md). On a vendor with no golden of its own the report must still match
    another vendor's in everything but its numbers."""
    md = md.replace(str(root), "$ROOT")
    if not by_cpu:
        golden = GOLDEN / f"{name}.md"
        if os.environ.get("MDA_UPDATE_GOLDEN"):
            golden.write_text(md)
        _same_within(md, golden.read_text())
        return
    golden = GOLDEN / cpu_vendor() / f"{name}.md"
    if os.environ.get("MDA_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(md)
    if golden.exists():
        _same_within(md, golden.read_text())
        return
    others = sorted(GOLDEN.glob(f"*/{name}.md"))
    assert others, f"no golden for {name} on any CPU: run with MDA_UPDATE_GOLDEN=1"
    _same_within(md, others[0].read_text(), numbers=False)


# Claims whose goldens come from `smoke`, where a head forms; augmentation-speedup needs a
# model ladder and keeps its golden on the micro ladder.
# structural-catalyst trains 20 removals to the baseline's last step (about 6 minutes at smoke):
# its golden stays on micro, like augmentation-speedup's, to keep the suite near 10 minutes.
SMOKE_CLAIMS = ("emergence-modulation", "random-null", "induction-icl-link")


@pytest.fixture(scope="module")
def smoke_reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    return root, run_claims(root, "smoke", SMOKE_CLAIMS, seeds=1)  # 2 seeds: 4 more minutes


@pytest.mark.parametrize("claim", CLAIMS)
def test_micro_claim_reports_are_complete(micro_reports, claim):
    folder, outputs = micro_reports
    md = (folder / f"{claim}.md").read_text()
    assert (folder / f"{claim}.png").stat().st_size > 5000
    runs = md.split("## Runs")[1].split("##")[0]
    lines = [ln for ln in runs.splitlines() if ln.startswith("| ")][1:]
    # per seed: baseline, top and bottom of each operation, 2 uniform and 2 matched draws of
    # each, the identity branch and 2 reorder runs (induction-icl-link reads the same runs)
    modulation = 1 + 4 + 2 * 2 + 2 * 2 + 1 + 2
    n_runs = {
        "structural-catalyst": 1 + 5 * 3,  # per category with rows (5 at micro): itself, 1 random, natural
        "augmentation-speedup": 3 * 6,
    }
    assert len(lines) == n_runs.get(claim, 2 * modulation)
    n_cols = {"augmentation-speedup": 9, "structural-catalyst": 11}.get(claim, 12)  # 12: a seed column
    assert all("|  |" not in ln and ln.count("|") == n_cols + 1 for ln in lines)  # every column filled
    saved = json.loads((folder / f"{claim}.json").read_text())
    assert saved["verdict"] in ("holds", "does not hold", "inconclusive")
    assert f"{claim}: {saved['verdict']}" in outputs[claim][0]
    assert f"[{claim}]({claim}.md) | {saved['verdict']}" in (folder / "README.md").read_text()
    # the recorded command names where the runs and reports went
    assert f"--store {folder.parent.parent / 'runs'}" in md and f"--reports {folder.parent}" in md
    if claim in ("augmentation-speedup", "structural-catalyst"):
        _check_golden(md, folder.parent.parent, f"micro-{claim}")


@pytest.mark.parametrize("claim", SMOKE_CLAIMS)
def test_smoke_claim_reports_show_a_formed_head_and_match_golden(smoke_reports, claim):
    root, outputs = smoke_reports
    folder = root / "reports" / "smoke"
    md = (folder / f"{claim}.md").read_text()
    saved = json.loads((folder / f"{claim}.json").read_text())
    assert f"{claim}: {saved['verdict']}" in outputs[claim][0]
    assert "- no unit formed in the baseline run" not in md  # smoke's point: a real head
    _check_golden(md, root, f"smoke-{claim}", by_cpu=True)


def test_micro_agreement_report_matches_golden(micro_reports):
    """`agreement` on the claims' own store: reuses their ekfac attribution, adds identity and
    the exact reference; the exact row agrees with itself, the report matches its golden."""
    folder, _ = micro_reports
    store = folder.parent.parent / "runs"
    n_att = len(list((store / "attribution").iterdir()))
    args = ["agreement", "--scale", "micro", "--store", str(store), "--reports", str(folder.parent)]
    res = CliRunner().invoke(cli, [*args, "--strategies", "ekfac,identity"])
    assert res.exit_code == 0, res.output
    assert len(list((store / "attribution").iterdir())) == n_att + 2  # ekfac was reused
    md = (folder / "attribution-agreement.md").read_text()
    assert "| exact | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in md and "| ekfac |" in res.output
    saved = json.loads((folder / "attribution-agreement.json").read_text())
    assert [r["strategy"] for r in saved["rows"]] == ["ekfac", "identity", "exact"]
    assert (folder / "attribution-agreement.png").stat().st_size > 5000
    _check_golden(md, folder.parent.parent, "micro-attribution-agreement")
    # the empirical-Fisher comparison is a report of its own, next to the sampled-label one
    res = CliRunner().invoke(cli, [*args, "--strategies", "identity", "--empirical-fisher"])
    assert res.exit_code == 0, res.output
    assert "Fisher: empirical" in (folder / "attribution-agreement-empirical.md").read_text()
    assert (folder / "attribution-agreement.md").read_text() == md


def test_other_strategy_reports_go_to_their_own_folder(micro_reports):
    folder, _ = micro_reports
    store = folder.parent.parent / "runs"
    before = (folder / "emergence-modulation.md").read_text()
    args = ["run", "emergence-modulation", "--scale", "micro", "--store", str(store)]
    args += [
        "--reports",
        str(folder.parent),
        *FEW_DRAWS,
        "--strategy",
        "identity",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    md = (folder / "identity" / "emergence-modulation.md").read_text()
    assert "attribution: identity" in md and "--strategy identity" in md
    assert (folder / "emergence-modulation.md").read_text() == before  # the default report is kept
    # the default summary, rewritten by the next default run, links the identity folder
    res = CliRunner().invoke(cli, ["run", "random-null", *args[2:-2]])
    assert res.exit_code == 0, res.output
    summary = (folder / "README.md").read_text()
    assert (
        "- [identity/](identity/README.md): scale `micro`, unit `induction`, attribution `identity`"
        in summary
    )


def test_second_claim_reuses_the_shared_runs(micro_reports):
    _, outputs = micro_reports
    counts = [outputs[c][1] for c in CLAIMS]
    # 2 seeds x 15 branches and the dose response (4 more k, top and a matched draw); random-null
    # and induction-icl-link train nothing new; structural: 5 categories x 3 removals;
    # augmentation-speedup: five insertion runs (two corpus draws) at each of three scales
    assert counts == [38, 38, 53, 53, 68]


def test_run_refuses_bad_input(tmp_path):
    r = CliRunner().invoke(cli, ["run", "no-such-claim", "--scale", "micro", "--store", str(tmp_path)])
    assert r.exit_code != 0 and "'no-such-claim' is not one of" in r.output
    r = CliRunner().invoke(cli, ["run", "emergence-modulation", "--scale", "micro", "--k-fraction", "1.5"])
    assert r.exit_code != 0


def test_ladder_rungs_differ_only_in_size():
    from dataclasses import replace

    from mda_bench.scales import get_scale
    from mda_bench.stream import RepeatRows

    base = replace(get_scale("tiny"), repeat=RepeatRows(0.3, 6, 32))  # as after --set repeat.share=0.3
    rungs = [aug.rung_scale(base, r) for r in aug.LADDERS["tiny"]]
    assert [r.name for r in rungs] == ["tiny", "tiny-m", "tiny-l"]
    assert [(r.model.n_layers, r.model.d_model, r.model.n_heads) for r in rungs] == [
        (2, 64, 2),
        (3, 64, 2),
        (2, 96, 3),
    ]
    assert all(r.repeat == base.repeat and r.train == base.train and r.corpus == base.corpus for r in rungs)
    assert rungs[0].model == base.model and rungs[1].model == get_scale("tiny-m").model


def _arow(rung, run, onset, censored=False, heldout=0.0, rose=True):
    return {
        "rung": rung,
        "run": run,
        "onset": onset,
        "censored": censored,
        "heldout_change": heldout,
        "rose": rose,
    }


def _ladder(*onsets, heldout=0.0):
    """Rows for rungs a, b: (baseline, synthetic-top, corpus-rows, synthetic-random) onsets;
    synthetic-repeat 3 steps after synthetic-random, a second corpus-rows draw 5 after the first."""
    rows = []
    for rung, (b, t, c, r) in zip("ab", onsets):
        rows += [_arow(rung, "baseline", b), _arow(rung, "synthetic-top", *t, heldout=heldout)]
        rows += [_arow(rung, "synthetic-random", *r), _arow(rung, "synthetic-repeat", r[0] + 3, *r[1:])]
        rows += [_arow(rung, "corpus-rows-1", *c)]
        rows += [_arow(rung, "corpus-rows-2", c[0] + 5, *c[1:])]
    return rows


def test_augmentation_speedup_verdicts():
    early = ((100,), (150,), (160,))
    assert aug.decide(_ladder((200, *early), (300, (250,), (290,), (280,)))).verdict == "holds"
    # one rung where synthetic-top is later than a baseline -> does not hold
    late = (300, (250,), (240,), (280,))
    assert aug.decide(_ladder((200, *early), late)).verdict == "does not hold"
    # censored synthetic-top against a measured baseline is not earlier
    cens = (300, (400, True), (290,), (280,))
    assert aug.decide(_ladder((200, *early), cens)).verdict == "does not hold"
    # a measured onset beats a censored baseline; both censored leaves it open
    assert (
        aug.decide(_ladder((200, (100,), (400, True), (160,)), (300, (250,), (290,), (280,)))).verdict
        == "holds"
    )
    both = (300, (400, True), (400, True), (280,))
    assert aug.decide(_ladder((200, *early), both)).verdict == "does not hold"  # later than synthetic-random
    both = (300, (400, True), (400, True), (400, True))
    assert aug.decide(_ladder((200, *early), both)).verdict == "inconclusive"
    # earlier than one corpus draw but not the other
    rows = _ladder((200, *early), (300, (250,), (290,), (280,)))
    rows[-1]["onset"] = 240
    assert aug.decide(rows).verdict == "does not hold"
    # the same dose of the recipe's repeat rows is as fast as synthetic-top -> does not hold
    rows = _ladder((200, *early), (300, (250,), (290,), (280,)))
    next(r for r in rows if r["rung"] == "b" and r["run"] == "synthetic-repeat")["onset"] = 249
    v = aug.decide(rows)
    assert v.verdict == "does not hold" and "synthetic-repeat 249" in v.reasons[1]
    # held-out loss over the tolerance
    v = aug.decide(_ladder((200, *early), (300, (250,), (290,), (280,)), heldout=aug.HELDOUT_TOL + 0.01))
    assert v.verdict == "does not hold" and "tolerance" in v.reasons[0]
    # no head in a rung's baseline
    rows = _ladder((200, *early), (300, (250,), (290,), (280,)))
    for r in rows[6:]:
        r["rose"] = False
    assert aug.decide(rows).verdict == "inconclusive"


def test_enrichment_on_a_hand_made_table():
    labels = np.array(["injected"] * 30 + ["prose"] * 60 + ["latex"] * 10)
    top = np.zeros(100, bool)
    top[:20] = True  # all 20 top rows injected: share 1.0 against a base rate of 0.3
    names = ["injected", "prose", "latex"]
    e = {x["category"]: x for x in sc.enrichment(labels, top, names, n_null=2000)}
    assert e["injected"]["base"] == pytest.approx(0.3) and e["injected"]["top"] == 1.0
    assert e["injected"]["ratio"] == pytest.approx(1 / 0.3) and e["injected"]["n_window"] == 30
    assert e["injected"]["p"] < 0.001  # 20 of 20 from 30 of 100 essentially never happens
    assert e["prose"]["top"] == 0 and e["prose"]["p"] == pytest.approx(1.0)
    even = np.zeros(100, bool)
    even[::5] = True  # rows 0,5,..: 6 injected of 20 = the base rate
    p = {x["category"]: x["p"] for x in sc.enrichment(labels, even, names, n_null=2000)}
    assert 0.3 < p["injected"] < 0.8


def _enr(cat, ratio, p, n=100):
    return {"category": cat, "n_window": n, "base": 0.1, "top": 0.1 * ratio, "ratio": ratio, "p": p}


def _structural_table(latex_delay, injected_delay=500):
    t = []
    for cat, delay in (("latex", latex_delay), ("markup", 5), ("records", 5), ("injected", injected_delay)):
        t.append(_row(f"remove-{cat}", "remove", cat, delay, -1))
        t += [_row(f"remove-random-{cat}-{i}", "remove", "random", 20, -1) for i in (1, 2)]
        t.append(_row(f"remove-natural-{cat}", "remove", "natural", 10, -1))
    return t


def test_structural_verdicts_per_paper_category():
    quiet = [_enr("markup", 0.5, 0.9), _enr("records", 0.2, 0.99), _enr("injected", 3.0, 0.0001)]
    # latex enriched (p under 0.05 / 3) and its removal beyond every comparator: a catalyst
    v = sc.decide([_enr("latex", 2.0, 0.001), *quiet], _structural_table(300), True)
    assert v.verdict == "holds" and "-> catalyst" in v.reasons[0]
    assert (
        sc.decide([_enr("latex", 2.0, 0.001), *quiet], _structural_table(300), False).verdict
        == "inconclusive"
    )
    # only the injected rows are enriched and delay the head: the paper's categories are not catalysts
    v = sc.decide([_enr("latex", 0.5, 0.9), *quiet], _structural_table(5), True)
    assert v.verdict == "does not hold" and "injected" in v.reasons[-1] and "-> catalyst" not in v.reasons[0]
    # enriched at p = 0.03: not under the Bonferroni level 0.0167; its removal delays: inconclusive
    assert (
        sc.decide([_enr("latex", 2.0, 0.03), *quiet], _structural_table(300), True).verdict == "inconclusive"
    )


def _lrow(seed, run, op, d_ind, d_icl):
    return {"seed": seed, "run": run, "operation": op, "selection": "x", "d_ind": d_ind, "d_icl": d_icl}


def test_link_verdicts():
    rng = np.random.default_rng(0)
    noise = [
        _lrow(s, f"remove-random-{i}", "remove", x, 0.1 * x + 0.01 * rng.normal())
        for s in (0, 1, 2)
        for i, x in enumerate(rng.normal(size=8))
    ]
    good = noise + [_lrow(s, "remove-top", "remove", -3, -0.3) for s in (0, 1, 2)]
    good += [_lrow(s, "augment-top", "augment", 2, 0.2) for s in (0, 1, 2)]
    v = link.decide(good, [True] * 3)
    assert v.verdict == "holds", v.reasons
    assert link.decide(good, [True, False, True]).verdict == "inconclusive"
    # removal raised ICL in two of three seeds: does not hold
    against = [dict(r, d_icl=0.3) if r["run"] == "remove-top" and r["seed"] < 2 else r for r in good]
    assert link.decide(against, [True] * 3).verdict == "does not hold"
    # in the right direction in 2 of 3 seeds only: inconclusive
    one = [dict(r, d_icl=0.3) if r["run"] == "remove-top" and r["seed"] == 0 else r for r in good]
    assert link.decide(one, [True] * 3).verdict == "inconclusive"
    # no relation at all across runs
    flat = [dict(r, d_icl=0.0) for r in good]
    assert link.decide(flat, [True] * 3).verdict == "inconclusive"


def test_previous_token_unit_reports_go_to_their_own_folder(tmp_path):
    args = [
        "run",
        "emergence-modulation",
        "--scale",
        "micro",
        "--unit",
        "previous-token",
        "--strategy",
        "identity",
    ]
    args += [
        *FEW_DRAWS,
        "--store",
        str(tmp_path / "runs"),
        "--reports",
        str(tmp_path / "r"),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    folder = tmp_path / "r" / "micro" / "previous-token" / "identity"  # unit, then strategy
    md = (folder / "emergence-modulation.md").read_text()
    assert "unit: previous-token" in md and "--unit previous-token --strategy identity" in md
    assert "unit `previous-token`" in (folder / "README.md").read_text()
    assert not (tmp_path / "r" / "micro" / "emergence-modulation.md").exists()


def test_a_seed_without_its_unit_is_warned_about_before_the_branches(micro_reports):
    """At micro no head forms: `run` says so for the seed, in the command's log, up front; the
    claim's verdict follows with its wall time."""
    folder, _ = micro_reports
    store = folder.parent.parent / "runs"
    args = ["run", "emergence-modulation", "--scale", "micro", "--store", str(store)]
    res = CliRunner().invoke(
        cli,
        [*args, "--reports", str(folder.parent), *FEW_DRAWS],
    )
    assert res.exit_code == 0, res.output
    text = max((store / "logs").glob("*-run.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert "warning: seed 0 (order seed 0): the induction head did not form" in text
    # the claim's verdict and how long it took, logged after the warning
    done = re.search(r"emergence-modulation: (holds|does not hold|inconclusive) after \d+ min \d+ s", text)
    assert done and text.index("did not form") < done.start()
