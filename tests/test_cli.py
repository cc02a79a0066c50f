"""The CLI end to end on the micro scale, and one clear line for every kind of bad input."""

import shutil
import sys
from pathlib import Path

import pytest
from conftest import FEW_DRAWS

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
    reports = store.parent / "cli-reports"
    assert invoke(["train", "--scale", "micro", "--store", str(store), "--reports", str(reports)]) == 0
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
    reports = trained.parent / "cli-reports"
    code, out, _ = run_cli(
        ["train", "--scale", "micro", "--store", str(trained), "--reports", str(reports)], capsys
    )
    assert code == 0
    assert "prefix-matching" in out and "L1H1" in out and "onset step" in out
    png = next(reports.glob("micro/train-*.png"))
    assert not list(trained.glob("train/*/*.png"))  # nothing is written into the store
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def one_line_error(code, err):
    """A non-zero exit whose error is one line, the last on stderr (progress may come before)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    return code != 0 and len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--scale", "huge"], "'huge' is not one of"),
        (["run", "no-such-claim", "--scale", "micro"], "'no-such-claim' is not one of"),
        (["train", "--scale", "micro", "--corpus", "/nonexistent/corpus"], "does not exist"),
        (["train", "--scale", "micro", "--set", "train.lr=5"], "lr must be"),
        (["train", "--scale", "micro", "--set", "train.steps=abc"], "not a valid int"),
        (["train", "--scale", "micro", "--set", "model.nonsense=1"], "no settable field"),
        (["train", "--scale", "pythia-14m"], "needs --pile-data PATH"),
        (["train", "--scale", "micro", "--seed", "-1"], "seed"),
        (["train", "--scale", "micro", "--set", "train.clip=-1"], "train.clip must be > 0, got -1.0"),
        (["train", "--scale", "micro", "--set", "train.beta1=2"], "train.beta1 must be in [0, 1), got 2.0"),
        (["train", "--scale", "micro", "--set", "model.rotary_pct=5"], "model.rotary_pct must be in (0, 1]"),
        (["train", "--scale", "micro", "--set", "model.mlp_ratio=0"], "model.mlp_ratio must be in [1, 16]"),
        (["train", "--scale", "micro", "--set", "model.rotary_pct=0.1"], "an even number >= 2"),
        (["train", "--scale", "micro", "--set", "repeat.share=1"], "repeat.share must be in [0, 1)"),
        (["train", "--scale", "micro", "--corpus", "hf:"], "wants hf:NAME"),
        (["train", "--scale", "micro", "--corpus", "hf:@train"], "wants hf:NAME"),
        (["train", "--scale", "micro", "--unit", "x"], "No such option"),
        (["attribute", "--scale", "micro", "--unit", "x"], "'x' is not one of"),
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


def test_store_through_a_regular_file_is_one_line(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(["train", "--scale", "micro", "--store", str(tmp_path / "file" / "x")], capsys)
    assert one_line_error(code, err) and "Not a directory" in err and code == 2


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"\x00\x01\x02binary" * 100, "is binary"),
        (b"\xff\xfe\xfa not utf-8", "not UTF-8"),
        (b"\n\n  \n", "holds no text"),
    ],
)
def test_bad_corpus_files_are_refused_before_the_data_stage_is_stored(content, needle, capsys, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    store = tmp_path / "store"
    code, _, err = run_cli(
        ["train", "--scale", "micro", "--store", str(store), "--corpus", str(corpus)], capsys
    )
    assert one_line_error(code, err) and needle in err
    assert not [p for p in (store / "data").glob("*") if p.is_dir() and not p.name.endswith(".partial")]


def test_hub_corpus_fails_at_once_when_offline(capsys, tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    t0 = time.time()
    code, _, err = run_cli(
        ["train", "--scale", "micro", "--store", str(tmp_path), "--corpus", "hf:nobody/none"], capsys
    )
    assert one_line_error(code, err) and "not in the local cache" in err
    assert time.time() - t0 < 20


def test_one_plain_text_file_is_a_corpus(capsys, tmp_path):
    """A single text file (this README) is split at blank lines into documents and trains."""
    readme = Path(__file__).parent.parent / "README.md"
    (tmp_path / "readme.txt").write_text(readme.read_text() * 3)
    args = ["train", "--scale", "micro", "--store", str(tmp_path / "s"), "--reports", str(tmp_path / "r")]
    code, out, err = run_cli(
        [*args, "--corpus", str(tmp_path / "readme.txt"), "--set", "train.steps=4"], capsys
    )
    assert code == 0, err
    docs = next((tmp_path / "s" / "data").glob("*/docs.jsonl")).read_text().splitlines()
    assert len(docs) > 3


def test_split_documents_joins_paragraphs_to_the_minimum_size():
    from mda_bench.corpus import split_documents

    text = "\n\n".join(f"para {i} " + "x" * 50 for i in range(10))
    docs = split_documents(text, min_chars=120)
    assert all(len(d) >= 120 for d in docs[:-1]) and "".join(docs).count("para") == 10
    assert split_documents("one\n\n\n\ntwo", min_chars=1) == ["one", "two"]


def test_bare_command_shows_help_and_exits_0(capsys):
    code, out, err = run_cli([], capsys)
    assert code == 0 and "Commands:" in out and "run" in out and err == ""


def test_run_help_lists_every_claim_and_all(capsys):
    from mda_bench.claims import CLAIM_IDS
    from tasks import TASKS

    assert tuple(TASKS) == CLAIM_IDS
    code, out, _ = run_cli(["run", "--help"], capsys)
    assert code == 0
    for cid in (*CLAIM_IDS, "all"):
        assert cid in out.split("Options:")[0]


def test_finished_store_is_read_without_writing_into_it(trained, capsys, tmp_path):
    """A rerun on a finished store writes nothing there but its log (which a read-only store
    skips): no lock, no plot, no manifest rewrite."""
    before = {p: p.stat().st_mtime_ns for p in trained.rglob("*") if "logs" not in p.parts}
    code, _, err = run_cli(
        ["train", "--scale", "micro", "--store", str(trained), "--reports", str(tmp_path)], capsys
    )
    assert code == 0, err
    after = {p: p.stat().st_mtime_ns for p in trained.rglob("*") if "logs" not in p.parts}
    assert after == before


def test_log_file_and_progress_lines_when_not_a_terminal(tmp_path):
    """Piped, progress comes as plain lines; every command leaves a log in the store."""
    import os
    import subprocess

    env = {**os.environ, "MDA_PROGRESS_SECONDS": "0"}
    args = [sys.executable, "-m", "mda_bench", "train", "--scale", "micro", "--store", str(tmp_path / "s")]
    res = subprocess.run([*args, "--reports", str(tmp_path / "r")], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("train micro:")]
    assert len(progress) >= 3 and "\r" not in res.stderr and "40/40" in progress[-1]
    log = next((tmp_path / "s" / "logs").glob("*-train.log")).read_text()
    assert "command: mda-bench train --scale micro" in log and "40/40" in log
    quiet = subprocess.run(
        [*args[:3], "-q", *args[3:], "--reports", str(tmp_path / "r")], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_sigterm_says_how_to_resume_and_the_rerun_resumes(tmp_path):
    import signal
    import subprocess
    import time

    args = [sys.executable, "-m", "mda_bench", "train", "--scale", "micro", "--store", str(tmp_path / "s")]
    args += ["--reports", str(tmp_path / "r"), "--set", "train.steps=3000", "--set", "train.ckpt_every=10"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "s").glob("train/*.partial/ckpt/step-000020")) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun the same command to resume" in err and "Traceback" not in err
    done = sorted((tmp_path / "s").glob("train/*.partial/ckpt/step-*"))
    assert done and not list((tmp_path / "s").glob("train/*/manifest.json"))


def test_damaged_stage_is_refused_and_store_commands_mend_it(trained, capsys, tmp_path):
    from mda_bench import store as store_module

    store = tmp_path / "store"
    shutil.copytree(trained, store)
    run_dir = next(p for p in (store / "train").iterdir() if p.is_dir())
    weights = run_dir / "ckpt" / "step-000040" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4000:] = bytes(4000)  # same length, other bytes
    weights.write_bytes(bytes(data))
    store_module._HASHED.clear()  # a fresh process
    args = ["--store", str(store)]
    code, _, err = run_cli(["train", "--scale", "micro", *args, "--reports", str(tmp_path)], capsys)
    assert one_line_error(code, err) and "is damaged" in err and f"store rm train/{run_dir.name}" in err
    code, out, _ = run_cli(["store", "verify", *args], capsys)
    assert code == 1 and f"train/{run_dir.name}: damaged" in out and "1 damaged" in out
    code, out, _ = run_cli(["store", "rm", f"train/{run_dir.name}", *args], capsys)
    assert code == 0 and not run_dir.exists()
    code, _, err = run_cli(["train", "--scale", "micro", *args, "--reports", str(tmp_path)], capsys)
    assert code == 0, err
    code, out, _ = run_cli(["store", "verify", *args], capsys)
    assert code == 0 and "0 damaged" in out
    code, out, _ = run_cli(["store", "ls", *args], capsys)
    assert code == 0 and f"train/{run_dir.name}" in out and "finished" in out
    code, _, err = run_cli(["store", "rm", "train/nope", *args], capsys)
    assert one_line_error(code, err) and "no stored stage" in err


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

    from mda_bench.cli import options

    real = options.get_scale
    monkeypatch.setattr(options, "get_scale", lambda name: dataclasses.replace(real(name), window_start=10))
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


def test_full_disk_is_one_line_and_nothing_is_taken_as_done(capsys, tmp_path):
    """A store on a 3 MB file system: the micro checkpoints do not fit."""
    import subprocess

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        args = ["train", "--scale", "micro", "--store", str(small / "s"), "--reports", str(tmp_path / "r")]
        code, _, err = run_cli(args, capsys)
        assert one_line_error(code, err) and "No space left on device" in err and code == 2
        assert not list((small / "s" / "train").glob("*/manifest.json"))
    finally:
        umount = subprocess.run(["umount", str(small)], capture_output=True)
        if umount.returncode:  # busy: something kept a file of the store open
            subprocess.run(["umount", "-l", str(small)])
    assert umount.returncode == 0, "a file in the store (the log?) was left open"


def test_sigterm_during_parallel_branches_stops_the_workers(tmp_path):
    """`run --jobs 2` killed while two branches train: the command exits 130 at once and its
    worker processes are gone (not left training in the background)."""
    import signal
    import subprocess
    import time

    args = [sys.executable, "-m", "mda_bench", "run", "emergence-modulation", "--scale", "micro"]
    args += ["--store", str(tmp_path / "s"), "--reports", str(tmp_path / "r"), "--jobs", "2"]
    args += [
        *FEW_DRAWS,
        "--set",
        "train.steps=1500",
        "--set",
        "train.ckpt_every=10",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the baseline and attribution come first: on a loaded machine they took over 4 minutes
    # (a CI run beside a training job), so wait up to 10; the loop ends as soon as branches train
    deadline = time.time() + 600
    while len(list((tmp_path / "s").glob("retrain/*.partial/ckpt/step-*"))) < 4 and time.time() < deadline:
        time.sleep(0.5)
    workers = [
        int(p)
        for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    ]
    assert workers, "no worker processes found"
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    assert time.time() - t0 < 30

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has stopped
        except FileNotFoundError:
            return False

    deadline = time.time() + 10  # terminate() has signalled them; give them a moment to go
    while any(running(p) for p in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if running(p)], "workers still running"
