"""Stages wired through the store: data (corpus + tokenizer + stream) and training runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import ranks
from .categories import CLASSIFIER_VERSION
from .checkpoint_io import read_records
from .corpus import Document, build_corpus, category_shares, corpus_hash
from .device import check_threads, facts, pinned_threads
from .errors import MdaError
from .progress import progress_bar
from .scales import Scale
from .store import Store, read_json
from .stream import TokenStream, build_stream, load_tokenizer, stream_summary, train_tokenizer
from .train import cpu_facts, train_run

DATA_VERSION = 2
TRAIN_VERSION = 2  # 2: StableLayerNorm (LayerNorm's own sums no longer depend on the thread count)


@dataclass
class Data:
    key: str
    path: Path
    stream: TokenStream
    corpus_hash: str
    seeds: dict

    def tokenizer(self):
        return load_tokenizer(self.path / "tokenizer.json")

    def row_texts(self, row_ids) -> list[str]:
        """The decoded text of each stream row."""
        tok = self.tokenizer()
        return [tok.decode(t.tolist()) for t in self.stream.rows(row_ids)]

    def documents(self) -> list[Document]:
        with open(self.path / "docs.jsonl") as f:
            return [Document(**json.loads(line)) for line in f]


@dataclass
class Run:
    key: str
    path: Path
    records: list[dict]
    manifest: dict
    # an official baseline (pythia-*): {step: revision folder}, and how its branch points get
    # their optimizer state; None / {} for a run the suite trained (its checkpoints hold both)
    revisions: dict[int, Path] | None = None
    branch_state: dict = field(default_factory=dict)

    @property
    def official(self) -> bool:
        return self.revisions is not None


def data_config(scale: Scale, order_seed: int) -> dict:
    # an outside corpus's documents are labelled by the content classifier, so its version is part
    # of the key there (the embedded corpus's labels come from its generators: keys unchanged)
    classifier = {} if scale.corpus.source == "embedded" else {"classifier": CLASSIFIER_VERSION}
    return {
        "version": DATA_VERSION,
        "corpus": scale.corpus,
        "vocab_size": scale.model.vocab_size,
        "ctx": scale.model.ctx,
        "n_rows": scale.train.steps * scale.train.batch_size,
        "repeat": scale.repeat,
        "order_seed": order_seed,
        **classifier,
    }


def prepare_data(scale: Scale, store: Store, order_seed: int = 0, log=print) -> Data:
    """Build (or load) the corpus, tokenizer and token stream of `scale` (a pythia-* scale:
    open Pythia's rows, whose order is Pythia's whatever `order_seed`)."""
    if scale.tokenizer != "bpe":
        from .pythia_data import prepare_pythia_data

        if order_seed:
            raise MdaError(f"scale {scale.name} trains on Pythia's own row order; --order-seed must be 0")
        return prepare_pythia_data(scale, store, log=log)
    cfg = data_config(scale, order_seed)

    def build(part: Path) -> dict:
        log(f"building corpus ({scale.corpus.source}, {scale.corpus.n_chars:,} chars) ...")
        docs = build_corpus(scale.corpus)
        tok = train_tokenizer(docs, scale.model.vocab_size)
        stream = build_stream(docs, tok, scale.model.ctx, cfg["n_rows"], seed=order_seed, repeat=scale.repeat)
        tok.save(str(part / "tokenizer.json"))
        stream.save(part / "stream.npz")
        with open(part / "docs.jsonl", "w") as f:
            for d in docs:
                f.write(json.dumps(d.__dict__) + "\n")
        return {
            "corpus_hash": corpus_hash(docs),
            "seeds": {"corpus": scale.corpus.seed, "order": order_seed},
            "category_char_share": {k: round(v, 4) for k, v in category_shares(docs).items()},
            "stream": stream_summary(stream),
        }

    done = store.compute("data", cfg, build, fresh=True)
    manifest = read_json(done / "manifest.json")
    stream = TokenStream.load(done / "stream.npz")
    return Data(done.name, done, stream, manifest["corpus_hash"], manifest["seeds"])


def train_config(scale: Scale, data: Data, init_seed: int, weights: np.ndarray | None) -> dict:
    import hashlib

    wkey = "ones" if weights is None else hashlib.sha256(weights.tobytes()).hexdigest()[:16]
    return {
        "version": TRAIN_VERSION,
        "data": data.key,
        "model": scale.model,
        "train": scale.train,
        "probe": scale.probe.unit_probe(),
        "init_seed": init_seed,
        "weights": wkey,
        **scale.runtime.key_part(),
        **ranks.key_part(),  # a run over a torchrun group is another run (mda_bench/ranks.py)
    }


def baseline_stage(scale: Scale, store: Store, data: Data, init_seed: int = 0, log=print) -> Run:
    """The baseline a claim branches from: trained by the suite, or (pythia-*) the official
    checkpoints, scored."""
    if scale.tokenizer != "bpe":
        from .official import official_stage, own_baseline_stage

        if init_seed:
            raise MdaError(f"scale {scale.name} branches from Pythia's own weights; --seed must be 0")
        if scale.pythia.optimizer_state == "own-baseline":
            return own_baseline_stage(scale, store, data, log=log)
        return official_stage(scale, store, data, log=log)
    return train_stage(scale, store, data, init_seed=init_seed)


def reopen_stream(scale: Scale, data_path: Path):
    """A data stage's stream, opened again (in a worker process)."""
    if scale.tokenizer != "bpe":
        from .pythia_data import reopen_pile_stream

        return reopen_pile_stream(scale, data_path)
    return TokenStream.load(data_path / "stream.npz")


def train_stage(
    scale: Scale,
    store: Store,
    data: Data,
    init_seed: int = 0,
    weights: np.ndarray | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> Run | None:
    """Train (resume, or load) one run; None when stopped early by `stop_after`."""
    cfg = train_config(scale, data, init_seed, weights)

    @pinned_threads(scale.runtime)  # the manifest records the count it trained on
    def build(part: Path) -> dict | None:
        if weights is not None and ranks.is_writer():
            np.save(part / "weights.npy", weights)
        with progress_bar(scale.train.steps, f"train {scale.name}", "step", enabled=progress) as bar:

            def on_step(step: int, loss: float | None) -> None:
                bar.n = step
                if loss is not None:
                    bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                bar.update(0)

            train_run(
                scale,
                data.stream,
                part,
                init_seed=init_seed,
                weights=weights,
                stop_after=stop_after,
                on_step=on_step,
            )
        last = sorted(part.glob("ckpt/step-*"))[-1].name
        if int(last.split("-")[1]) < scale.train.steps:
            return None
        return {
            "corpus_hash": data.corpus_hash,
            "seeds": {**data.seeds, "init": init_seed, "probe": scale.probe.seed},
            **cpu_facts(),
            **facts(scale.runtime),
        }

    done = store.compute("train", cfg, build, collective=True)
    if done is None:
        return None
    key = done.name
    manifest = read_json(done / "manifest.json")
    check_threads(scale.runtime, manifest, f"training run {done}")
    return Run(key, done, read_records(done / "ckpt"), manifest)
