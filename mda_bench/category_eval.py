"""The real-file evaluation set of the content classifier (tests/data/category-*.jsonl).

Windows of files this project did not write, labelled by file type before any classifier saw
them (scripts/build_category_eval.py): a `dev` split the rules were designed on and a
held-out `test` split, 40 windows per category each, 3,000 characters long; the 1,000 and
256-character windows are their first characters. No window is in both splits; a file is in
both only where its source had fewer files than windows (licences, logs, a few tables).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .categories import CATEGORIES

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SIZES = (256, 1000, 3000)


def load_split(split: str) -> list[dict]:
    with open(DATA / f"category-{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def scores(records: list[dict], classify: Callable[[str], str], size: int) -> tuple[float, dict[str, float]]:
    """(accuracy, recall per category) of `classify` on the first `size` characters."""
    right, total = Counter(), Counter()
    for rec in records:
        total[rec["category"]] += 1
        right[rec["category"]] += classify(rec["text"][:size]) == rec["category"]
    return sum(right.values()) / len(records), {c: right[c] / total[c] for c in CATEGORIES}
