"""Accuracy of the category classifiers on the real-file splits, per window size.

    python scripts/compare_classifiers.py [--split test|dev|holdout|final] [--magika]

`rules` is mda_bench.categories.classify. `--magika` adds Google's magika content-type model
(`pip install magika`; not a dependency of the suite) with its labels mapped onto the six
categories: latex -> latex; html, xml, svg -> markup; csv, tsv, json, jsonl, ini, toml, yaml
-> records; txt, markdown, rst -> prose; every programming language -> code. magika has no
label for repetitive text, so it never predicts that category. docs/categories.md holds the
numbers this printed.
"""

from __future__ import annotations

import argparse
import time

from mda_bench.categories import CATEGORIES, classify
from mda_bench.category_eval import SIZES, load_split, scores

MAGIKA = {
    "latex": "latex",
    "html": "markup",
    "xml": "markup",
    "svg": "markup",
    "csv": "records",
    "tsv": "records",
    "json": "records",
    "jsonl": "records",
    "ini": "records",
    "toml": "records",
    "yaml": "records",
    "txt": "prose",
    "markdown": "prose",
    "rst": "prose",
}


def magika_classifier():
    from magika import Magika

    model = Magika()
    return lambda text: MAGIKA.get(model.identify_bytes(text.encode()).output.label, "code")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="test", choices=["test", "dev", "holdout", "final"])
    ap.add_argument("--magika", action="store_true")
    args = ap.parse_args()
    records = load_split(args.split)
    methods = {"rules": classify}
    if args.magika:
        methods["magika"] = magika_classifier()
    print("| method | window | accuracy | " + " | ".join(CATEGORIES) + " | ms per window |")
    print("|---|---|---|" + "---|" * (len(CATEGORIES) + 1))
    for name, fn in methods.items():
        for size in SIZES:
            t0 = time.perf_counter()
            acc, recall = scores(records, fn, size)
            ms = (time.perf_counter() - t0) / len(records) * 1000
            cells = " | ".join(f"{recall[c]:.2f}" for c in CATEGORIES)
            print(f"| {name} | {size} | {acc:.3f} | {cells} | {ms:.2f} |")


if __name__ == "__main__":
    main()
