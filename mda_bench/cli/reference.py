"""The README's command and configuration tables, generated from the CLI and `scales.RANGES`
so they cannot drift (a test compares them with the README)."""

from __future__ import annotations

import click

from ..scales import RANGES, SCALES


def _rows(group: click.Group, prefix: str) -> list[tuple[str, str, str]]:
    rows = []
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        if isinstance(cmd, click.Group):
            rows += _rows(cmd, f"{prefix} {name}")
            continue
        args = [p.metavar or p.name.upper() for p in cmd.params if isinstance(p, click.Argument)]
        opts = [p.opts[0] for p in cmd.params if isinstance(p, click.Option) and p.opts[0] != "--help"]
        summary = cmd.get_short_help_str(limit=300).rstrip(".")
        usage = " ".join([f"{prefix} {name}", *args]).replace("|", "\\|")
        rows.append((usage, summary, ", ".join(f"`{o}`" for o in opts)))
    return rows


def commands_markdown() -> str:
    """One row per command: usage, what it does, its options (`--help` explains each)."""
    from . import cli

    lines = ["| command | what it does | options |", "|---|---|---|"]
    lines += [f"| `{u}` | {s} | {o} |" for u, s, o in _rows(cli, "mda-bench")]
    return "\n".join(lines)


def ranges_markdown() -> str:
    """Every `--set` field with its allowed range and its value at `tiny`."""
    tiny = SCALES["tiny"]
    lines = ["| field (`--set FIELD=VALUE`) | allowed | at `tiny` |", "|---|---|---|"]
    seen = set()
    for path, _, wants in RANGES:
        section, _, name = path.partition(".")
        value = getattr(getattr(tiny, section), name)
        lines.append(f"| `{path}` | {wants} | {'' if path in seen else value} |")
        seen.add(path)
    return "\n".join(lines)
