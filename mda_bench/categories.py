"""A content classifier: labels any text window with one of the corpus categories.

The embedded corpus knows each document's category from its generator; outside corpora (Pile
rows have no labels) need the same labels from content alone. The classifier looks for the
signals that define each kind of file, as a reader would recognise it, and returns the first
category whose signal is clear, in this order:

1. latex: control sequences (`\\begin`, `\\def`, `\\newcommand`, any `\\name`) on many lines,
   or TeX comment blocks (`%`);
2. code, when most lines are statements of a common language (Python, C, JavaScript, shell)
   or a Python `def` / `class` line is present;
3. repetitive, when the text is a log: most lines open with a timestamp or the same word;
4. markup: tags (`<a href=..>`, `</div>`), XML declarations, attribute-per-line elements;
5. records: JSON objects, delimited tables (a steady count of `,` `\\t` `;` `|` per line),
   `key = value` / `Key: value` / `[section]` lines once comment lines are set aside, or a
   configuration file's comments with commented-out settings;
6. code: statements, code-shaped line ends, or a block of code comments;
7. repetitive: recurring line skeletons or word triples, one word all over the text, or
   text that compresses unusually well;
8. prose: everything else.

It was designed on the development split of a set of real files and is measured on a
held-out split of other files (`tests/data/`, docs/categories.md).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

CATEGORIES = ("prose", "code", "latex", "markup", "records", "repetitive")
# Bumped whenever a rule changes what a text is labelled; outside corpora's data stages are
# keyed by it. 2: Debian control records, ragged comma tables, TOML arrays, whole-line decorators.
# 3: shebangs, minified code, C block comments, preprocessor lines, C++ and shell statements,
# keyword-argument and closing-bracket lines.
CLASSIFIER_VERSION = 3

# \name with a name of two or more letters (single letters are string escapes: \n, \t, \d)
_TEX_CMD = re.compile(r"\\[A-Za-z@]{2,}")
_TAG_OPEN = re.compile(r"<(?:[A-Za-z_][\w:.-]*[\s>/]|/[A-Za-z_]|\?xml|!DOCTYPE|!--)", re.I)
_DOCUMENT = re.compile(r"<\?xml|<svg\b|<html\b|<!DOCTYPE", re.I)
_ATTR_LINE = re.compile(r'^\s*[\w:.-]+="[^"]*"\s*/?>?\s*$')
_INCLUDE = re.compile(r"^\s*#\s*include\s*<")
_TIMESTAMP = re.compile(
    r"^\s*(?:\S+\s+)?\[?(?:\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d|[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d|\d{10})"
)
_JSON_KEY = re.compile(r'"[^"\n]{1,80}"\s*:')
_JSON_PUNCT = re.compile(r"^\s*[\]\[{}],?\s*$")
_KEY_VALUE = re.compile(r"^\s*(?:[\w.\-/@]+(?: [\w.\-]+)?\s*=\s*\S|[A-Za-z][\w-]*: \S|\[[^\]\n]+\]\s*$)")
_SETTING = re.compile(r"^[\w.\-]+\s*=\s*\S")
# a TOML / JSON array item (a quoted string or a number per line): a record line like `key = value`
# (not `- item`: bullet lists are prose as often as YAML)
_LIST_ITEM = re.compile(r"""^\s*(?:"[^"\n]*"|'[^'\n]*'|[\d.]+),?\s*(?:#.*)?$""")
# an RFC 822 / Debian control field at the line's start (`Package: x`); continuation lines of a
# field start with a space
_CONTROL_FIELD = re.compile(r"^[A-Z][\w-]*: ")
# a comment line (shell, INI, C++), but not a C preprocessor directive (`#include`, `# define`)
_DIRECTIVE = r"\s*(?:include|define|ifn?def|endif|undef|pragma|elif)\b|if\b|else\b"
_COMMENT = re.compile(rf"^\s*(?:#(?!{_DIRECTIVE})|;|//)")
_CODE_COMMENT = re.compile(r"^\s*(?:/\*|\*|//|#|\"\"\"|''')")
_CODE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|if\b.*:\s*$|elif |else\s*:|try:|except\b|finally:|"
    r"for\b.*:\s*$|while\b.*:\s*$|with\b.*:\s*$|raise |@[\w.]+\s*(?:\(.*)?$|"  # Python
    r"#\s*(?:include|define|if|ifdef|ifndef|endif|else|undef|pragma)\b|typedef\b|struct\b|"
    r"(?:static |extern |const |unsigned |inline )*(?:void|int|char|long|double|float|bool|size_t)\b|"  # C
    r"(?:function|var|let|const)\b|export\b|module\.exports|\}\s*(?:else|catch)\b|"  # JavaScript
    r"enum\s+(?:class\s+)?\w+\s*(?:[{:].*)?$|namespace\s+\w+\s*\{|template\s*<|"  # C++
    r"(?:public|private|protected):|"
    r"\w+=[^=\s].*,\s*$|\)+[,:;]?\s*$|"  # keyword arguments, assigned calls, closers
    r"then\s*$|fi(?:\s*;;)?\s*$|do\s*$|done\s*$|esac\s*$|case\b.*\bin\s*$|"  # shell
    r"local |echo |set -|exit\b|eval |export \w|"
    r"if (?:test|\[) |\w+=[\"']?[`$]|\S+\)\s.*;;\s*$)"  # shell
)
# JavaScript and C tokens; minified code has hundreds in a window, language a handful
_CODE_TOKEN = re.compile(r"function\s*\(|\breturn\b|=>|&&|\|\||[!=]==?|\bvar |\bthis\.|\)\{|\};|\}\)")
CODE_TOKENS = 0.015  # per character
_SHEBANG = re.compile(r"\A#!\s*/\S+")
_DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+\w+\s*[(:].*:\s*$")  # a Python def or class
_CODE_END = re.compile(r"(?:[;{}(]|\)\s*:|=>|&&|\|\|)\s*$")
_BLOCK_LINE = re.compile(r"^\s*(?:/\*|\*(?:\s|/|$))")  # a line of a C block comment


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _share(lines: list[str], pattern: re.Pattern) -> float:
    return sum(bool(pattern.search(ln)) for ln in lines) / max(len(lines), 1)


def latex_signal(text: str, lines: list[str]) -> bool:
    cmds = _TEX_CMD.findall(text)
    n = max(len(lines), 1)
    if len(cmds) >= 3 and (_share(lines, _TEX_CMD) >= 0.25 or len(cmds) * 60 >= len(text)):
        return True
    return len(lines) >= 3 and sum(ln.lstrip().startswith("%") for ln in lines) / n >= 0.5


def markup_signal(lines: list[str]) -> bool:
    lines = [ln for ln in lines if not _INCLUDE.match(ln)]  # C's #include <stdio.h> is no tag
    body = "\n".join(lines)
    opens = _TAG_OPEN.findall(body)
    marked = sum(bool(_TAG_OPEN.search(ln) or _ATTR_LINE.match(ln)) for ln in lines)
    if len(opens) >= 3 and (marked / max(len(lines), 1) >= 0.3 or len(opens) * 150 >= len(body)):
        return True
    # an XML or HTML document whose lines are long (SVG path data, one-line pages)
    return len(opens) >= 2 and '="' in body and bool(_DOCUMENT.search(body))


def log_signal(lines: list[str]) -> bool:
    """A log: most lines open with a timestamp, or with the same word as several others."""
    if len(lines) < 3:
        return False
    if _share(lines, _TIMESTAMP) >= 0.5:
        return True
    if _share(lines, _KEY_VALUE) >= 0.5:
        return False  # an INI file repeats its keys in every section: records, not a log
    heads = Counter(ln.split()[0] for ln in lines)
    return sum(n for h, n in heads.items() if n >= 3 and len(h) >= 4 and h.isalpha()) / len(lines) >= 0.6


def _skeleton(line: str) -> str:
    """A line with its variable parts (numbers, hex) blanked."""
    return re.sub(r"[0-9a-f]*\d[0-9a-f]*", "0", line.strip().lower())


SKELETON_SHARE = 0.4  # share of lines whose skeleton recurs
TRIPLE_REPEATS = 0.2  # share of word triples that occurred before
COMPRESSION = 0.2  # zlib size / text size
TOP_WORD = 0.25  # share of the words (3+ letters) that are the commonest one
SELF_SIMILARITY = 0.2  # see self_similarity()


def repetition_signal(text: str, lines: list[str]) -> bool:
    """Text that repeats itself: recurring line skeletons, one word all over it, recurring word
    triples, text that compresses far better than language, or a second half that adds
    almost nothing to the first."""
    if len(lines) >= 3:
        skel = Counter(_skeleton(ln) for ln in lines)
        if sum(n for s, n in skel.items() if n >= 2 and len(s) > 8) / len(lines) >= SKELETON_SHARE:
            return True
    words = re.findall(r"[a-z]+", text.lower())
    long_words = [w for w in words if len(w) >= 3]
    if len(long_words) >= 20 and Counter(long_words).most_common(1)[0][1] >= TOP_WORD * len(long_words):
        return True  # one word all over the text (a package list, a listing)
    if len(words) >= 8:
        triples = list(zip(words, words[1:], words[2:]))
        if 1 - len(set(triples)) / len(triples) > TRIPLE_REPEATS:
            return True
    if len(text) > 200 and len(zlib.compress(text.encode())) / len(text.encode()) < COMPRESSION:
        return True
    return len(text) >= 24 and self_similarity(text) < SELF_SIMILARITY


def self_similarity(text: str) -> float:
    """What the second half of a text adds once the first is known: the extra compressed
    bytes, over the first half's. Near 0 for a segment tiled over the text, however short
    (zlib's fixed overhead cancels out); around 0.7-1 for language."""
    data = text.encode()
    half = len(zlib.compress(data[: len(data) // 2]))
    return (len(zlib.compress(data)) - half) / half


def _fields(line: str, sep: str) -> int:
    """Separators in a line; one that ends a line of code (an argument list's `name=value,`,
    C's `x;`) is no field boundary."""
    line = line.rstrip()
    if line.endswith(sep) and ("=" in line or "(" in line):
        line = line[:-1]
    return line.count(sep)


def _delimited(lines: list[str]) -> bool:
    """Most lines split into the same number (>= 2) of fields."""
    if len(lines) < 3:
        return False
    inner = lines[1:-1] if len(lines) > 3 else lines  # a window's first and last lines are cut
    for sep in (",", "\t", ";", "|"):
        counts = Counter(_fields(ln, sep) for ln in inner)
        fields, freq = counts.most_common(1)[0]
        if fields >= 1 and freq / len(inner) >= 0.8:
            return True
    return False


def _ragged_table(lines: list[str]) -> bool:
    """A comma-separated table whose rows have 3 or more fields but not always the same count
    (trailing columns filled only on some rows): most lines have >= 2 commas, most of them not
    followed by a space (a prose list is `a, b, c`), and field counts within 2 of each other."""
    inner = lines[1:-1] if len(lines) > 3 else lines
    counts = [ln.count(",") for ln in inner]
    tabular = [c for c, ln in zip(counts, inner) if c >= 2 and 2 * ln.count(", ") < c]  # not "a, b, c"
    return len(tabular) >= 0.8 * len(inner) and max(tabular) - min(tabular) <= 2


def _control_records(lines: list[str]) -> bool:
    """Debian control / RFC 822 records (dpkg's status, package indexes, mail headers): every
    line is a `Field: value` at the line's start or a continuation line indented by a space,
    with fields on a fifth of the lines and at least three distinct field names."""
    inner = lines[1:] if len(lines) > 3 else lines  # a window's first line is cut
    fields = [ln.split(":", 1)[0] for ln in inner if _CONTROL_FIELD.match(ln)]
    continued = sum(ln.startswith(" ") and not ln.startswith("  ") for ln in inner)
    return (
        len(inner) >= 5
        and len(fields) >= 0.2 * len(inner)
        and len(set(fields)) >= 3
        and len(fields) + continued >= 0.9 * len(inner)
    )


def records_signal(text: str, lines: list[str]) -> bool:
    if len(_JSON_KEY.findall(text)) >= 3 and _share(lines, _JSON_KEY) + _share(lines, _JSON_PUNCT) >= 0.5:
        return True
    body = [ln for ln in lines if not _COMMENT.match(ln)]
    if len(body) >= 3 and (_delimited(body) or _ragged_table(body)):
        return True
    entries = _share(body, _KEY_VALUE) + _share(body, _LIST_ITEM)
    if len(body) >= 3 and entries >= 0.6 and _share(body, _CODE) < 0.2:
        return True
    if _control_records(lines):
        return True
    # a configuration file's documentation: comments with commented-out settings among them
    comments = [ln.lstrip("#; \t") for ln in lines if _COMMENT.match(ln)]
    return len(comments) >= 0.6 * len(lines) >= 3 and _share(comments, _SETTING) >= 0.15


def code_statements(lines: list[str]) -> float:
    """Share of non-comment lines that are statements of a common language."""
    return _share([ln for ln in lines if not _COMMENT.match(ln)], _CODE)


def block_comment_lines(text: str) -> int:
    """Non-empty lines inside C block comments (`/* ... */`, cut at the window's edges)."""
    n = 0
    for m in re.finditer(r"^\s*/\*.*?(?:\*/|\Z)", text, re.S | re.M):
        n += len(_lines(m.group(0)))
    return n


def minified(text: str, lines: list[str]) -> bool:
    """Minified JavaScript (or any code squeezed onto long lines): code tokens everywhere."""
    return len(text) / max(len(lines), 1) >= 150 and len(_CODE_TOKEN.findall(text)) >= CODE_TOKENS * len(text)


def code_signal(text: str, lines: list[str]) -> bool:
    # a block of comments (licence headers, banners) is what code files open with
    if len(lines) >= 3 and _share(lines, _CODE_COMMENT) >= 0.6:
        return True
    if len(lines) >= 3 and block_comment_lines(text) >= 0.6 * len(lines):
        return True  # the same in C block comments whose lines carry no `*`
    block = "/*" in text or "*/" in text  # else `* item` is a bullet list, not a comment
    body = [ln for ln in lines if not (_COMMENT.match(ln) or (block and _BLOCK_LINE.match(ln)))]
    if not body:
        return False
    statements = _share(body, _CODE)
    ends = _share(body, _CODE_END)
    indented = sum(ln.startswith(("  ", "\t")) for ln in body) / len(body)
    symbols = sum(text.count(c) for c in "(){}[]=;_") / max(len(text), 1)
    return statements >= 0.2 or statements + ends >= 0.35 or (indented >= 0.5 and symbols >= 0.06)


def classify(text: str) -> str:
    """Label `text` as prose, code, latex, markup, records or repetitive."""
    lines = _lines(text)
    if latex_signal(text, lines):
        return "latex"
    if code_statements(lines) >= 0.5 or any(_DEFINITION.match(ln) for ln in lines):
        return "code"  # before the log rule: `import` lines also open alike
    if _SHEBANG.match(text) or minified(text, lines):
        return "code"  # before repetitive and records: minified code repeats itself and has commas
    if log_signal(lines):
        return "repetitive"  # before markup: logs write `<none>`
    if markup_signal(lines):
        return "markup"
    if records_signal(text, lines):
        return "records"
    if code_signal(text, lines):
        return "code"
    if repetition_signal(text, lines):
        return "repetitive"
    return "prose"
