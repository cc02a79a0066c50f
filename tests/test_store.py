import json
import time
from pathlib import Path

import pytest

from mda_bench.errors import MdaError
from mda_bench.store import Store, config_key


def test_key_is_content_addressed():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_finish_writes_manifest_and_renames_atomically(tmp_path):
    store = Store(tmp_path)
    cfg = {"x": 1, "seed": 3}
    key, done = store.lookup("stage", cfg)
    assert done is None
    part = store.begin("stage", key)
    (part / "out.txt").write_text("result")
    assert store.lookup("stage", cfg)[1] is None  # a .partial folder is never taken as done
    final = store.finish("stage", key, cfg, time.time(), corpus_hash="abc", seeds={"init": 3})
    assert not part.exists() and (final / "out.txt").read_text() == "result"
    m = json.loads((final / "manifest.json").read_text())
    for field in ("config", "git_sha", "versions", "wall_time_s", "corpus_hash", "seeds"):
        assert field in m
    assert m["config"] == cfg and m["versions"]["torch"]
    assert store.lookup("stage", cfg) == (key, final)


def test_refuses_a_folder_whose_config_differs(tmp_path):
    store = Store(tmp_path)
    key, _ = store.lookup("stage", {"x": 1})
    store.begin("stage", key)
    final = store.finish("stage", key, {"x": 1}, time.time())
    m = json.loads((final / "manifest.json").read_text())
    m["config"] = {"x": 2}
    (final / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(MdaError, match="different config"):
        store.lookup("stage", {"x": 1})


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    store = Store(tmp_path)
    key, _ = store.lookup("stage", {"x": 1})
    store.begin("stage", key)
    final = store.finish("stage", key, {"x": 1}, time.time())
    (final / "manifest.json").write_text("{not json")
    with pytest.raises(MdaError, match="corrupt"):
        store.lookup("stage", {"x": 1})


def test_train_manifest_records_every_seed(micro, micro_data, tmp_path):
    from mda_bench.pipeline import train_stage

    run = train_stage(micro, Store(tmp_path), micro_data, init_seed=2, progress=False)
    assert run.manifest["seeds"] == {"corpus": 0, "order": 0, "init": 2, "probe": micro.probe.seed}
    assert run.manifest["corpus_hash"] == micro_data.corpus_hash


# --------------------------------------------------------------------------- sharing and damage
def _finished(tmp_path, files: dict[str, bytes]):
    store = Store(tmp_path)

    def build(part):
        for name, data in files.items():
            (part / name).parent.mkdir(parents=True, exist_ok=True)
            (part / name).write_bytes(data)
        return {}

    return store, store.compute("stage", {"x": 1}, build)


def test_manifest_records_size_and_sha256_of_every_file(tmp_path):
    import hashlib

    _, final = _finished(tmp_path, {"a.bin": b"abc", "sub/b.bin": b"0123"})
    files = json.loads((final / "manifest.json").read_text())["files"]
    assert files == {
        "a.bin": [3, hashlib.sha256(b"abc").hexdigest()],
        "sub/b.bin": [4, hashlib.sha256(b"0123").hexdigest()],
    }


def test_a_truncated_file_is_refused_with_the_command_that_removes_it(tmp_path):
    store, final = _finished(tmp_path, {"a.bin": b"abcdef"})
    (final / "a.bin").write_bytes(b"abc")
    with pytest.raises(
        MdaError, match=r"damaged \(a.bin has 3 bytes, the manifest says 6\).*store rm stage/"
    ):
        store.lookup("stage", {"x": 1})


def test_a_same_length_overwrite_is_caught_by_the_hash_on_first_use(tmp_path):
    from mda_bench import store as store_module

    store, final = _finished(tmp_path, {"a.bin": b"abcdef"})
    (final / "a.bin").write_bytes(b"abcxyz")
    store_module._HASHED.clear()  # as in a fresh process
    with pytest.raises(MdaError, match="does not match its sha256"):
        store.lookup("stage", {"x": 1})
    assert store.verify("stage", final.name) == ["a.bin does not match its sha256"]
    store.remove(f"stage/{final.name}")
    assert store.lookup("stage", {"x": 1}) == (final.name, None)


def test_a_missing_file_is_refused(tmp_path):
    store, final = _finished(tmp_path, {"a.bin": b"abc"})
    (final / "a.bin").unlink()
    with pytest.raises(MdaError, match="a.bin is missing"):
        store.lookup("stage", {"x": 1})


def test_compute_reuses_what_another_process_finished_while_it_waited(tmp_path):
    """The second caller of the same key finds the stage finished under the lock and does not
    build it again."""
    store = Store(tmp_path)
    calls = []

    def build(part):
        calls.append(part)
        # while this one builds, another caller of the same key must not get the lock
        from filelock import FileLock, Timeout

        with pytest.raises(Timeout):
            FileLock(tmp_path / ".locks" / f"stage-{part.name.split('.')[0]}.lock").acquire(timeout=0.1)
        (part / "out").write_text("1")
        return {}

    first = store.compute("stage", {"x": 1}, build)
    assert store.compute("stage", {"x": 1}, build) == first and len(calls) == 1


def _train_in_process(store_root: str, out) -> None:
    import torch

    from mda_bench.pipeline import prepare_data, train_stage
    from mda_bench.scales import get_scale

    torch.set_num_threads(1)
    scale = get_scale("micro")
    store = Store(store_root)
    run = train_stage(scale, store, prepare_data(scale, store, log=lambda m: None), progress=False)
    out.put(str(run.path))


def test_two_concurrent_trainings_on_one_store_lose_nothing(tmp_path):
    """Two processes started together on one empty store: both end with the same complete
    run (every checkpoint, intact), whose weights equal a run trained alone."""
    import multiprocessing as mp

    from safetensors.torch import load_file

    from mda_bench.train import checkpoint_steps

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    procs = [ctx.Process(target=_train_in_process, args=(str(root), out)) for root in (shared, shared, alone)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    paths = sorted(out.get() for _ in procs)
    run_shared = [p for p in paths if p.startswith(str(shared))]
    assert len(run_shared) == 2 and run_shared[0] == run_shared[1]
    run_dir = Path(run_shared[0])
    from mda_bench.scales import get_scale

    want = [f"step-{s:06d}" for s in checkpoint_steps(get_scale("micro").train)]
    assert sorted(p.name for p in (run_dir / "ckpt").iterdir()) == want
    assert Store(shared).verify("train", run_dir.name) == []
    alone_dir = next(Path(p) for p in paths if p.startswith(str(alone)))
    for step in want:
        a = load_file(str(run_dir / "ckpt" / step / "model.safetensors"))
        b = load_file(str(alone_dir / "ckpt" / step / "model.safetensors"))
        assert all(torch_equal(a[k], b[k]) for k in a)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_a_stage_cannot_overwrite_the_stores_own_manifest_fields(tmp_path):
    """A build returning {"files": ...} once replaced the checksum table, and the next lookup
    failed on the stage's own field: now refused where it is written."""
    store = Store(tmp_path)

    def build(part: Path) -> dict:
        (part / "x.txt").write_text("x")
        return {"files": {"mine": 1}}

    with pytest.raises(ValueError, match=r"manifest fields \['files'\] are the store's own"):
        store.compute("demo", {"a": 1}, build)
    assert store.lookup("demo", {"a": 1})[1] is None  # nothing half-written was taken as done
