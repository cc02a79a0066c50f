"""The paper's own setting end to end on CPU: Pythia-format rows and official-style revisions.

The fixture is written in the real formats: a Megatron `.idx` with its data cut into byte
shards at offsets that are not row-aligned, a GPT-NeoX `tokenizer.json`, and a small GPT-NeoX
saved with `save_pretrained` as `stepN` revisions (trained with the suite's own code on those
rows, so the revisions are a real trajectory) in a plain folder and in a Hugging Face cache.
`mda-bench run emergence-modulation --scale pythia-14m` then runs on it with `--set` sizes that
make it take about a minute.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import FEW_DRAWS

from mda_bench.checkpoint_io import load_checkpoint
from mda_bench.checkpoints import cache_folder
from mda_bench.cli import main
from mda_bench.corpus import CorpusConfig, build_corpus
from mda_bench.model import build_model
from mda_bench.pile import write_megatron
from mda_bench.pythia_data import PileStream, PythiaFiles, open_rows
from mda_bench.scales import ModelConfig, ProbeConfig, TrainConfig, get_scale
from mda_bench.stream import train_tokenizer
from mda_bench.train import train_run

SIZE = ModelConfig(n_layers=2, d_model=32, n_heads=2, ctx=32, vocab_size=300)
TRAIN = TrainConfig(steps=40, batch_size=8, lr=1e-3, warmup=4, ckpt_every=10)  # lr: pythia-14m's
SETS = [
    *("--set", "model.n_layers=2", "--set", "model.d_model=32", "--set", "model.n_heads=2"),
    *("--set", "model.ctx=32", "--set", "model.vocab_size=300"),
    *("--set", "train.steps=40", "--set", "train.batch_size=8", "--set", "train.warmup=4"),
    *("--set", "train.ckpt_every=10", "--set", "train.eval_every=2"),
    *("--set", "probe.n_seqs=8", "--set", "probe.half=8"),
]
REVISIONS = (0, 1, 2, 4, 8, 10, 20, 30, 40)


@pytest.fixture(scope="module")
def pythia_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pythia")
    docs = build_corpus(CorpusConfig(n_chars=150_000))
    tok = train_tokenizer(docs, SIZE.vocab_size)
    tok.save(str(root / "tokenizer.json"))
    ids = np.concatenate([tok.encode(d.text + "<|endoftext|>").ids for d in docs])
    n_rows = TRAIN.steps * TRAIN.batch_size + 64
    rows = ids[: n_rows * (SIZE.ctx + 1)].reshape(n_rows, SIZE.ctx + 1)
    # 66-byte rows in 1,000-byte shards: rows straddle shard boundaries
    idx = write_megatron(root / "pile-deduped-pythia-preshuffled", rows, shard_bytes=1000)
    _write_parquet(root / "pile-deduped-parquet", rows)
    (root / "wikitext.txt").write_text(" ".join(d.text for d in docs[-40:]))
    # the revisions: the suite trains the model on these rows, each checkpoint saved as stepN
    scale = replace(
        get_scale("pythia-14m"),
        model=SIZE,
        train=TRAIN,
        probe=ProbeConfig(n_seqs=8, half=8),
        tokenizer="gpt-neox",
    )
    stream = PileStream(open_rows(idx, SIZE.ctx + 1), rows[-8:], tok)
    train_run(scale, stream, root / "own", init_seed=7)
    plain = root / "pythia-14m-deduped"
    hub = cache_folder(root / "hub", "EleutherAI/pythia-14m-deduped")
    for step in REVISIONS:
        model = build_model(SIZE, 0)
        load_checkpoint(model, None, root / "own" / "ckpt" / f"step-{step:06d}")
        model.save_pretrained(plain / f"step{step}")
        commit = f"{step:040x}"
        model.save_pretrained(hub / "snapshots" / commit)
        (hub / "refs").mkdir(parents=True, exist_ok=True)
        (hub / "refs" / f"step{step}").write_text(commit)
    return {
        "idx": idx,
        "parquet": root / "pile-deduped-parquet",
        "tok": root / "tokenizer.json",
        "plain": plain,
        "hub": root / "hub",
        "root": root,
    }


def _write_parquet(folder: Path, rows: np.ndarray) -> None:
    """The community repack's layout (uid, batch_idx, token_ids), in two files, rows shuffled."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    order = np.random.default_rng(0).permutation(len(rows))
    for part, ids in enumerate(np.array_split(order, 2)):
        table = pa.table(
            {
                "uid": pa.array(ids, pa.int64()),
                "batch_idx": pa.array(ids // TRAIN.batch_size, pa.int64()),
                "token_ids": pa.array([rows[i].tolist() for i in ids], pa.list_(pa.int32())),
            }
        )
        pq.write_table(table, folder / f"part-{part}.parquet")


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    """The real entry point (errors become one line on stderr): (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["mda-bench", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def _files(f, checkpoints: Path) -> list[str]:
    return [
        "--pile-data",
        str(f["idx"]),
        "--tokenizer-json",
        str(f["tok"]),
        "--checkpoints",
        str(checkpoints),
    ]


def test_every_claim_runs_at_pythia_14m_from_official_revisions(pythia_files, tmp_path, capsys):
    f = pythia_files
    args = [
        *("run", "all", "--scale", "pythia-14m", *_files(f, f["hub"])),
        *("--heldout-text", str(f["root"] / "wikitext.txt"), *SETS),
        *(
            "--window-start",
            "10",
            *FEW_DRAWS,
            "--seeds",
            "1",
            "--rebuild-batches",
            "6",
        ),
        *("--store", str(tmp_path / "runs"), "--reports", str(tmp_path / "reports")),
    ]
    code, out, err = _run(args, capsys)
    assert code == 0, err
    for claim in ("emergence-modulation", "random-null", "structural-catalyst", "induction-icl-link"):
        assert f"{claim}:" in out and (tmp_path / "reports" / "pythia-14m" / f"{claim}.md").exists()
    assert "augmentation-speedup: augmentation-speedup needs a model ladder" in err
    report = json.loads((tmp_path / "reports" / "pythia-14m" / "emergence-modulation.json").read_text())
    rows = {r["run"]: r for r in report["table"]}
    assert "identity" in rows and "remove-top" in rows
    # the identity branch is the reference curve: its effects are zero by construction
    assert rows["identity"]["d_onset"] == 0 and rows["identity"]["d_area"] == 0
    store = tmp_path / "runs"
    (official,) = [p for p in (store / "official").iterdir() if p.is_dir()]
    steps = sorted(json.loads(p.read_text())["step"] for p in (official / "ckpt").glob("eval-*.json"))
    assert steps == list(REVISIONS)
    (state,) = [p for p in (store / "branch-state").iterdir() if p.is_dir()]
    manifest = json.loads((state / "manifest.json").read_text())
    assert manifest["optimizer_state"] == "rebuild" and manifest["rebuild_batches"] == 6
    # branches are scored every 2 steps (eval_every) between their checkpoints
    (branch,) = [p for p in (store / "retrain").iterdir() if p.is_dir()][:1]
    assert len(list((branch / "ckpt").glob("eval-*.json"))) > 0
    # a rerun reuses every stage: the same report
    code, _, err = _run(args, capsys)
    assert code == 0, err
    assert (
        json.loads((tmp_path / "reports" / "pythia-14m" / "emergence-modulation.json").read_text()) == report
    )
    # the leaderboard on official revisions: its reference curve is an identity branch through
    # the window (revisions are too coarse), efficacy's the claims' identity branch
    board_args = [
        *("validate", "--scale", "pythia-14m", *_files(f, f["hub"])),
        *("--heldout-text", str(f["root"] / "wikitext.txt"), *SETS),
        *("--window-start", "10", "--rebuild-batches", "6", "--subsets", "4"),
        *("--strategies", "identity,random"),
        *("--store", str(store), "--reports", str(tmp_path / "reports")),
    ]
    code, _, err = _run(board_args, capsys)
    assert code == 0, err
    board = json.loads((tmp_path / "reports" / "pythia-14m" / "attribution-leaderboard.json").read_text())
    assert board["strategies"]["identity"]["remove_top_d_onset"] is not None
    assert [t["fraction"] for t in board["lds"]] == [0.5, 0.1]
    ends = sorted(
        json.loads((p / "manifest.json").read_text())["config"]["end_step"]
        for p in (store / "retrain").iterdir()
        if json.loads((p / "manifest.json").read_text())["spec"]["operation"] == "identity"
    )
    # the subsets' identity runs to the window's end, efficacy's to the horizon: both step 40 here
    assert ends == [40] and board["reference_points"] > 0


def test_the_plain_folder_gives_the_same_baseline(pythia_files, tmp_path, capsys):
    f = pythia_files
    out = {}
    for name in ("plain", "hub"):
        store = ["--store", str(tmp_path / name), "--reports", str(tmp_path / "r")]
        code, stdout, err = _run(
            ["train", "--scale", "pythia-14m", *_files(f, f[name]), *SETS, *store], capsys
        )
        assert code == 0, err
        out[name] = stdout.split("run:")[0]
    assert out["plain"] == out["hub"]
    assert "L1H" in out["plain"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--checkpoints": None}, "needs --checkpoints PATH"),
        ({"--pile-data": None}, "needs --pile-data PATH"),
        ({"--pile": "standard"}, "is the deduped Pile's, but --pile is standard"),
        ({"--pile-data": "missing.idx"}, "--pile-data missing.idx does not exist"),
        ({"--heldout-text": "nowhere.txt"}, "--heldout-text nowhere.txt is not a file"),
        ({"--set": "model.d_model=64"}, "is it another model size?"),
    ],
)
def test_bad_pythia_inputs_are_one_line_and_exit_nonzero(pythia_files, tmp_path, change, message, capsys):
    f = pythia_files
    opts = dict(
        zip(
            ["--pile-data", "--tokenizer-json", "--checkpoints"],
            [str(f["idx"]), str(f["tok"]), str(f["plain"])],
        )
    )
    sets = list(SETS)
    for k, v in change.items():
        if k == "--set":
            sets += ["--set", v]
        elif v is None:
            opts.pop(k)
        else:
            opts[k] = v
    args = ["train", "--scale", "pythia-14m", *[x for kv in opts.items() for x in kv], *sets]
    code, _, err = _run([*args, "--store", str(tmp_path), "--reports", str(tmp_path / "r")], capsys)
    assert code != 0
    errors = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and err.strip().endswith(errors[0]), err


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing-shard", "document-00001-of-"),
        ("truncated-shard", "is truncated"),
        ("magic", "is not a Megatron index"),
        ("row-length", "has 33 tokens, expected 49"),
    ],
)
def test_damaged_pile_files_are_one_line(pythia_files, tmp_path, damage, message, capsys):
    import shutil

    f = pythia_files
    data = tmp_path / "pile-deduped"
    shutil.copytree(f["idx"].parent, data)
    shards = sorted(data.glob("document-*.bin"))
    if damage == "missing-shard":
        shards[1].unlink()
    elif damage == "truncated-shard":
        shards[-1].write_bytes(shards[-1].read_bytes()[:-10])
    elif damage == "magic":
        idx = data / "document.idx"
        idx.write_bytes(b"NOTMMIDX\x00" + idx.read_bytes()[9:])
    sets = [*SETS, "--set", "model.ctx=48"] if damage == "row-length" else SETS
    args = ["train", "--scale", "pythia-14m", "--pile-data", str(data / "document.idx")]
    args += [
        "--tokenizer-json",
        str(f["tok"]),
        "--checkpoints",
        str(f["plain"]),
        *sets,
        "--store",
        str(tmp_path),
    ]
    code, _, err = _run(args, capsys)
    errors = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], err


def test_pythia_files_are_refused_on_other_scales(pythia_files, capsys):
    code, _, err = _run(["train", "--scale", "micro", "--pile-data", str(pythia_files["idx"])], capsys)
    assert code != 0
    assert "--pile-data is for the pythia-* scales" in err


def test_a_missing_revision_at_the_window_start_is_one_line(pythia_files, tmp_path, capsys):
    f = pythia_files
    args = [
        *("run", "emergence-modulation", "--scale", "pythia-14m", *_files(f, f["plain"]), *SETS),
        *("--window-start", "5", "--store", str(tmp_path), "--reports", str(tmp_path / "r")),
    ]
    code, _, err = _run(args, capsys)
    assert code != 0
    assert "window start 5 is not a checkpoint step" in err.strip().splitlines()[-1]


def test_pile_files_stay_out_of_keys():
    from mda_bench.store import canonical

    sc = get_scale("pythia-14m")
    assert '"pythia":' not in canonical(sc)
    assert '"pythia":' in canonical(replace(sc, pythia=PythiaFiles(data="x.idx")))


def test_own_baseline_retraces_the_official_trajectory(pythia_files, tmp_path, capsys):
    """The fixture's revisions were trained by the suite on these rows, so a baseline trained
    from revision step0 under `own-baseline` must land on revision step40's weights exactly."""
    from mda_bench.checkpoints import load_revision

    f = pythia_files
    store = tmp_path / "runs"
    args = [
        *("train", "--scale", "pythia-14m", *_files(f, f["plain"]), *SETS),
        *("--optimizer-state", "own-baseline", "--own-until", "40"),
        *("--store", str(store), "--reports", str(tmp_path / "r")),
    ]
    code, out, err = _run(args, capsys)
    assert code == 0, err
    (own,) = [p for p in (store / "train").iterdir() if p.is_dir()]
    model = build_model(SIZE, 0)
    load_checkpoint(model, None, own / "ckpt" / "step-000040")
    mine, official = model.state_dict(), load_revision(f["plain"] / "step40").state_dict()
    assert mine.keys() == official.keys()
    gaps = {k: float((mine[k] - official[k]).abs().max()) for k in mine}
    assert max(gaps.values()) == 0.0, gaps
    # scored densely (eval_every 2) with true optimizer state at every checkpoint
    assert len(list((own / "ckpt").glob("eval-*.json"))) > 10
    assert (own / "ckpt" / "step-000010" / "optim.safetensors").exists()
    code, _, err = _run([*args[:-4], "--own-until", "0", "--store", str(store)], capsys)
    assert code != 0 and "needs --own-until STEP" in err
