"""The CLI end to end on the micro scale, and one clear line for every kind of bad input."""

import shutil
import sys
from pathlib import Path

import pytest

from mda_bench.cli import main


def invoke(args) -> int:
    """Run the real entry point with `args`; return its exit code."""
    old = sys.argv
    sys.argv = ["mda-bench", *args]
    try:
        main()
        return 0
    except SystemExit as exc:
        return exc.code or 0
    finally:
        sys.argv = old


def run_cli(args, capsys):
    code = invoke(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One micro baseline trained through the CLI, shared by the tests below."""
    store = tmp_path_factory.mktemp("cli-store")
    assert invoke(["train", "--scale", "micro", "--store", str(store)]) == 0
    return store


def test_list_names_all_five_claims(capsys):
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0
    for cid in (
        "emergence-modulation",
        "random-null",
        "structural-catalyst",
        "induction-icl-link",
        "augmentation-speedup",
    ):
        assert cid in out


def test_train_prints_table_and_writes_plot(trained, capsys):
    code, out, _ = run_cli(["train", "--scale", "micro", "--store", str(trained)], capsys)
    assert code == 0
    assert "prefix-matching" in out and "L1H1" in out and "onset step" in out
    png = next(trained.glob("train/*/head_curves.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def one_line_error(code, err):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return code != 0 and len(lines) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--scale", "huge"], "unknown scale"),
        (["run", "no-such-claim", "--scale", "micro"], "unknown claim"),
        (["train", "--scale", "micro", "--corpus", "/nonexistent/corpus"], "does not exist"),
        (["train", "--scale", "micro", "--set", "train.lr=5"], "lr must be"),
        (["train", "--scale", "micro", "--set", "train.steps=abc"], "not a valid int"),
        (["train", "--scale", "micro", "--set", "model.nonsense=1"], "no settable field"),
        (["train", "--scale", "pythia-14m"], "not implemented yet"),
        (["train", "--scale", "micro", "--seed", "-1"], "seed"),
        (["attribute", "--scale", "micro", "--strategy", "exactish"], "strategy"),
        (["agreement", "--scale", "micro", "--strategies", "ekfac,nope"], "--strategies wants"),
        (["agreement", "--scale", "micro", "--strategies", "ekfac,exact"], "other than the reference"),
        (["agreement", "--scale", "micro", "--strategies", "kfac,kfac"], "distinct"),
        (
            ["run", "augmentation-speedup", "--scale", "micro", "--generator", "no_such_module:f"],
            "cannot load",
        ),
        (["run", "augmentation-speedup", "--scale", "micro", "--generator", "generate"], "MODULE:FUNCTION"),
        (
            ["attribute", "--scale", "micro", "--unit", "previous-token", "--probe", "copy-logprob"],
            "does not measure",
        ),
    ],
)
def test_bad_input_gives_one_clear_line(args, needle, capsys, tmp_path):
    code, out, err = run_cli([*args, "--store", str(tmp_path)], capsys)
    assert one_line_error(code, err), err
    assert needle in err


def test_claim_requirements_are_checked_before_any_work(capsys, tmp_path):
    # augmentation-speedup needs a model ladder; micro-m is a rung, not the bottom of one
    args = ["run", "augmentation-speedup", "--scale", "micro-m", "--store", str(tmp_path / "s")]
    code, _, err = run_cli([*args, "--reports", str(tmp_path / "r")], capsys)
    assert one_line_error(code, err) and "needs a model ladder" in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()  # refused before any work


def test_corrupt_checkpoint_and_manifest(trained, capsys, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(trained, store)
    run_dir = next(p for p in (store / "train").iterdir() if p.is_dir())
    (run_dir / "manifest.json").write_text("{broken")
    code, _, err = run_cli(["train", "--scale", "micro", "--store", str(store)], capsys)
    assert one_line_error(code, err) and "corrupt" in err
    # a half-written checkpoint in a killed run: resuming reports it clearly
    shutil.rmtree(run_dir)
    shutil.copytree(trained / "train" / run_dir.name, run_dir.with_name(run_dir.name + ".partial"))
    part = run_dir.with_name(run_dir.name + ".partial")
    (part / "manifest.json").unlink()
    shutil.rmtree(max((part / "ckpt").glob("step-*")))  # drop the final checkpoint
    last = max((part / "ckpt").glob("step-*"))
    (last / "model.safetensors").write_bytes(b"garbage")
    code, _, err = run_cli(["train", "--scale", "micro", "--store", str(store)], capsys)
    assert one_line_error(code, err) and "corrupt checkpoint" in err


def test_attribute_window_start_must_be_a_checkpoint(trained, capsys):
    code, _, err = run_cli(
        ["attribute", "--scale", "micro", "--store", str(trained), "--window-start", "7"], capsys
    )
    assert one_line_error(code, err) and "not a checkpoint step" in err


def test_attribute_defaults_to_the_scales_window_start(trained, capsys, monkeypatch):
    """Without --window-start, `attribute` uses the scale's start, as `run` does, so both show
    the same attribution; an explicit --window-start still wins."""
    import dataclasses

    from mda_bench import cli

    real = cli.get_scale
    monkeypatch.setattr(cli, "get_scale", lambda name: dataclasses.replace(real(name), window_start=10))
    code, out, err = run_cli(["attribute", "--scale", "micro", "--store", str(trained)], capsys)
    assert code == 0, err
    assert "formation window: steps 10-" in out
    code, out, err = run_cli(
        ["attribute", "--scale", "micro", "--store", str(trained), "--window-start", "0"], capsys
    )
    assert code == 0, err
    assert "formation window: steps 0-" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--strategy", "ekfac"],
        ["--strategy", "kfac"],
        ["--strategy", "diagonal"],
        ["--strategy", "identity"],
        ["--strategy", "exact"],
        ["--unit", "previous-token"],
        ["--probe", "copy-logprob", "--empirical-fisher"],
    ],
)
def test_attribute_prints_head_window_top_rows_and_categories(trained, args, capsys):
    code, out, err = run_cli(["attribute", "--scale", "micro", "--store", str(trained), *args], capsys)
    assert code == 0, err
    assert "target " in out and "formation window: steps 0-" in out
    table = out.split("rank")[1]
    assert len([ln for ln in table.splitlines() if ln.strip()[:2].strip().isdigit()]) >= 10
    for cat in ("prose", "code", "latex", "markup", "records", "repetitive"):
        assert cat in out
    folder = out.strip().splitlines()[-1].split(": ")[1]
    assert "strategy" in (Path(folder) / "manifest.json").read_text()
