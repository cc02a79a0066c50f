"""Build tests/data/category-eval.jsonl: windows of real files, labelled by file type.

Every window comes from a file this project did not write (Debian and Python packages on the
build machine, TeX Live packages unpacked from their .deb files, system logs), and its label
is decided by the file's type below, before any classifier sees it. Each record keeps its
provenance (path and package). Rerunning on another machine finds other files: the committed
file is the evaluation set; this script documents how it was made.

    python scripts/build_category_eval.py [--tex-root DIR] --out tests/data

writes two disjoint splits: `category-test.jsonl` (the held-out set the tests measure) and
`category-dev.jsonl` (the set the classifier's rules were designed on). Each pattern's files
are drawn in a seeded order and dealt alternately to test and dev, so no file is in both,
except where a pattern has fewer files than windows (the licences, the logs, the dpkg
database, a few tables): there distinct windows of the same files go to both splits.

    python scripts/build_category_eval.py --holdout --seed 1 --out tests/data

writes one more split, `category-holdout.jsonl`, by the same labelling rule from files that
neither earlier split used, and, where a pattern has too few of those, from windows of
already-used files that overlap no window of the earlier splits. It was made after the test
split had been measured several times, to be measured once.

    python scripts/build_category_eval.py --holdout --name final --seed 2 --out tests/data

writes `category-final.jsonl` the same way, avoiding the files and windows of every split
already in the folder (test, dev and holdout): made after the holdout had been measured and
then used to improve the rules, to measure the improved classifier once.

--tex-root is a folder where texlive-latex-base, texlive-latex-recommended, texlive-science
and texlive-publishers were unpacked (`apt-get download ...; dpkg -x FILE DIR`).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import subprocess
import sys
import sysconfig

WINDOW = 3000  # the largest window; the 1,000 and 256-character windows are cut from it
MIN_CHARS = 1000
PER_CATEGORY = 40


def _site() -> str:
    return sysconfig.get_paths()["purelib"]


def sources(tex: str) -> dict[str, list[tuple[str, int]]]:
    """{category: [(glob pattern, how many files to draw from it)]}: the labelling rule."""
    site = _site()
    return {
        "prose": [
            ("/usr/share/common-licenses/*", 14),  # licence texts
            ("man:", 16),  # manual pages rendered as text (man -P cat), section 1
            ("/usr/share/doc/*/README*", 10),  # package READMEs
        ],
        "code": [
            (f"{site}/**/*.py", 12),  # Python outside the standard library
            ("/usr/include/**/*.h", 10),  # C headers
            (f"{site}/**/*.js", 5),  # JavaScript
            ("/usr/share/javascript/**/*.js", 3),
            ("/usr/bin/*:shell", 10),  # shell scripts
        ],
        "latex": [
            (f"{tex}/**/*.sty", 14),  # LaTeX packages
            (f"{tex}/**/*.cls", 13),  # LaTeX classes
            (f"{tex}/**/*.tex", 13),  # LaTeX documents and templates
        ],
        "markup": [
            ("/usr/share/**/*.xml", 14),
            ("/usr/share/**/*.html", 13),
            ("/usr/share/**/*.svg", 13),
        ],
        "records": [
            ("/usr/share/distro-info/*.csv", 2),
            (f"{site}/**/*.csv", 6),
            ("/usr/share/package-lists/*.tsv", 4),  # tab-separated tables
            (f"{site}/**/*.json", 7),
            ("/usr/lib/systemd/system/*.service", 6),  # INI-style unit files
            ("/etc/**/*.conf:noxml", 3),  # configuration files with comments (not fontconfig's XML)
            (f"{site}/**/*.toml", 3),
            (f"{site}/*.dist-info/RECORD", 5),  # CSV manifests
            ("/var/lib/dpkg/status", 2),  # Key: value records
            (f"{site}/*.dist-info/METADATA:headers", 2),  # Key: value headers
        ],
        "repetitive": [
            ("/var/log/dpkg.log", 14),  # system logs: recurring messages
            ("/var/log/apt/term.log", 10),
            ("/var/log/apt/history.log", 6),
            ("/var/log/alternatives.log", 5),
            ("/root/.npm/_logs/*.log", 3),
            ("/var/log/dpkg.log:tail", 2),
        ],
    }


def read(path: str) -> str | None:
    try:
        data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def man_page(name: str) -> str | None:
    env = {**os.environ, "MANWIDTH": "80"}
    out = subprocess.run(["man", "-P", "cat", name], capture_output=True, text=True, env=env)
    return out.stdout if out.returncode == 0 else None


def candidates(pattern: str) -> list[tuple[str, str]]:
    """(path, text) of the files a pattern names, in sorted order."""
    if pattern == "man:":
        names = sorted({os.path.basename(p).split(".")[0] for p in glob.glob("/usr/share/man/man1/*")})
        return [(f"man:{n}", None) for n in names]
    path_glob, _, kind = pattern.partition(":")
    return [(p, kind or None) for p in sorted(glob.glob(path_glob, recursive=True)) if os.path.isfile(p)]


def text_of(path: str, kind: str | None) -> str | None:
    if path.startswith("man:"):
        return man_page(path[4:])
    text = read(path)
    if text is None:
        return None
    if kind == "shell":
        return text if text.startswith(("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash")) else None
    if kind == "noxml" and path.startswith("/etc/fonts/"):
        return None
    if kind == "tail":  # the other end of a long log
        return text[-WINDOW * 4 :]
    if kind == "headers":
        return text.split("\n\n", 1)[0]
    return text


def package_of(path: str) -> str:
    if path.startswith("man:"):
        return "man-db page"
    if "/site-packages/" in path:
        return "pip:" + path.split("/site-packages/")[1].split("/")[0]
    if "/texlive" in path or path.startswith("/tmp"):
        return "deb:texlive (unpacked)"
    out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    return "deb:" + out.stdout.split(":")[0] if out.returncode == 0 else "system"


def windows(text: str, n: int, rng: random.Random, taken: list[int] = ()) -> list[tuple[int, str]]:
    """n windows of up to WINDOW characters at seeded offsets (distinct where the text allows),
    none overlapping a window that starts at an offset in `taken`."""
    span = max(0, len(text) - WINDOW)
    free = [s for s in range(span + 1) if all(abs(s - t) >= WINDOW for t in taken)]
    if not free:
        return []
    starts = sorted(rng.sample(free, min(n, len(free))))
    return [(s, text[s : s + WINDOW]) for s in starts]


def used_windows(folder: str, name: str) -> dict[str, list[int]]:
    """{source: [window offsets]} of every split in `folder` but `name`."""
    out: dict[str, list[int]] = {}
    for path in sorted(glob.glob(os.path.join(folder, "category-*.jsonl"))):
        if os.path.basename(path) == f"category-{name}.jsonl":
            continue
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                out.setdefault(rec["source"], []).append(rec["offset"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tex-root", default="/tmp/evalsrc/tex")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="tests/data")
    ap.add_argument("--holdout", action="store_true", help="one fresh split beside the folder's splits")
    ap.add_argument("--name", default="holdout", help="the fresh split's name (with --holdout)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    splits = {args.name: []} if args.holdout else {"test": [], "dev": []}
    used = used_windows(args.out, args.name) if args.holdout else {}
    for category, pats in sources(args.tex_root).items():
        for pattern, want in pats:
            need = want if args.holdout else 2 * want  # one window for each split
            pool = candidates(pattern)
            rng.shuffle(pool)
            fresh = [c for c in pool if c[0] not in used]
            single = len(fresh) < need  # few files (logs, status): several windows each
            if not single:
                pool = fresh
            got = 0
            for path, kind in pool:
                if got >= need:
                    break
                text = text_of(path, kind)
                if text is None or len(text.strip()) < MIN_CHARS:
                    continue
                per_file = -(-need // len(pool)) if single else 1
                for offset, win in windows(text, per_file, rng, used.get(path, [])):
                    if got >= need:
                        break
                    rec = {
                        "category": category,
                        "source": path,
                        "package": package_of(path),
                        "offset": offset,
                    }
                    name = args.name if args.holdout else "test" if got % 2 == 0 else "dev"
                    splits[name].append({**rec, "text": win})
                    got += 1
            if got < need:
                print(f"{category} {pattern}: only {got} of {need}", file=sys.stderr)
    for name, recs in splits.items():
        with open(os.path.join(args.out, f"category-{name}.jsonl"), "w") as f:
            for rec in recs:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
