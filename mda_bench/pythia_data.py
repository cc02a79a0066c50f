"""The `pythia-*` scales' data: Pythia's pre-shuffled Pile rows as the engine's stream.

A `pythia-*` scale trains on nothing the suite builds: the rows, their order and the tokenizer
are Pythia's, read from local files the user names (`PythiaFiles`, from the CLI's
`--pile-data/--tokenizer-json/--heldout-text/--pile/--checkpoints`). `PileStream` serves them
through the interface the engine reads from a `TokenStream` (rows by id, row count, held-out
rows, category counts), so interventions, branches and attribution run unchanged. A row is
2,049 tokens: the model reads `row[:-1]` and predicts `row[1:]`, exactly what the engine's
loss does with any row.

The data stage's key is the content, not the paths: the row count and length, a hash of the
first and last rows, the tokenizer file and the held-out text, and standard vs deduped.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .categories import CATEGORIES, classify
from .errors import MdaError

PYTHIA_DATA_VERSION = 1
HELDOUT_ROWS = 64  # rows of held-out text scored at every checkpoint (loss and ICL score)
PILES = ("deduped", "standard")


@dataclass(frozen=True)
class PythiaFiles:
    """Where a `pythia-*` scale's files are (never part of a key: moving them changes nothing)."""

    data: str = ""  # document.idx (with its .bin or shards beside it), or a Parquet repack folder
    tokenizer: str = ""  # the GPT-NeoX tokenizer.json
    heldout: str = ""  # a text file for held-out ICL rows (WikiText-2 in the paper); "" = Pile rows
    pile: str = "deduped"  # which Pile the rows and the checkpoints come from
    checkpoints: str = ""  # a folder of stepN/ model folders, or an offline Hugging Face cache
    # the branches' optimizer state. "rebuild": branch from the official revision at the window
    # start with AdamW moments rebuilt from the K batches before it at lr 0 (branch_state.py;
    # K is part of every branch's key). "own-baseline": train the baseline from revision step0
    # through step `own_until` with the suite's code in Pythia's order and schedule, and branch
    # from its checkpoints (true state)
    rebuild_batches: int = 100
    optimizer_state: str = "rebuild"
    own_until: int = 0

    def require(self, scale: str, *names: str) -> None:
        """One line naming the first missing file option."""
        flags = {"data": "--pile-data", "tokenizer": "--tokenizer-json", "checkpoints": "--checkpoints"}
        for name in names:
            value = getattr(self, name)
            if not value:
                raise MdaError(f"scale {scale} needs {flags[name]} PATH (docs/pythia.md lists the files)")
            if not Path(value).exists():
                raise MdaError(f"{flags[name]} {value} does not exist")


def pile_hint(path: str | Path) -> str | None:
    """'deduped' / 'standard' when a path names one (as Pythia's repositories and the hub cache
    do: pile-deduped-..., pythia-14m-deduped), else None."""
    text = str(path).lower()
    if "deduped" in text:
        return "deduped"
    if re.search(r"pile-standard|pythia-\d+[mb](?![-\w]*deduped)", text):
        return "standard"
    return None


def check_pile(files: PythiaFiles) -> None:
    """Refuse, in one line, data or checkpoints that name the other Pile than `--pile`."""
    if files.pile not in PILES:
        raise MdaError(f"--pile must be one of {', '.join(PILES)}, got {files.pile!r}")
    for flag, path in (("--pile-data", files.data), ("--checkpoints", files.checkpoints)):
        hint = pile_hint(path) if path else None
        if hint is not None and hint != files.pile:
            raise MdaError(
                f"{flag} {path} is the {hint} Pile's, but --pile is {files.pile}; the model must see "
                "the rows it was trained on"
            )


def open_rows(path: str | Path, row_len: int):
    """PileRows for a `.idx` file, ParquetRows for a folder of the Parquet repack."""
    from .pile import ParquetRows, PileRows

    path = Path(path)
    if path.is_dir():
        return ParquetRows(path, row_len=row_len)
    if path.suffix != ".idx":
        raise MdaError(f"--pile-data wants document.idx or a Parquet folder, got {path}")
    return PileRows(path, row_len=row_len)


