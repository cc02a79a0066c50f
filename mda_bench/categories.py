"""A content-based classifier that labels any text with one of the corpus categories.

The embedded corpus knows each document's category from its generator; outside corpora (Pile
rows have no LaTeX label) need the same labels from content alone. The rules are simple,
ordered, and measured against the embedded labels in the tests.
"""

from __future__ import annotations

import re
import zlib

CATEGORIES = ("prose", "code", "latex", "markup", "records", "repetitive")

_LATEX = re.compile(r"\\(begin|end|frac|label|ref|item|textbf|hline|mathrm|section|cite)\b")
_TAG = re.compile(r"</?[A-Za-z_][\w:.-]*(\s[^<>]*)?/?>")
_CODE = re.compile(
    r"^\s*(def |class |import |from \S+ import|return\b|if .*:$|for .*:$|elif |else:|try:|"
    r"except\b|while .*:$|with .*:$|raise |self\.|#|@)",
    re.M,
)
_KV = re.compile(r'^\s*("[^"]+"\s*:|[\w.-]+\s*=\s*\S|\[[\w .-]+\]$)', re.M)


def _repeated_line_share(lines: list[str]) -> float:
    seen, rep = set(), 0
    for line in lines:
        key = re.sub(r"\d", "0", line.strip())
        if key in seen and len(key) > 8:
            rep += 1
        seen.add(key)
    return rep / max(len(lines), 1)


def _delimited_share(lines: list[str]) -> float:
    """Share of lines that split into the same number (>=2) of fields as the first line."""
    for sep in (",", ";", "\t", "|"):
        counts = [line.count(sep) for line in lines]
        if counts and counts[0] >= 1:
            same = sum(c == counts[0] for c in counts)
            if same / len(counts) > 0.8 and len(counts) >= 2:
                return same / len(counts)
    return 0.0


def _code_shape(lines: list[str]) -> float:
    """Share of lines shaped like code: indented, or ending in an opener, closer or comma."""
    shaped = sum(
        line.startswith(("    ", "\t")) or line.rstrip().endswith((":", "(", ")", "[", "]", ",", "{", "}"))
        for line in lines
    )
    return shaped / max(len(lines), 1)


def _symbol_density(text: str) -> float:
    return sum(text.count(c) for c in "()[]{}=_.:,'\"") / max(len(text), 1)


def classify(text: str) -> str:
    """Label `text` as prose, code, latex, markup, records or repetitive."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    n = max(len(lines), 1)
    size = max(len(text), 1)
    latex = len(_LATEX.findall(text))
    tags = len(_TAG.findall(text))
    if latex >= 3 and latex * 40 > size / 4:
        return "latex"
    if tags >= 4 and tags * 15 > size / 4:
        return "markup"
    if text.lstrip().startswith(("{", "[")) and text.count('":') >= 2:
        return "records"
    if _delimited_share(lines) > 0.8 or len(_KV.findall(text)) / n > 0.6:
        return "records"
    if len(_CODE.findall(text)) / n > 0.3 or (_code_shape(lines) > 0.5 and _symbol_density(text) > 0.06):
        return "code"
    compress = len(zlib.compress(text.encode())) / max(len(text.encode()), 1)
    if _repeated_line_share(lines) > 0.3 or (size > 60 and compress < 0.35):
        return "repetitive"
    # A phrase recurring inside a line or across lines (echo lists, repeated strings).
    words = re.findall(r"\w+", text.lower())
    if len(words) >= 6:
        grams = list(zip(words, words[1:]))
        if 1 - len(set(grams)) / len(grams) > 0.3:
            return "repetitive"
    return "prose"
