"""Corpora: the embedded offline default and outside corpora (local files or `datasets`).

The embedded corpus is built only from material every Python install carries (the
`pydoc_data` topics and the standard library's docstrings and source) plus the structural
generators of `generators.py`, so it builds offline and, for one Python version, bit for bit
the same from a seed. Every document carries a category label.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import re
import sysconfig
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import generators
from .categories import CATEGORIES, classify
from .errors import MdaError

STRUCTURAL = ("latex", "markup", "records", "repetitive")

# Default share of characters per category. Prose and code are the majority; the structural
# share (40%) is stated in the README and is what the structural-catalyst claim later removes.
DEFAULT_MIXTURE = {
    "prose": 0.35,
    "code": 0.25,
    "latex": 0.08,
    "markup": 0.10,
    "records": 0.10,
    "repetitive": 0.12,
}

# Suffixes read as plain text in a corpus folder (a single named file is read whatever its suffix).
TEXT_SUFFIXES = (".txt", ".md", ".tex", ".xml", ".html", ".csv", ".py")

_SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "lib2to3", "__pycache__", "turtledemo"}


@dataclass(frozen=True)
class Document:
    doc_id: int
    category: str
    text: str


@dataclass
class CorpusConfig:
    """Where documents come from and how many characters of each category."""

    source: str = "embedded"  # "embedded", a local path, or "hf:NAME[:CONFIG][@SPLIT]"
    n_chars: int = 4_000_000
    mixture: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIXTURE))
    seed: int = 0
    text_field: str = "text"

    def validate(self) -> None:
        if self.n_chars <= 0:
            raise MdaError(f"corpus n_chars must be positive, got {self.n_chars}")
        unknown = set(self.mixture) - set(CATEGORIES)
        if unknown:
            raise MdaError(f"unknown corpus categories {sorted(unknown)}; known: {CATEGORIES}")
        if any(v < 0 for v in self.mixture.values()) or sum(self.mixture.values()) <= 0:
            raise MdaError("corpus mixture fractions must be >= 0 and not all zero")
        if self.source.startswith("hf:"):
            _parse_hf(self.source)  # refuses a spec without a dataset name
            return
        local = self.source != "embedded"
        if local and not (Path(self.source).exists() and os.access(self.source, os.R_OK)):
            raise MdaError(f"corpus path {self.source!r} does not exist or is not readable")


# --------------------------------------------------------------------------- material
def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and "-" not in d)
        files += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py")]
    return sorted(files)


@lru_cache(maxsize=1)
def _material() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prose pieces, code pieces) from pydoc topics, stdlib docstrings and stdlib source."""
    import pydoc_data.topics

    prose: list[str] = []
    for key in sorted(pydoc_data.topics.topics):
        paras = [p.strip() for p in pydoc_data.topics.topics[key].split("\n\n") if p.strip()]
        chunk = ""
        for p in paras:  # group paragraphs into documents of ~0.5-2k characters
            chunk = f"{chunk}\n\n{p}" if chunk else p
            if len(chunk) > 600:
                prose.append(chunk)
                chunk = ""
        if len(chunk) > 100:
            prose.append(chunk)
    code: list[str] = []
    for path in _stdlib_files():
        src = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        lines = src.splitlines()
        defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        for node in tree.body:
            if isinstance(node, defs):
                body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                for i in range(0, len(body), 3000):  # long classes become several documents
                    if len(body[i : i + 3000]) > 200:
                        code.append(body[i : i + 3000])
        for node in ast.walk(tree):
            doc = ast.get_docstring(node) if isinstance(node, defs) else None
            if doc and len(doc) > 200:
                prose.append(doc)
        mod_doc = ast.get_docstring(tree)
        if mod_doc and len(mod_doc) > 200:
            prose.append(mod_doc)
    return tuple(prose), tuple(code)


@lru_cache(maxsize=1)
def _word_pool() -> tuple[str, ...]:
    prose, code = _material()
    words = set()
    for text in prose[:2000] + code[:2000]:
        words.update(w.lower() for w in re.findall(r"\b[A-Za-z_][A-Za-z_0-9]{2,11}\b", text))
    return tuple(sorted(words))


# --------------------------------------------------------------------------- building
def build_corpus(cfg: CorpusConfig) -> list[Document]:
    """Build the documents of `cfg` (embedded or outside), shuffled by `cfg.seed`."""
    cfg.validate()
    if cfg.source == "embedded":
        docs = _build_embedded(cfg)
    else:
        docs = _load_outside(cfg)
    return docs


