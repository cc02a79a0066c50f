"""The content classifier on real files (tests/data, held-out split) and on hand-made text."""

import json
from collections import Counter

import pytest

from mda_bench.categories import CATEGORIES, classify
from mda_bench.category_eval import SIZES, load_split, scores

# Measured on the final split (docs/categories.md): built and committed after the holdout had
# been measured and then used to improve the rules, and measured once with classifier version 3.
# The holdout and test splits are development splits now; their numbers are pinned too. The
# floors sit a small margin below, so a change that makes the classifier worse on real text fails.
MEASURED = {  # split: {window size: (accuracy, recall per category)}
    "final": {
        256: (
            0.842,
            {"prose": 0.75, "code": 0.88, "latex": 0.97, "markup": 0.95, "records": 0.69, "repetitive": 0.75},
        ),
        1000: (
            0.953,
            {"prose": 0.92, "code": 0.97, "latex": 0.97, "markup": 0.95, "records": 0.91, "repetitive": 1.00},
        ),
        3000: (
            0.953,
            {"prose": 0.86, "code": 0.97, "latex": 0.97, "markup": 1.00, "records": 0.91, "repetitive": 1.00},
        ),
    },
    "holdout": {
        256: (
            0.828,
            {"prose": 0.75, "code": 0.95, "latex": 0.97, "markup": 0.90, "records": 0.63, "repetitive": 0.74},
        ),
        1000: (
            0.931,
            {"prose": 0.85, "code": 0.97, "latex": 1.00, "markup": 0.97, "records": 0.95, "repetitive": 0.83},
        ),
        3000: (
            0.931,
            {"prose": 0.82, "code": 0.97, "latex": 1.00, "markup": 1.00, "records": 0.95, "repetitive": 0.83},
        ),
    },
    "test": {
        256: (
            0.795,
            {"prose": 0.75, "code": 0.88, "latex": 0.93, "markup": 0.97, "records": 0.50, "repetitive": 0.74},
        ),
        1000: (
            0.946,
            {"prose": 0.90, "code": 0.90, "latex": 0.97, "markup": 1.00, "records": 0.95, "repetitive": 0.95},
        ),
        3000: (
            0.933,
            {"prose": 0.88, "code": 0.95, "latex": 1.00, "markup": 1.00, "records": 0.88, "repetitive": 0.90},
        ),
    },
}
MARGIN_ACC, MARGIN_RECALL = 0.02, 0.05  # 0.05 is two windows of 40 (the final split's
# records and repetitive have 35 and 24: there 0.05 is under two windows, so it is one or two)


@pytest.mark.parametrize("split", list(MEASURED))
@pytest.mark.parametrize("size", SIZES)
def test_accuracy_on_real_files(split, size):
    acc, recall = scores(load_split(split), classify, size)
    want_acc, want_recall = MEASURED[split][size]
    assert acc >= want_acc - MARGIN_ACC, acc
    for cat in CATEGORIES:
        assert recall[cat] >= want_recall[cat] - MARGIN_RECALL, (cat, recall[cat])


def test_evaluation_set_is_balanced_with_provenance_and_disjoint_splits():
    splits = {name: load_split(name) for name in ("test", "dev", "holdout", "final")}
    for name, records in splits.items():
        counts = Counter(r["category"] for r in records)
        # the final split ran out of unused logs and small tables: 24 repetitive, 35 records
        assert set(counts) == set(CATEGORIES) and min(counts.values()) >= (20 if name == "final" else 35)
        assert all(r["source"] and r["package"] and len(r["text"]) >= 1000 for r in records)
    # No window is in both splits. Files are dealt to one split, except where a source has fewer
    # files than windows (licences, logs, the dpkg database, a few tables): distinct windows of
    # those files go to both (docs/categories.md gives the scores without them).
    windows = {(r["source"], r["offset"]) for r in splits["test"]}
    assert not windows & {(r["source"], r["offset"]) for r in splits["dev"]}
    dev_files = {r["source"] for r in splits["dev"]}
    assert sum(r["source"] in dev_files for r in splits["test"]) <= 0.3 * len(splits["test"])
    # each later split (the holdout, then the final split) overlaps no window of the splits made
    # before it (a window is 3,000 characters) and reuses few of their files
    earlier = {}
    for r in splits["test"] + splits["dev"]:
        earlier.setdefault(r["source"], []).append(r["offset"])
    for name in ("holdout", "final"):
        for r in splits[name]:
            assert all(abs(r["offset"] - o) >= 3000 for o in earlier.get(r["source"], []))
        assert sum(r["source"] in earlier for r in splits[name]) <= 0.25 * len(splits[name])
        for r in splits[name]:
            earlier.setdefault(r["source"], []).append(r["offset"])


