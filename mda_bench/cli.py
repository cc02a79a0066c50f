"""The `mda-bench` command line: list, train, attribute, run, agreement.

Every user-facing failure is an MdaError (or click's own usage error) printed as one line with
a non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from .attribution import STRATEGIES
from .errors import MdaError
from .scales import SCALES, Scale, get_scale
from .store import Store


def _claims():
    from tasks import CLAIMS

    return CLAIMS


_SECTIONS = ("model", "train", "corpus", "probe", "repeat")


def _override(scale: Scale, corpus: str | None, sets: tuple[str, ...]) -> Scale:
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
            value = type(current)(raw) if not isinstance(current, bool) else raw == "true"
        except ValueError:
            raise MdaError(f"--set {path}: {raw!r} is not a valid {type(current).__name__}") from None
        scale = dataclasses.replace(scale, **{section: dataclasses.replace(sub, **{name: value})})
    scale.validate()
    return scale


def _scale_options(f):
    f = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="SECTION.FIELD=VALUE",
        help="Override one config value, e.g. --set train.steps=800.",
    )(f)
    f = click.option(
        "--corpus",
        default=None,
        metavar="PATH|hf:NAME",
        help="Outside corpus: local .txt/.jsonl/.parquet file or folder, or hf:NAME.",
    )(f)
    f = click.option(
        "--store",
        default="runs",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Root of the content-addressed run store.",
    )(f)
    f = click.option(
        "--scale", default="tiny", show_default=True, metavar="|".join(SCALES), help="Model scale."
    )(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mda-bench")
def cli() -> None:
    """Reproduce the claims of Mechanistic Data Attribution (arXiv 2601.21996)."""


@cli.command("list")
def list_claims() -> None:
    """The five claims, one line each, and whether each is implemented."""
    from tabulate import tabulate

    rows = [(c.id, "yes" if c.implemented else "not yet", c.claim) for c in _claims().values()]
    click.echo(tabulate(rows, headers=["claim", "implemented", "the paper's claim"]))


def _seed_options(f):
    """--seed and --order-seed: which baseline run a command trains or reads."""
    f = click.option(
        "--order-seed",
        default=0,
        show_default=True,
        type=click.IntRange(min=0),
        help="Seed of the data order.",
    )(f)
    return click.option(
        "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Init seed."
    )(f)


def _say(message: str) -> None:
    """Progress goes to stderr, results to stdout."""
    click.echo(message, err=True)


def _baseline(scale: str, store: str, corpus, sets, seed: int, order_seed: int):
    """(scale, store, data, baseline run) from the shared options: data and training stages,
    loaded from the store or computed now."""
    from .pipeline import prepare_data, train_stage

    sc = _override(get_scale(scale), corpus, sets)
    st = Store(store)
    data = prepare_data(sc, st, order_seed=order_seed, log=_say)
    return sc, st, data, train_stage(sc, st, data, init_seed=seed)


def _reports_option(f):
    return click.option(
        "--reports",
        default="reports",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Reports go to REPORTS/<scale>/.",
    )(f)


def _empirical_fisher_option(f):
    return click.option(
        "--empirical-fisher", is_flag=True, help="Fisher from the data labels instead of sampled ones."
    )(f)


def _window_start_option(f):
    # One default for attribute, run and agreement (resolved in attribute_stage), so all three
    # show the same attribution unless told otherwise.
    return click.option(
        "--window-start",
        default=None,
        type=click.IntRange(min=0),
        help="First step of the unit's window, a checkpoint step (default: the scale's).",
    )(f)


def _unit_option(f):
    return click.option(
        "--unit", default="induction", show_default=True, type=click.Choice(["induction", "previous-token"])
    )(f)


def _report_dir(reports: str, scale: Scale, unit: str, strategy: str = "ekfac") -> Path:
    """REPORTS/<scale>/: the induction head and EK-FAC are the paper's; other units and
    strategies get folders of their own, so a rerun with --strategy exact does not overwrite
    the default reports."""
    return (
        Path(reports)
        / scale.name
        / ("" if unit == "induction" else unit)
        / ("" if strategy == "ekfac" else strategy)
    )


def _unit_options(f):
    """--unit and --strategy: which head is attributed, and how."""
    f = click.option(
        "--strategy",
        default="ekfac",
        show_default=True,
        type=click.Choice(STRATEGIES),
        help="Hessian approximation for the attribution: kronfluence's, or `exact` (the head's full "
        "damped Fisher; small heads only).",
    )(f)
    return _unit_option(f)


@cli.command()
@_scale_options
@_seed_options
@click.option(
    "--plot",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where to write the per-head curve PNG (default: in the run folder).",
)
def train(scale, store, corpus, sets, seed, order_seed, plot) -> None:
    """Train a baseline run; print the per-head score table and plot every head's curve."""
    from .report import head_table, plot_head_curves, summary_lines

    sc, _, _, run = _baseline(scale, store, corpus, sets, seed, order_seed)
    click.echo(head_table(run.records[-1]))
    for line in summary_lines(run.records):
        click.echo(line)
    out = Path(plot) if plot else run.path / "head_curves.png"
    plot_head_curves(run.records, out, title=f"{sc.name}, init seed {seed}, order seed {order_seed}")
    click.echo(f"run: {run.path}")
    click.echo(f"plot: {out}")


