"""Options shared by several commands, and the helpers that turn them into a scale and a store."""

from __future__ import annotations

import dataclasses
import logging
import shlex
from pathlib import Path

import click

from ..attribution import STRATEGIES
from ..errors import MdaError
from ..scales import SCALES, Scale, get_scale
from ..store import Store
from .context import pythia_files, pythia_options, runtime, runtime_options

log = logging.getLogger("mda_bench")
_SECTIONS = ("model", "train", "corpus", "probe", "repeat")


def say(message: str) -> None:
    """Progress and notes: stderr and the run's log file; results go to stdout."""
    log.info(message)


def override(scale: Scale, corpus: str | None, sets: tuple[str, ...]) -> Scale:
    """Apply --corpus and --set section.field=value to a scale, then validate it."""
    if corpus is not None:
        scale = dataclasses.replace(scale, corpus=dataclasses.replace(scale.corpus, source=corpus))
    for item in sets:
        path, eq, raw = item.partition("=")
        section, dot, name = path.partition(".")
        if not eq or not dot or section not in _SECTIONS:
            raise MdaError(f"--set wants section.field=value ({'/'.join(_SECTIONS)}), got {item!r}")
        sub = getattr(scale, section)
        fields = {f.name: f for f in dataclasses.fields(sub)}
        if name not in fields or name == "mixture":
            raise MdaError(f"--set: {section} has no settable field {name!r}")
        current = getattr(sub, name)
        try:
            if isinstance(current, tuple):  # e.g. probe.band=0.25,0.75
                value = tuple(type(x)(v) for x, v in zip(current, raw.split(",", len(current) - 1)))
                if len(value) != len(current):
                    raise ValueError
            elif isinstance(current, bool):
                value = raw == "true"
            else:
                value = type(current)(raw)
        except ValueError:
            raise MdaError(f"--set {path}: {raw!r} is not a valid {type(current).__name__}") from None
        scale = dataclasses.replace(scale, **{section: dataclasses.replace(sub, **{name: value})})
    scale.validate()
    return pythia_files(dataclasses.replace(scale, runtime=runtime()))


def open_store(path: str) -> Store:
    """The store at `path`, with this command's log file in it (where it can be written)."""
    from ..logs import attach_file, detach_file

    ctx = click.get_current_context()
    attach_file(Path(path), ctx.info_name)
    ctx.call_on_close(detach_file)
    return Store(path)


def baseline(scale: str, store: str, corpus, sets, seed: int, order_seed: int):
    """(scale, store, data, baseline run) from the shared options: data and training stages,
    loaded from the store or computed now."""
    from ..pipeline import baseline_stage, prepare_data

    sc = override(get_scale(scale), corpus, sets)
    st = open_store(store)
    data = prepare_data(sc, st, order_seed=order_seed, log=say)
    return sc, st, data, baseline_stage(sc, st, data, init_seed=seed, log=say)


def report_dir(reports: str, scale: Scale, unit: str, strategy: str = "ekfac") -> Path:
    """REPORTS/<scale>/: the induction head and EK-FAC are the paper's; other units and
    strategies get folders of their own, so a rerun with --strategy exact does not overwrite
    the default reports."""
    return (
        Path(reports)
        / scale.name
        / ("" if unit == "induction" else unit)
        / ("" if strategy == "ekfac" else strategy)
    )


def command_line(head: str) -> str:
    """The command that reproduces a report: `mda-bench HEAD` plus every option not at its
    default, where things are written (--store, --reports) and --jobs included (it changes no
    result, threads being pinned, but says how the wall time in the report was spent)."""
    ctx = click.get_current_context()
    parts = [f"mda-bench {head}", f"--scale {ctx.params['scale']}"]
    for p in ctx.command.params:
        # where runs execute changes no result (mda_bench/executor.py): left out, so a report
        # written through Ray is the same file as one written by the local pool
        if not isinstance(p, click.Option) or p.name in ("scale", "executor", "ray_address"):
            continue
        value = ctx.params[p.name] if p.expose_value else ctx.meta.get(f"mda.{p.name}", p.default)
        if p.is_flag:
            parts += [p.opts[0]] if value else []
        elif p.multiple:
            parts += [f"{p.opts[0]} {shlex.quote(str(v))}" for v in value]
        elif value != p.default and value is not None:
            parts.append(f"{p.opts[0]} {shlex.quote(str(value))}")
    return " ".join(parts)


# --------------------------------------------------------------------------- decorators
def scale_options(f):
    """--scale, --store, --corpus, --set, the runtime options and the pythia-* files."""
    f = pythia_options(f)
    f = runtime_options(f)
    f = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="SECTION.FIELD=VALUE",
        help="Override one config value, e.g. --set train.steps=800 (sections: "
        f"{', '.join(_SECTIONS)}). Repeatable.",
    )(f)
    f = click.option(
        "--corpus",
        default=None,
        metavar="PATH|hf:NAME",
        help="Outside corpus: a local .txt/.md/.jsonl/.json/.parquet file or folder (one text "
        "file is split into documents at blank lines), or hf:NAME[:CONFIG][@SPLIT].",
    )(f)
    f = store_option(f)
    return click.option(
        "--scale",
        default="tiny",
        show_default=True,
        type=click.Choice(list(SCALES)),
        help="Model scale and data recipe (`mda-bench scales` describes each).",
    )(f)


def store_option(f):
    return click.option(
        "--store",
        default="runs",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Root of the content-addressed run store.",
    )(f)


def seed_options(f):
    """--seed and --order-seed: which baseline run a command trains or reads."""
    f = click.option(
        "--order-seed",
        default=0,
        show_default=True,
        type=click.IntRange(min=0),
        help="Seed of the data order.",
    )(f)
    return click.option(
        "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Init seed of the model."
    )(f)


def reports_option(f):
    return click.option(
        "--reports",
        default="reports",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Reports and plots go to REPORTS/<scale>/.",
    )(f)


def empirical_fisher_option(f):
    return click.option(
        "--empirical-fisher", is_flag=True, help="Fisher from the data labels instead of sampled ones."
    )(f)


def window_start_option(f):
    # One default for attribute, run and agreement (resolved in attribute_stage), so all three
    # show the same attribution unless told otherwise.
    return click.option(
        "--window-start",
        default=None,
        type=click.IntRange(min=0),
        help="First step of the unit's window, a checkpoint step (default: the scale's).",
    )(f)


def unit_option(f):
    return click.option(
        "--unit",
        default="induction",
        show_default=True,
        type=click.Choice(["induction", "previous-token"]),
        help="The head to trace: the strongest induction head in layers >= 1, or the strongest "
        "previous-token head.",
    )(f)


def unit_options(f):
    """--unit and --strategy: which head is attributed, and how."""
    f = click.option(
        "--strategy",
        default="ekfac",
        show_default=True,
        type=click.Choice(STRATEGIES),
        help="Hessian approximation for the attribution: kronfluence's, or `exact` (the head's full "
        "damped Fisher; small heads only).",
    )(f)
    return unit_option(f)
