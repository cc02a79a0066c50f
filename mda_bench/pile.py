"""Pythia's pre-shuffled Pile: the rows every Pythia model saw, in the order it saw them.

`EleutherAI/pile-{standard,deduped}-pythia-preshuffled` is one Megatron `MMapIndexedDataset`:

- `document.idx`: magic `MMIDIDX\\x00\\x00` (9 bytes), version `<Q` = 1, dtype code `<B`
  (8 = uint16), sequence count L `<Q`, document count D `<Q`, then `int32 sizes[L]`,
  `int64 pointers[L]` (byte offsets into the data) and `int64 doc_idx[D]`;
- the data: little-endian uint16 token ids, published as byte shards
  `document-000NN-of-000MM.bin` that concatenate to one `.bin` (a plain byte split, so a row
  can straddle two shards).

Every sequence is 2,049 tokens (L = 143,000 x 1,024), row i starts at byte 4,098 i, and step s
of training reads rows [1024 s, 1024 (s + 1)); a model of context 2,048 reads `row[:-1]` and
predicts `row[1:]`. `PileRows` memory-maps the index and every shard (nothing is copied, no
row enters memory before it is asked for) and serves rows by id. The Parquet repack
(`uid, batch_idx, token_ids`) is a second reader of the same rows (`ParquetRows`).

This module knows no model and no tokenizer.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MdaError

MAGIC = b"MMIDIDX\x00\x00"
UINT16 = 8  # Megatron's dtype code for uint16
PYTHIA_ROW = 2049  # tokens per sequence: context 2,048 plus the last target
PYTHIA_BATCH = 1024  # rows per training step
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.bin$")


@dataclass(frozen=True)
class Index:
    """The parsed header and arrays of a `.idx` file (arrays memory-mapped)."""

    sizes: np.ndarray  # int32 [L]: tokens per sequence
    pointers: np.ndarray  # int64 [L]: byte offset of each sequence
    doc_idx: np.ndarray  # int64 [D]


def read_index(path: Path, row_len: int = PYTHIA_ROW) -> Index:
    """Parse and check `path`; every sequence must be `row_len` tokens, stored back to back."""
    try:
        with open(path, "rb") as f:
            head = f.read(9 + 8 + 1 + 8 + 8)
    except OSError as exc:
        raise MdaError(f"cannot read the index {path}: {exc.strerror}") from None
    if len(head) < 34 or head[:9] != MAGIC:
        raise MdaError(f"{path} is not a Megatron index (magic {head[:9]!r}, expected {MAGIC!r})")
    version, dtype, n_seq, n_doc = struct.unpack("<QBQQ", head[9:])
    if version != 1:
        raise MdaError(f"{path}: index version {version}, expected 1")
    if dtype != UINT16:
        raise MdaError(f"{path}: token dtype code {dtype}, expected {UINT16} (uint16)")
    need = 34 + 4 * n_seq + 8 * n_seq + 8 * n_doc
    if path.stat().st_size < need:
        raise MdaError(f"{path} is truncated: {path.stat().st_size} bytes, its header needs {need}")
    sizes = np.memmap(path, np.int32, "r", offset=34, shape=(n_seq,))
    pointers = np.memmap(path, np.int64, "r", offset=34 + 4 * n_seq, shape=(n_seq,))
    doc_idx = np.memmap(path, np.int64, "r", offset=34 + 12 * n_seq, shape=(n_doc,))
    _check_rows(path, sizes, pointers, row_len)
    return Index(sizes, pointers, doc_idx)


def _check_rows(
    path: Path, sizes: np.ndarray, pointers: np.ndarray, row_len: int, chunk: int = 1 << 24
) -> None:
    """Every size is row_len and row i starts at byte 2 * row_len * i (checked in chunks, so
    146M rows never sit in memory at once)."""
    for lo in range(0, len(sizes), chunk):
        s = np.asarray(sizes[lo : lo + chunk])
        bad = np.flatnonzero(s != row_len)
        if len(bad):
            i = lo + int(bad[0])
            raise MdaError(f"{path}: sequence {i} has {int(s[bad[0]])} tokens, expected {row_len}")
        want = np.arange(lo, lo + len(s), dtype=np.int64) * (2 * row_len)
        off = np.flatnonzero(np.asarray(pointers[lo : lo + chunk]) != want)
        if len(off):
            raise MdaError(f"{path}: sequence {lo + int(off[0])} does not start at byte {int(want[off[0]])}")


def data_files(path: Path) -> list[Path]:
    """The data of an index: `<stem>.bin`, or every shard `<stem>-000NN-of-000MM.bin` (all of
    them present, numbered 0..M-1)."""
    stem = path.with_suffix("")
    single = stem.with_suffix(".bin")
    if single.exists():
        return [single]
    shards = sorted(p for p in path.parent.glob(f"{stem.name}-*-of-*.bin") if _SHARD.match(p.name))
    if not shards:
        raise MdaError(f"no data for {path}: neither {single.name} nor {stem.name}-000NN-of-000MM.bin shards")
    total = int(_SHARD.match(shards[0].name)["n"])
    have = {int(_SHARD.match(p.name)["i"]) for p in shards}
    missing = sorted(set(range(total)) - have)
    if missing:
        raise MdaError(f"{path.parent}: shard {stem.name}-{missing[0]:05d}-of-{total:05d}.bin is missing")
    return shards


class PileRows:
    """Rows of a Megatron dataset by row id, read from the memory-mapped shards."""

    def __init__(self, idx_path: Path | str, row_len: int = PYTHIA_ROW, batch_size: int = PYTHIA_BATCH):
        self.idx_path = Path(idx_path)
        self.index = read_index(self.idx_path, row_len)
        self.row_len = row_len
        self.batch_size = batch_size
        self.files = data_files(self.idx_path)
        self.maps = [np.memmap(p, np.uint8, "r") for p in self.files]
        self.starts = np.cumsum([0] + [m.shape[0] for m in self.maps])  # byte offset of each file
        need = int(self.index.pointers[-1]) + 2 * row_len if len(self.index.sizes) else 0
        if self.starts[-1] < need:
            raise MdaError(
                f"the data of {self.idx_path} is truncated: {int(self.starts[-1])} bytes in "
                f"{len(self.files)} file(s), the index needs {need}"
            )

    @property
    def n_rows(self) -> int:
        return len(self.index.sizes)

    @property
    def ctx(self) -> int:
        return self.row_len - 1

    def step_rows(self, step: int, batch_size: int | None = None) -> np.ndarray:
        b = batch_size or self.batch_size
        return np.arange(step * b, (step + 1) * b)

    def _bytes(self, start: int, length: int) -> bytes:
        """`length` bytes from global offset `start`, across shard boundaries."""
        out = []
        f = int(np.searchsorted(self.starts, start, side="right")) - 1
        while length > 0:
            local = start - int(self.starts[f])
            take = min(length, int(self.starts[f + 1]) - start)
            out.append(self.maps[f][local : local + take].tobytes())
            start, length, f = start + take, length - take, f + 1
        return b"".join(out)

    def row(self, row_id: int) -> np.ndarray:
        """The `row_len` token ids of one row (uint16 -> int64)."""
        if not 0 <= row_id < self.n_rows:
            raise MdaError(f"row {row_id} is outside the dataset's {self.n_rows} rows")
        data = self._bytes(int(self.index.pointers[row_id]), 2 * self.row_len)
        return np.frombuffer(data, dtype="<u2").astype(np.int64)

    def rows(self, row_ids) -> np.ndarray:
        """Token ids of several rows, [len(row_ids), row_len]."""
        return np.stack([self.row(int(i)) for i in np.asarray(row_ids).reshape(-1)])


class ParquetRows:
    """The same rows from the Parquet repack: columns `uid` (row id), `batch_idx` (training
    step) and `token_ids` (the row's tokens). Files are read with pyarrow; rows by uid."""

    def __init__(self, folder: Path | str, row_len: int = PYTHIA_ROW):
        import pyarrow.parquet as pq

        self.files = sorted(Path(folder).glob("*.parquet"))
        if not self.files:
            raise MdaError(f"no .parquet files in {folder}")
        self.row_len = row_len
        uids, where = [], []
        for n, path in enumerate(self.files):
            try:
                col = pq.read_table(path, columns=["uid", "batch_idx"])
            except Exception as exc:  # a damaged or foreign file: one line
                raise MdaError(f"cannot read {path} as the Pythia Parquet repack: {exc}") from None
            u = col["uid"].to_numpy()
            uids.append(u)
            where.append(np.stack([np.full(len(u), n), np.arange(len(u))], axis=1))
        self.uids = np.concatenate(uids)
        self.where = np.concatenate(where)
        self.order = np.argsort(self.uids, kind="stable")
        self._tables: dict[int, object] = {}

    @property
    def n_rows(self) -> int:
        return len(self.uids)

    def row(self, row_id: int) -> np.ndarray:
        import pyarrow.parquet as pq

        k = int(np.searchsorted(self.uids, row_id, sorter=self.order))
        if k >= len(self.uids) or self.uids[self.order[k]] != row_id:
            raise MdaError(f"row {row_id} is not in the Parquet repack in {self.files[0].parent}")
        f, i = self.where[self.order[k]]
        if f not in self._tables:
            self._tables[f] = pq.read_table(self.files[f], columns=["token_ids"])["token_ids"]
        tokens = np.asarray(self._tables[f][int(i)].as_py(), dtype=np.int64)
        if len(tokens) != self.row_len:
            raise MdaError(
                f"row {row_id} of the Parquet repack has {len(tokens)} tokens, expected {self.row_len}"
            )
        return tokens

    def rows(self, row_ids) -> np.ndarray:
        return np.stack([self.row(int(i)) for i in np.asarray(row_ids).reshape(-1)])


def write_megatron(
    folder: Path, rows: np.ndarray, shard_bytes: int | None = None, stem: str = "document"
) -> Path:
    """Write `rows` ([L, row_len] token ids) as a Megatron `.idx` and its data, in the real
    format, split into byte shards of `shard_bytes` (not row-aligned) when given. For test
    fixtures and small local datasets; returns the `.idx` path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(rows, dtype="<u2")
    n, row_len = rows.shape
    idx = folder / f"{stem}.idx"
    with open(idx, "wb") as f:
        f.write(MAGIC + struct.pack("<QBQQ", 1, UINT16, n, n))
        f.write(np.full(n, row_len, dtype="<i4").tobytes())
        f.write((np.arange(n, dtype="<i8") * 2 * row_len).tobytes())
        f.write(np.arange(n, dtype="<i8").tobytes())
    data = rows.tobytes()
    if shard_bytes is None:
        (folder / f"{stem}.bin").write_bytes(data)
    else:
        parts = [data[i : i + shard_bytes] for i in range(0, len(data), shard_bytes)]
        for i, part in enumerate(parts):
            (folder / f"{stem}-{i:05d}-of-{len(parts):05d}.bin").write_bytes(part)
    return idx