@cli.command()
@_scale_options
@_seed_options
@_unit_options
@click.option(
    "--probe",
    default=None,
    type=click.Choice(["prefix-matching", "copy-logprob", "previous-token"]),
    help="Measurement (default: the unit's own attention score).",
)
@_window_start_option
@click.option(
    "--batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per kronfluence batch.",
)
@_empirical_fisher_option
def attribute(
    scale,
    store,
    corpus,
    sets,
    seed,
    order_seed,
    unit,
    strategy,
    probe,
    window_start,
    batch_size,
    empirical_fisher,
) -> None:
    """Influence of every row of the unit's formation window on the unit (trains first if needed)."""
    from .attribution.score import InfluenceConfig
    from .attribution.stage import attribute_stage, check_probe, default_probe
    from .report import attribution_lines

    check_probe(unit, probe or default_probe(unit))
    sc, st, data, run = _baseline(scale, store, corpus, sets, seed, order_seed)
    influence = InfluenceConfig(
        strategy=strategy,
        probe=probe or default_probe(unit),
        factor_batch_size=batch_size,
        score_batch_size=batch_size,
        empirical_fisher=empirical_fisher,
    )
    att = attribute_stage(
        sc, st, data, run, unit=unit, influence=influence, window_start=window_start, log=_say
    )
    for line in attribution_lines(att, data.tokenizer()):
        click.echo(line)
    click.echo(f"attribution: {att.path}")


@cli.command()
@click.argument("claim")
@_scale_options
@_seed_options
@_unit_options
@click.option(
    "--k-fraction",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="k as a fraction of the window's rows.",
)
@click.option(
    "--draws", default=4, show_default=True, type=click.IntRange(min=2), help="Random draws per operation."
)
@click.option(
    "--noise-runs",
    default=3,
    show_default=True,
    type=click.IntRange(min=2),
    help="Seed-noise (reorder) runs.",
)
@_window_start_option
@click.option(
    "--margin",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 10, min_open=True),
    help="Branches run past the window's end by this fraction of its length.",
)
@click.option(
    "--generator",
    default=None,
    metavar="MODULE:FUNCTION",
    help="augmentation-speedup: a callable that replaces the offline template filler "
    "(mda_bench.augment.generate's signature), e.g. an LLM-backed one.",
)
@click.option(
    "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Branch runs trained at once."
)
@_reports_option
def run(
    claim,
    scale,
    store,
    corpus,
    sets,
    seed,
    order_seed,
    unit,
    strategy,
    k_fraction,
    draws,
    noise_runs,
    window_start,
    margin,
    generator,
    jobs,
    reports,
) -> None:
    """Run one claim task (or `all`) end to end and write its report."""
    from tasks import TASKS

    from .claim_report import write_report, write_summary
    from .experiment import ExperimentConfig, prepare
    from .store import config_key

    if claim != "all" and claim not in TASKS:
        raise MdaError(f"unknown claim {claim!r}; choose one of: all, {', '.join(TASKS)}")
    sc = _override(get_scale(scale), corpus, sets)
    chosen = list(TASKS) if claim == "all" else [claim]
    missing = [c for c in chosen if not TASKS[c].CLAIM.implemented]
    if claim != "all" and missing:
        raise MdaError(f"claim {claim} is not implemented yet")
    # task-specific requirements (e.g. a model ladder), checked before anything trains
    if generator:
        from .augment import load_generator

        load_generator(generator)
    skipped = {}
    for cid in chosen:
        check = getattr(TASKS[cid], "check", None)
        try:
            if check is not None and cid not in missing:
                check(sc)
        except MdaError as exc:
            if claim != "all":
                raise
            skipped[cid] = str(exc)
    cfg = ExperimentConfig(
        unit=unit,
        strategy=strategy,
        k_fraction=k_fraction,
        draws=draws,
        noise_runs=noise_runs,
        seed=seed,
        order_seed=order_seed,
        window_start=window_start,
        margin=margin,
        generator=generator,
    )
    st = Store(store)
    try:
        exp = prepare(sc, st, cfg, log=_say)
    except ValueError as exc:
        raise MdaError(str(exc)) from None
    out_dir = _report_dir(reports, sc, unit, strategy)
    chash = config_key({"scale": sc, "experiment": cfg})[:16]
    for cid in chosen:
        if cid in missing or cid in skipped:
            _say(f"{cid}: {skipped.get(cid, 'not implemented yet')}; skipped")
            continue
        result = TASKS[cid].run(exp, n_jobs=jobs)
        md = write_report(result, exp, out_dir, _command(f"run {cid}"), chash)
        click.echo(f"{cid}: {result.verdict.verdict}  ({md})")
        for reason in result.verdict.reasons:
            click.echo(f"  - {reason}")
    label = f"scale `{sc.name}`, unit `{unit}`, attribution `{strategy}`"
    click.echo(f"summary: {write_summary(out_dir, {c: TASKS[c].CLAIM for c in TASKS}, label)}")