class PileStream:
    """Pythia's rows through the engine's stream interface."""

    def __init__(self, rows, heldout: np.ndarray, tokenizer) -> None:
        self.source = rows
        self.heldout = heldout
        self.tokenizer = tokenizer

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    @property
    def ctx(self) -> int:
        return self.source.row_len - 1

    def step_rows(self, step: int, batch_size: int) -> np.ndarray:
        return np.arange(step * batch_size, (step + 1) * batch_size)

    def rows(self, row_ids) -> np.ndarray:
        """[n, row_len] for an array of ids, [row_len] for one id (as TokenStream.rows)."""
        if np.ndim(row_ids) == 0:
            return self.source.row(int(row_ids))
        return self.source.rows(row_ids)

    def is_repeat_row(self, row_ids) -> np.ndarray:
        return np.zeros(len(np.asarray(row_ids).reshape(-1)), dtype=bool)  # nothing is injected

    def row_category_counts(self, row_ids) -> np.ndarray:
        """[n, categories]: each row's tokens under the content classifier's label of its text
        (Pile rows carry no category)."""
        ids = np.asarray(row_ids).reshape(-1)
        out = np.zeros((len(ids), len(CATEGORIES)), dtype=np.int64)
        for i, toks in enumerate(self.rows(ids)):
            out[i, CATEGORIES.index(classify(self.tokenizer.decode(toks.tolist())))] = len(toks)
        return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def heldout_rows(text: str, tokenizer, row_len: int, n: int = HELDOUT_ROWS) -> np.ndarray:
    """Up to `n` rows of `row_len` consecutive tokens of `text` (its first n x row_len tokens)."""
    ids = np.array(tokenizer.encode(text).ids, dtype=np.int64)
    k = min(n, len(ids) // row_len)
    if k == 0:
        raise MdaError(f"the held-out text has {len(ids)} tokens, fewer than one row of {row_len}")
    return ids[: k * row_len].reshape(k, row_len)


def data_config(files: PythiaFiles, rows, row_len: int) -> dict:
    """The content the data stage is keyed by."""
    last = rows.n_rows - 1
    heldout = Path(files.heldout).read_bytes() if files.heldout else b""
    return {
        "version": PYTHIA_DATA_VERSION,
        "pile": files.pile,
        "n_rows": rows.n_rows,
        "row_len": row_len,
        "first_row": _sha(rows.rows([0]).tobytes()),
        "last_row": _sha(rows.rows([last]).tobytes()),
        "tokenizer": _sha(Path(files.tokenizer).read_bytes()),
        "heldout": _sha(heldout) if heldout else f"the last {HELDOUT_ROWS} Pile rows",
    }


def prepare_pythia_data(scale, store, log=print):
    """The data stage of a `pythia-*` scale: checks the files, copies the tokenizer, cuts the
    held-out rows; the rows themselves stay where they are (memory-mapped)."""
    from .pipeline import Data
    from .store import read_json
    from .stream import load_tokenizer

    files: PythiaFiles = scale.pythia
    # every file up front: the baseline needs the checkpoints (no own-baseline protocol yet)
    files.require(scale.name, "data", "tokenizer", "checkpoints")
    if files.heldout and not Path(files.heldout).is_file():
        raise MdaError(f"--heldout-text {files.heldout} is not a file")
    check_pile(files)
    row_len = scale.model.ctx + 1
    rows = open_rows(files.data, row_len)
    tok = load_tokenizer(Path(files.tokenizer))
    if tok.get_vocab_size() > scale.model.vocab_size:
        raise MdaError(
            f"--tokenizer-json has {tok.get_vocab_size()} tokens, more than the model's "
            f"{scale.model.vocab_size}"
        )
    cfg = data_config(files, rows, row_len)

    def build(part: Path) -> dict:
        log(f"Pythia rows: {rows.n_rows:,} of {row_len} tokens from {files.data} ({files.pile} Pile)")
        shutil.copyfile(files.tokenizer, part / "tokenizer.json")
        if files.heldout:
            held = heldout_rows(Path(files.heldout).read_text(errors="replace"), tok, row_len)
            where = f"the text file {files.heldout}"
        else:
            held = rows.rows(np.arange(max(0, rows.n_rows - HELDOUT_ROWS), rows.n_rows))
            where = f"the last {len(held)} Pile rows (after every window; state it when reporting ICL)"
        np.save(part / "heldout.npy", held.astype(np.int64))
        return {"pythia_files": dict(files.__dict__), "heldout_from": where, "rows": rows.n_rows}

    done = store.compute("data", cfg, build, fresh=True)
    manifest = read_json(done / "manifest.json")
    stream = PileStream(rows, np.load(done / "heldout.npy"), tok)
    log(f"held-out rows: {manifest['heldout_from']}")
    return Data(done.name, done, stream, cfg["first_row"], {"order": "Pythia's", "pile": files.pile})


def reopen_pile_stream(scale, data_path: Path) -> PileStream:
    """The stream of a finished data stage, opened again (a worker process)."""
    from .stream import load_tokenizer

    rows = open_rows(scale.pythia.data, scale.model.ctx + 1)
    return PileStream(rows, np.load(data_path / "heldout.npy"), load_tokenizer(data_path / "tokenizer.json"))
