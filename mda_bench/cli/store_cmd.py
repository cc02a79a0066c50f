"""`mda-bench store ls|verify|rm`: look after a run store."""

from __future__ import annotations

import click

from ..errors import MdaError
from ..store import Store
from .options import store_option


@click.group("store")
def store_group() -> None:
    """List, verify or remove stored stages."""


@store_group.command("ls")
@store_option
def ls(store) -> None:
    """Every stored stage: name, state, size and wall time."""
    from tabulate import tabulate

    st = Store(store)
    rows = []
    for stage, key, folder in st.stages():
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        if key.endswith(".partial"):
            rows.append((f"{stage}/{key}", "partial", f"{size / 1e6:.1f} MB", ""))
            continue
        wall = read_json_or_empty(st, stage, key).get("wall_time_s", "")
        rows.append((f"{stage}/{key}", "finished", f"{size / 1e6:.1f} MB", wall))
    click.echo(tabulate(rows, headers=["stage", "state", "size", "wall s"]) if rows else f"{store}: empty")


@store_group.command("verify")
@store_option
@click.argument("names", nargs=-1, metavar="[STAGE/KEY]...")
def verify(store, names) -> None:
    """Check every file of finished stages against its manifest's size and sha256 (all stages
    unless named). Exits 1 when any is damaged."""
    st = Store(store)
    chosen = [(s, k) for s, k, _ in st.stages() if not k.endswith(".partial")]
    if names:
        known = {f"{s}/{k}" for s, k in chosen}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise MdaError(f"no finished stage {unknown[0]!r} in {store} (`mda-bench store ls` lists them)")
        chosen = [(s, k) for s, k in chosen if f"{s}/{k}" in names]
    bad = 0
    for stage, key in chosen:
        try:
            problems = st.verify(stage, key)
        except MdaError as exc:
            problems = [str(exc)]
        unchecked = "files" not in read_json_or_empty(st, stage, key)
        status = (
            "damaged: " + "; ".join(problems)
            if problems
            else "no checksums (older store)"
            if unchecked
            else "ok"
        )
        bad += bool(problems)
        click.echo(f"{stage}/{key}: {status}")
    click.echo(f"{len(chosen)} stages checked, {bad} damaged")
    if bad:
        raise SystemExit(1)


def read_json_or_empty(st: Store, stage: str, key: str) -> dict:
    try:
        return st.manifest(stage, key)
    except MdaError:
        return {}


@store_group.command("rm")
@store_option
@click.argument("names", nargs=-1, required=True, metavar="STAGE/KEY...")
def rm(store, names) -> None:
    """Remove stored stages (e.g. a damaged one); the next run recomputes them."""
    st = Store(store)
    for name in names:
        click.echo(f"removed {st.remove(name)}")