@cli.command()
@_scale_options
@_seed_options
@_unit_option
@click.option(
    "--strategies",
    default="ekfac,kfac,diagonal,identity",
    show_default=True,
    metavar="S1,S2,...",
    help=f"Strategies compared with the reference (from {', '.join(STRATEGIES)}).",
)
@click.option("--reference", default="exact", show_default=True, type=click.Choice(STRATEGIES))
@_window_start_option
@_empirical_fisher_option
@_reports_option
def agreement(
    scale,
    store,
    corpus,
    sets,
    seed,
    order_seed,
    unit,
    strategies,
    reference,
    window_start,
    empirical_fisher,
    reports,
) -> None:
    """How far attribution strategies agree with a reference (default: the exact Fisher) on the
    unit's window: rank correlation, top-k overlap, category shares; writes a report."""
    from .attribution.agreement import write_agreement_report
    from .attribution.score import InfluenceConfig
    from .attribution.stage import attribute_stage, default_probe

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGIES]
    if bad or not names or len(set(names)) < len(names) or reference in names:
        raise MdaError(
            f"--strategies wants distinct names from {', '.join(STRATEGIES)} other than the "
            f"reference {reference!r}, got {strategies!r}"
        )
    sc, st, data, run = _baseline(scale, store, corpus, sets, seed, order_seed)
    atts = {}
    for name in [*names, reference]:
        cfg = InfluenceConfig(strategy=name, probe=default_probe(unit), empirical_fisher=empirical_fisher)
        atts[name] = attribute_stage(sc, st, data, run, unit, cfg, window_start=window_start, log=_say)
    out_dir = _report_dir(reports, sc, unit)
    md = write_agreement_report(atts, reference, out_dir, sc.name, _command("agreement"))
    click.echo(md.read_text().split("## Category")[0].rstrip())
    click.echo(f"report: {md}")


def _command(head: str) -> str:
    """The command that reproduces a report: `mda-bench HEAD` plus every option not at its
    default. Left out: where things are written (--store, --reports) and --jobs, which sets
    how many branches train at once. It is not neutral: it sets each branch's thread count,
    which changes float rounding that training amplifies (README, determinism); each run's
    manifest records the count it used."""
    ctx = click.get_current_context()
    parts = [f"mda-bench {head}", f"--scale {ctx.params['scale']}"]
    for p in ctx.command.params:
        if not isinstance(p, click.Option) or p.name in ("scale", "store", "reports", "jobs"):
            continue
        value = ctx.params[p.name]
        if p.is_flag:
            parts += [p.opts[0]] if value else []
        elif p.multiple:
            parts += [f"{p.opts[0]} {v}" for v in value]
        elif value != p.default and value is not None:
            parts.append(f"{p.opts[0]} {value}")
    return " ".join(parts)


def main() -> None:
    """Entry point: usage errors and MdaErrors become one line on stderr, exit code 2."""
    try:
        rv = cli.main(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)
    except MdaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
