"""Generators for structural documents (LaTeX, markup, records, repetitive text).

Every generator takes a seeded `random.Random` and a word pool drawn from the embedded
prose/code material, so contents are real words and identifiers, never a fixed template.
Repetition comes only from the structure itself (a closing tag copies its opening tag, a
record repeats its schema, a label is referenced again, a log message recurs), and the
distance between repeats varies from document to document: with a fixed period a positional
head can copy without ever becoming an induction head.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

Words = Sequence[str]


def _phrase(rng: random.Random, words: Words, lo: int, hi: int) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))


def _ident(rng: random.Random) -> str:
    """An opaque identifier (hash prefix, key, serial): content that only copying predicts."""
    alphabet = rng.choice(["0123456789abcdef", "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"])
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(6, 16)))


def _value(rng: random.Random, words: Words) -> str:
    kind = rng.random()
    if kind < 0.15:
        return _ident(rng)
    if kind < 0.35:
        return str(rng.randint(0, 99999))
    if kind < 0.5:
        return f"{rng.uniform(-100, 100):.{rng.randint(1, 4)}f}"
    return rng.choice(words)


# --------------------------------------------------------------------------- latex
def latex_table(rng: random.Random, words: Words) -> str:
    ncol, nrow = rng.randint(2, 5), rng.randint(2, 7)
    label = f"tab:{rng.choice(words)}"
    head = " & ".join(w.capitalize() for w in rng.sample(list(words), ncol))
    rows = [" & ".join(_value(rng, words) for _ in range(ncol)) + r" \\" for _ in range(nrow)]
    spec = "".join(rng.choice("lcr") for _ in range(ncol))
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\hline",
            head + r" \\",
            r"\hline",
            *rows,
            r"\hline",
            r"\end{tabular}",
            rf"\caption{{{_phrase(rng, words, 3, 9).capitalize()}.}}",
            rf"\label{{{label}}}",
            r"\end{table}",
            f"Table~\\ref{{{label}}} {_phrase(rng, words, 4, 12)}.",
        ]
    )


def latex_equations(rng: random.Random, words: Words) -> str:
    env = rng.choice(["align", "equation", "gather", "multline"])
    syms = [rf"\mathrm{{{w}}}" for w in rng.sample(list(words), 4)]
    ops = [r"\frac{%s}{%s}", r"%s + %s", r"%s^{%s}", r"\sqrt{%s} - %s", r"%s \cdot %s"]
    lines = []
    for _ in range(rng.randint(1, 4)):
        a, b = rng.sample(syms, 2)
        lines.append(f"{rng.choice(syms)} &= " + rng.choice(ops) % (a, b))
    label = f"eq:{rng.choice(words)}"
    return "\n".join(
        [
            f"{_phrase(rng, words, 5, 14).capitalize()}:",
            rf"\begin{{{env}}}",
            " \\\\\n".join(lines),
            rf"\label{{{label}}}",
            rf"\end{{{env}}}",
            f"where ${syms[0]}$ {_phrase(rng, words, 3, 8)}, see Eq.~\\eqref{{{label}}}.",
        ]
    )


def latex_list(rng: random.Random, words: Words) -> str:
    env = rng.choice(["itemize", "enumerate", "description"])
    items = [
        rf"  \item \textbf{{{rng.choice(words)}}}: {_phrase(rng, words, 3, 10)}"
        for _ in range(rng.randint(2, 6))
    ]
    return "\n".join([rf"\begin{{{env}}}", *items, rf"\end{{{env}}}"])


# --------------------------------------------------------------------------- markup
def xml_records(rng: random.Random, words: Words) -> str:
    root, item = rng.sample(list(words), 2)
    fields = rng.sample(list(words), rng.randint(2, 5))
    out = ['<?xml version="1.0"?>', f"<{root}>"]
    prev = None
    for _ in range(rng.randint(1, 4)):
        key = _ident(rng)
        out.append(f'  <{item} id="{key}">')
        out += [f"    <{f}>{_value(rng, words)}</{f}>" for f in fields]
        if prev is not None:
            out.append(f'    <link ref="{prev}"/>')
        out.append(f"  </{item}>")
        prev = key
    out.append(f"</{root}>")
    return "\n".join(out)


def html_links(rng: random.Random, words: Words) -> str:
    cls = rng.choice(words)
    out = [f'<ul class="{cls}">']
    for _ in range(rng.randint(2, 7)):
        a, b = rng.choice(words), rng.choice(words)
        out.append(f'  <li><a href="/{a}/{b}.html">{a.capitalize()} {b}</a></li>')
    out.append("</ul>")
    return "\n".join(out)


def html_table(rng: random.Random, words: Words) -> str:
    ncol = rng.randint(2, 4)
    head = "".join(f"<th>{w}</th>" for w in rng.sample(list(words), ncol))
    rows = [
        "  <tr>" + "".join(f"<td>{_value(rng, words)}</td>" for _ in range(ncol)) + "</tr>"
        for _ in range(rng.randint(2, 6))
    ]
    return "\n".join(["<table>", f"  <tr>{head}</tr>", *rows, "</table>"])


# --------------------------------------------------------------------------- records
def csv_records(rng: random.Random, words: Words) -> str:
    cols = rng.sample(list(words), rng.randint(2, 5))
    sep = rng.choice([",", ";", "\t", "|"])
    rows = [sep.join(_value(rng, words) for _ in cols) for _ in range(rng.randint(2, 8))]
    return "\n".join([sep.join(cols), *rows])


def json_records(rng: random.Random, words: Words) -> str:
    keys = rng.sample(list(words), rng.randint(2, 5))
    lines = []
    for _ in range(rng.randint(2, 6)):
        body = ", ".join(f'"{k}": "{_value(rng, words)}"' for k in keys)
        lines.append("{" + body + "}")
    return "\n".join(lines)


def ini_records(rng: random.Random, words: Words) -> str:
    keys = rng.sample(list(words), rng.randint(2, 4))
    out = []
    for _ in range(rng.randint(2, 4)):
        out.append(f"[{rng.choice(words)}]")
        out += [f"{k} = {_value(rng, words)}" for k in keys]
        out.append("")
    return "\n".join(out).strip()


# --------------------------------------------------------------------------- repetitive
def repeated_phrase(rng: random.Random, words: Words) -> str:
    """A phrase that recurs whole, with filler of varying length between occurrences."""
    phrase = " ".join(
        _ident(rng) if rng.random() < 0.5 else rng.choice(words) for _ in range(rng.randint(3, 12))
    )
    parts = [phrase]
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.5:
            parts.append(_phrase(rng, words, 0, 12))
        parts.append(phrase)
    return rng.choice(["\n", " ", ". "]).join(p for p in parts if p)


def log_lines(rng: random.Random, words: Words) -> str:
    logger = ".".join(rng.sample(list(words), 2))
    messages = [f"{_phrase(rng, words, 1, 5)} id={_ident(rng)}" for _ in range(rng.randint(1, 3))]
    out, t = [], rng.randint(0, 80000)
    for _ in range(rng.randint(3, 9)):
        t += rng.randint(1, 400)
        level = rng.choice(["INFO", "INFO", "WARNING", "DEBUG", "ERROR"])
        stamp = f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        out.append(f"{stamp} {level} {logger}: {rng.choice(messages)}")
    return "\n".join(out)


def repeated_ids(rng: random.Random, words: Words) -> str:
    """A block of opaque identifiers (hashes, keys) listed again later, as in manifests."""
    block = [" ".join(_ident(rng) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
    out = list(block)
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.5:
            out.append(f"# {_phrase(rng, words, 1, 6)}")
        out += block
    return "\n".join(out)


def echo_list(rng: random.Random, words: Words) -> str:
    """Pairs whose second half copies the first (a glossary, a rename map)."""
    arrow = rng.choice([" -> ", " => ", ": ", " = "])
    out = []
    for _ in range(rng.randint(2, 6)):
        p = _phrase(rng, words, 1, 4)
        out.append(p + arrow + p)
    return "\n".join(out)


GENERATORS: dict[str, list[Callable[[random.Random, Words], str]]] = {
    "latex": [latex_table, latex_equations, latex_list],
    "markup": [xml_records, html_links, html_table],
    "records": [csv_records, json_records, ini_records],
    "repetitive": [repeated_phrase, log_lines, echo_list, repeated_ids],
}


def generate(category: str, rng: random.Random, words: Words) -> str:
    """One document of a structural `category`, drawn with `rng`."""
    return rng.choice(GENERATORS[category])(rng, words)
