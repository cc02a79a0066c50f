"""Pythia's pre-shuffled Pile readers on fixtures written in the real on-disk formats."""

import struct

import numpy as np
import pytest

from mda_bench.errors import MdaError
from mda_bench.pile import MAGIC, ParquetRows, PileRows, write_megatron

ROW = 2049  # Pythia's row: 2,048 inputs plus the last target


@pytest.fixture
def rows():
    return np.random.default_rng(0).integers(0, 50304, size=(9, ROW))


def test_sharded_rows_read_back_exactly(rows, tmp_path):
    """Shards of 5,000 bytes: rows (4,098 bytes) straddle shard boundaries."""
    idx = write_megatron(tmp_path, rows, shard_bytes=5000)
    assert len(list(tmp_path.glob("document-*-of-00008.bin"))) == 8
    pile = PileRows(idx, batch_size=4)
    assert pile.n_rows == 9 and pile.ctx == 2048
    assert np.array_equal(pile.rows(np.arange(9)), rows)
    assert np.array_equal(pile.rows(pile.step_rows(1)), rows[4:8])  # step 1 of batch 4
    inputs, targets = pile.row(3)[:-1], pile.row(3)[1:]  # a model reads row[:-1] -> row[1:]
    assert len(inputs) == 2048 and np.array_equal(targets, rows[3, 1:])


def test_one_bin_file_reads_the_same(rows, tmp_path):
    idx = write_megatron(tmp_path, rows)
    assert np.array_equal(PileRows(idx).rows([8, 0, 5]), rows[[8, 0, 5]])


def test_parquet_repack_equals_the_bin_reader(rows, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pile = PileRows(write_megatron(tmp_path / "bin", rows, shard_bytes=7000), batch_size=3)
    order = np.random.default_rng(1).permutation(9)  # the repack need not keep the order
    for part, ids in enumerate((order[:5], order[5:])):
        table = pa.table(
            {
                "uid": pa.array(ids, pa.int64()),
                "batch_idx": pa.array(ids // 3, pa.int64()),
                "token_ids": pa.array([rows[i].tolist() for i in ids], pa.list_(pa.int32())),
            }
        )
        (tmp_path / "pq").mkdir(exist_ok=True)
        pq.write_table(table, tmp_path / "pq" / f"part-{part}.parquet")
    repack = ParquetRows(tmp_path / "pq")
    assert repack.n_rows == 9
    assert np.array_equal(repack.rows(np.arange(9)), pile.rows(np.arange(9)))
    with pytest.raises(MdaError, match="row 9 is not in the Parquet repack"):
        repack.row(9)


def _corrupt_header(idx, **fields):
    head = bytearray(idx.read_bytes())
    if "magic" in fields:
        head[:9] = fields["magic"]
    version, dtype, n, d = struct.unpack("<QBQQ", head[9:34])
    head[9:34] = struct.pack("<QBQQ", fields.get("version", version), fields.get("dtype", dtype), n, d)
    idx.write_bytes(bytes(head))


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda idx: _corrupt_header(idx, magic=b"NOTMEGATR"), "is not a Megatron index"),
        (lambda idx: _corrupt_header(idx, version=2), "index version 2, expected 1"),
        (lambda idx: _corrupt_header(idx, dtype=4), "token dtype code 4, expected 8"),
        (lambda idx: idx.write_bytes(idx.read_bytes()[:60]), "is truncated"),
        (
            lambda idx: (idx.parent / "document-00002-of-00008.bin").unlink(),
            "document-00002-of-00008.bin is missing",
        ),
        (
            lambda idx: (idx.parent / "document-00007-of-00008.bin").write_bytes(b"\x00" * 10),
            "the data of .* is truncated",
        ),
        (lambda idx: [p.unlink() for p in idx.parent.glob("*.bin")], "no data for"),
    ],
)
def test_damaged_datasets_are_refused_in_one_line(rows, tmp_path, damage, message):
    idx = write_megatron(tmp_path, rows, shard_bytes=5000)
    damage(idx)
    with pytest.raises(MdaError, match=message) as err:
        PileRows(idx)
    assert "\n" not in str(err.value)


def test_rows_of_another_length_are_refused(tmp_path):
    idx = write_megatron(tmp_path, np.zeros((3, 1025), dtype=np.int64))
    with pytest.raises(MdaError, match="sequence 0 has 1025 tokens, expected 2049"):
        PileRows(idx)
    assert PileRows(idx, row_len=1025).ctx == 1024  # a stated other length is fine


def test_out_of_range_row(rows, tmp_path):
    pile = PileRows(write_megatron(tmp_path, rows))
    with pytest.raises(MdaError, match="row 9 is outside the dataset's 9 rows"):
        pile.row(9)


def test_a_million_rows_are_served_without_loading_them(tmp_path):
    """An index of 1M rows over a sparse data file (4 GB that take no disk): opening checks
    the whole index in chunks and reads one row, never the data."""
    n = 1_000_000
    idx = tmp_path / "document.idx"
    with open(idx, "wb") as f:
        f.write(MAGIC + struct.pack("<QBQQ", 1, 8, n, n))
        f.write(np.full(n, ROW, dtype="<i4").tobytes())
        f.write((np.arange(n, dtype="<i8") * 2 * ROW).tobytes())
        f.write(np.arange(n, dtype="<i8").tobytes())
    with open(tmp_path / "document.bin", "wb") as f:
        f.truncate(n * 2 * ROW)
    pile = PileRows(idx)
    assert pile.n_rows == n and not pile.row(n - 1).any()
