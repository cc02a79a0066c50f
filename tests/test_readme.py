"""The README's command and configuration tables are generated from the CLI and the scale
ranges; these tests fail when the README drifts from them."""

import os
import re
from pathlib import Path

import pytest

from mda_bench.cli.reference import commands_markdown, ranges_markdown

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.parametrize("name,make", [("commands", commands_markdown), ("ranges", ranges_markdown)])
def test_readme_table_matches_the_code(name, make):
    text = README.read_text()
    pattern = re.compile(f"(<!-- {name}:start -->\n)(.*?)(\n<!-- {name}:end -->)", re.S)
    assert pattern.search(text), f"README has no {name} block"
    if os.environ.get("MDA_UPDATE_GOLDEN"):
        README.write_text(pattern.sub(lambda m: m.group(1) + make() + m.group(3), text))
        text = README.read_text()
    assert pattern.search(text).group(2) == make()


def test_readme_links_resolve():
    """Every relative link of the README and docs/ points at a file of the repository."""
    root = README.parent
    for doc in [README, *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith("http"):
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_readme_stands_alone():
    text = README.read_text()
    assert "../shared" not in text and "session" not in text.lower()
    assert len(text.splitlines()) <= 250