def _build_embedded(cfg: CorpusConfig) -> list[Document]:
    rng = random.Random(cfg.seed)
    prose, code = _material()
    words = _word_pool()
    total = sum(cfg.mixture.values())
    texts: list[tuple[str, str]] = []
    for cat in CATEGORIES:
        budget = int(cfg.n_chars * cfg.mixture.get(cat, 0.0) / total)
        if budget <= 0:
            continue
        if cat in ("prose", "code"):
            pool = list(prose if cat == "prose" else code)
            rng.shuffle(pool)
            got = 0
            for text in pool:  # each piece at most once; a small pool caps the category
                if got >= budget:
                    break
                texts.append((cat, text))
                got += len(text)
        else:
            got = 0
            while got < budget:
                text = generators.generate(cat, rng, words)
                texts.append((cat, text))
                got += len(text)
    rng.shuffle(texts)
    return [Document(i, cat, text) for i, (cat, text) in enumerate(texts)]


def _parse_hf(source: str) -> tuple[str, str | None, str]:
    """hf:NAME[:CONFIG][@SPLIT] -> (name, config, split)."""
    spec = source[3:]
    split = "train"
    if "@" in spec:
        spec, split = spec.split("@", 1)
    name, _, config = spec.partition(":")
    if not name.strip() or not split.strip():
        raise MdaError(f"--corpus {source!r}: wants hf:NAME[:CONFIG][@SPLIT] with a dataset name")
    return name, config or None, split


def _hub_offline(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub cannot be used: HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is
    set, or its endpoint does not answer a TCP connection within `timeout` seconds (without
    this check, `datasets` retries for half a minute before failing)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE", "0") not in ("", "0"):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return False
    except OSError:
        return True


# A single outside text file is cut into documents: paragraphs (split at blank lines) joined
# in order until a document holds at least this many characters.
DOC_MIN_CHARS = 2000


def split_documents(text: str, min_chars: int = DOC_MIN_CHARS) -> list[str]:
    """The documents of one long text file (see DOC_MIN_CHARS)."""
    docs, cur = [], ""
    for para in re.split(r"\n\s*\n", text):
        if not para.strip():
            continue
        cur = f"{cur}\n\n{para}" if cur else para
        if len(cur) >= min_chars:
            docs.append(cur)
            cur = ""
    if cur:
        docs.append(cur)
    return docs


def _read_text(path: Path) -> str:
    """A corpus file's text; binary or non-UTF-8 files are refused in one line."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise MdaError(f"corpus file {path} is binary (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MdaError(f"corpus file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _load_outside(cfg: CorpusConfig) -> list[Document]:
    """Local .txt/.jsonl/.json/.parquet files (a file or a folder) or a `datasets` dataset."""
    import datasets

    texts: list[str] = []
    if cfg.source.startswith("hf:"):
        name, config, split = _parse_hf(cfg.source)
        offline = _hub_offline()
        if offline:  # the local cache only: fail at once rather than after retries
            import huggingface_hub.constants

            datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
        try:
            ds = datasets.load_dataset(name, config, split=split)
        except Exception as exc:  # network, missing dataset, bad split: one clear line
            why = "the hub is unreachable or offline and it is not in the local cache" if offline else exc
            raise MdaError(f"cannot load dataset {name!r}: {why}") from exc
        texts = _column(ds, cfg.text_field, name)
    else:
        path = Path(cfg.source)  # existence and readability checked in validate()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            suffix = f.suffix.lower()
            if suffix in TEXT_SUFFIXES or (
                not path.is_dir() and suffix not in (".jsonl", ".json", ".parquet")
            ):
                text = _read_text(f)
                texts += split_documents(text) if not path.is_dir() else [text]
            elif suffix in (".jsonl", ".json", ".parquet"):
                kind = "parquet" if suffix == ".parquet" else "json"
                try:
                    ds = datasets.load_dataset(kind, data_files=str(f), split="train")
                except Exception as exc:
                    raise MdaError(f"cannot read corpus file {f}: {exc}") from exc
                texts += _column(ds, cfg.text_field, str(f))
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise MdaError(
            f"corpus {cfg.source} holds no text "
            f"(files read: {', '.join(TEXT_SUFFIXES)}, .jsonl, .json, .parquet)"
        )
    rng = random.Random(cfg.seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    docs, got = [], 0
    for i in order:
        if got >= cfg.n_chars:
            break
        docs.append(Document(len(docs), classify(texts[i]), texts[i]))
        got += len(texts[i])
    return docs


def _column(ds, name: str, where: str) -> list[str]:
    if name not in ds.column_names:
        raise MdaError(f"{where} has no text field {name!r} (fields: {ds.column_names})")
    return [str(t) for t in ds[name]]


def corpus_hash(docs: list[Document]) -> str:
    """sha256 over every document's id, category and text, in order."""
    h = hashlib.sha256()
    for d in docs:
        h.update(json.dumps([d.doc_id, d.category]).encode())
        h.update(d.text.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def category_shares(docs: list[Document]) -> dict[str, float]:
    """Fraction of characters per category."""
    total = sum(len(d.text) for d in docs) or 1
    return {c: sum(len(d.text) for d in docs if d.category == c) / total for c in CATEGORIES}
