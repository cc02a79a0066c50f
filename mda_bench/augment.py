"""Mechanistic data augmentation, offline: templates from top-attributed rows, fresh fills.

The paper had an LLM write generators from the structure of the top samples. Here the
structure is extracted by rules, deterministically, so the default needs no network:

- a *repeat* template: the row's tokens are one segment tiled (period p); new rows tile a
  fresh uniform-random segment of the same length;
- a *lines* template: the row's text as line skeletons, where digit runs become `{NUM}` and
  value words become `{WORD}` while markup, LaTeX commands, keys and punctuation stay literal;
  new documents fill the slots with fresh numbers of the same width and words from a pool.

`extract_templates`, `generate` and `synthetic_rows` are pure and seeded;
`interventions.insert` trains the generated rows as extra rows before the window, and the
augmentation-speedup task (tasks/augmentation_speedup.py) runs them across a model ladder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# A word stays literal when it names structure: a tag or attribute, a LaTeX command, a key.
_TOKEN = re.compile(r"\d+|[A-Za-z_][A-Za-z_0-9]*|\s+|.", re.S)
_STRUCTURAL_BEFORE = ("<", "</", "\\", "&")
_STRUCTURAL_AFTER = ("=", ":", ">", "(")


@dataclass(frozen=True)
class Template:
    kind: str  # "repeat" or "lines"
    period: int = 0  # repeat: the segment length
    lines: tuple[str, ...] = ()  # lines: skeletons with {NUM<w>} / {WORD} slots
    source_row: int = -1

    def describe(self) -> str:
        if self.kind == "repeat":
            return f"one segment of {self.period} tokens, tiled to fill the row"
        return "\n".join(self.lines)


def token_period(tokens: np.ndarray, max_period: int | None = None) -> int:
    """Smallest p with tokens[p:] == tokens[:-p] covering at least two copies, else 0."""
    t = np.asarray(tokens)
    for p in range(1, (max_period or len(t) // 2) + 1):
        if np.array_equal(t[p:], t[:-p]):
            return p
    return 0


def line_skeleton(line: str) -> str:
    """Digit runs -> {NUM<width>}, value words -> {WORD}; structure stays literal."""
    pieces = _TOKEN.findall(line)
    out = []
    for i, p in enumerate(pieces):
        before = "".join(pieces[max(0, i - 2) : i])
        after = next((q for q in pieces[i + 1 :] if not q.isspace()), "")
        if p.isdigit():
            out.append(f"{{NUM{len(p)}}}")
        elif p[0].isalpha() or p[0] == "_":
            literal = before.endswith(_STRUCTURAL_BEFORE) or after.startswith(_STRUCTURAL_AFTER)
            out.append(p if literal else "{WORD}")
        else:
            out.append(p.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def extract_template(tokens: np.ndarray, text: str, row: int = -1) -> Template:
    """The structure of one row: a token period if it has one, else its line skeletons."""
    period = token_period(tokens)
    if period:
        return Template("repeat", period=period, source_row=row)
    lines = tuple(line_skeleton(ln) for ln in text.split("\n") if ln.strip())
    return Template("lines", lines=lines, source_row=row)


def extract_templates(rows: np.ndarray, texts: list[str], row_ids=None) -> list[Template]:
    """Distinct templates of the given rows, in first-seen order."""
    ids = list(row_ids) if row_ids is not None else [-1] * len(texts)
    seen, out = set(), []
    for toks, text, rid in zip(rows, texts, ids):
        t = extract_template(toks, text, int(rid))
        key = (t.kind, t.period, t.lines)
        if t.kind == "lines" and not t.lines:
            continue  # a row of whitespace has no structure to reproduce
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


_SLOT = re.compile(r"\{(NUM(\d+)|WORD)\}")


def fill(skeleton: str, rng: np.random.Generator, words: tuple[str, ...]) -> str:
    """One line from a skeleton: fresh numbers of the same width, words drawn from `words`."""

    def sub(m: re.Match) -> str:
        if m.group(2):
            w = int(m.group(2))
            return str(int(rng.integers(10 ** (w - 1) if w > 1 else 0, 10**w)))
        return words[int(rng.integers(len(words)))]

    return _SLOT.sub(sub, skeleton).replace("{{", "{").replace("}}", "}")


def generate(template: Template, rng: np.random.Generator, words: tuple[str, ...], vocab_size: int, ctx: int):
    """A new document from `template`: token ids (repeat) or text (lines)."""
    if template.kind == "repeat":
        return np.resize(rng.integers(1, vocab_size, template.period), ctx).astype(np.int32)
    return "\n".join(fill(s, rng, words) for s in template.lines)


def word_pool(texts: list[str]) -> tuple[str, ...]:
    """The distinct words of `texts`, sorted (so the pool is a pure function of the texts)."""
    return tuple(sorted({w for t in texts for w in re.findall(r"[A-Za-z]{2,}", t)}))


def load_generator(spec: str):
    """The generator hook: "module:function" names a callable with `generate`'s signature
    (template, rng, words, vocab_size, ctx) -> text or ctx token ids, e.g. one that has an LLM
    write documents in a template's structure. Import errors become one clear MdaError."""
    import importlib

    from .errors import MdaError

    module, _, name = spec.partition(":")
    if not module or not name:
        raise MdaError(f"--generator must be MODULE:FUNCTION, got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise MdaError(f"cannot load generator {spec!r}: {exc}") from None
    if not callable(fn):
        raise MdaError(f"generator {spec!r} is not callable")
    return fn


def synthetic_rows(
    templates: list[Template],
    n_rows: int,
    seed: int,
    tokenizer,
    words: tuple[str, ...],
    vocab_size: int,
    ctx: int,
    generator=generate,
) -> np.ndarray:
    """`n_rows` training rows ([n, ctx] int32) from templates drawn uniformly with `seed`.

    A generated token row (a repeat template) is one row. Text documents are tokenized and
    packed end to end with the end-of-text token (id 0) between them, the way the stream packs
    corpus documents. `generator` replaces `generate` (see `load_generator`).
    """
    if not templates:
        raise ValueError("no templates to generate from")
    rng = np.random.default_rng([seed, 29])
    rows: list[np.ndarray] = []
    buf: list[int] = []
    while len(rows) < n_rows:
        t = templates[int(rng.integers(len(templates)))]
        doc = generator(t, rng, words, vocab_size, ctx)
        if not isinstance(doc, str):
            row = np.asarray(doc, dtype=np.int32)
            if row.shape != (ctx,) or row.min() < 0 or row.max() >= vocab_size:
                raise ValueError(f"a generated token row must be {ctx} ids in [0, {vocab_size})")
            rows.append(row)
            continue
        buf += tokenizer.encode(doc).ids + [0]
        while len(buf) >= ctx and len(rows) < n_rows:
            rows.append(np.array(buf[:ctx], dtype=np.int32))
            buf = buf[ctx:]
    return np.stack(rows)