@pytest.mark.parametrize(
    "text,category",
    [
        (
            "\\ProvidesPackage{x}\n\\RequirePackage{y}\n\\def\\foo#1{\\textbf{#1}}\n\\newcommand\\bar{1}\n",
            "latex",
        ),
        ("%% a package\n%% with a licence\n%% in comments\n%% only\n", "latex"),
        ('<svg width="16">\n<path d="m 1 2 c 3 4"/>\n<g id="a">\n</g>\n</svg>\n', "markup"),
        (
            '<?xml version="1.0"?>\n<root a="1" b="2" c="3" d="4" e="5" f="6" g="7" h="8" i="9" j="10">',
            "markup",
        ),
        ('#include <stdio.h>\nint main(void) {\n  printf("hi");\n  return 0;\n}\n', "code"),
        ("name,size,date\nx,1,2024-01-02\ny,2,2024-01-03\nz,3,2024-01-04\n", "records"),
        ('{\n  "a": 1,\n  "b": [1, 2],\n  "c": {"d": "e"}\n}\n', "records"),
        (
            "# settings\n[Unit]\nDescription=x\nAfter=network.target\n\n[Service]\nExecStart=/bin/x\n",
            "records",
        ),
        ("# documentation of a setting\n# more of it\n#dir = /var/run\n#deny = 3\n# and more\n", "records"),
        (
            "2025-06-24 14:36:37 install a\n2025-06-24 14:36:38 install b\n2025-06-24 14:36:39 status c\n",
            "repetitive",
        ),
        (
            "Unpacking a (1) ...\nUnpacking b (2) ...\nUnpacking c (3) ...\nSetting up a (1) ...\n",
            "repetitive",
        ),
        ("The quick brown fox jumps over the lazy dog, and then it runs far away into the woods.", "prose"),
        # version 3 (version 2 read the first three as prose): a shebang, minified code, a C
        # licence block with preprocessor lines, and shell
        ("#!/bin/sh\ncat <<EOF\nUsage: greet [options]\nPrint a friendly greeting and leave.\nEOF\n", "code"),
        (
            "ull},n.h=function(t){return t&&t.x===1?this.g(t):null},n.k=function(e){return this.y!==e||e.z},"
            "n.m=function(t){return t.a&&t.b===2?this.q(t):void 0},n.p=function(e){retu",
            "code",
        ),
        (
            "/* Copyright (C) 2020 Someone.\n   This file is free software; you can\n   redistribute it "
            "under the terms of the\n   licence named below.  */\n\n#ifndef FOO_H\n#define FOO_H 1\n",
            "code",
        ),
        ('  -h) usage ;;\n  -v) echo "$version" ;;\nesac\nif test -z "$x"; then\n  exit 1\nfi\n', "code"),
        # ... while English that starts like a statement stays prose
        ("Enum members themselves are listed below.\nThe loop is done.  Then we stop and\nsay why.", "prose"),
    ],
)
def test_hand_made_examples(text, category):
    assert classify(text) == category


def test_the_data_files_are_json_lines():
    for split in ("test", "dev", "holdout", "final"):
        for rec in load_split(split):
            assert json.loads(json.dumps(rec)) == rec and rec["category"] in CATEGORIES
