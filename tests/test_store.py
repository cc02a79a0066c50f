import json
import time

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
