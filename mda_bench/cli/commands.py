"""`list`, `scales`, `train`, `attribute` and `agreement`: the commands around one baseline run."""

from __future__ import annotations

from pathlib import Path

import click

from ..attribution import STRATEGIES
from ..errors import MdaError
from ..scales import SCALES
from .options import (
    baseline,
    command_line,
    empirical_fisher_option,
    report_dir,
    reports_option,
    say,
    scale_options,
    seed_options,
    unit_option,
    unit_options,
    window_start_option,
)


@click.command("list")
def list_claims() -> None:
    """The five claims, one line each, and whether each is implemented."""
    from tabulate import tabulate

    from tasks import CLAIMS

    rows = [(c.id, c.version, "yes" if c.implemented else "not yet", c.claim) for c in CLAIMS.values()]
    click.echo(tabulate(rows, headers=["claim", "version", "implemented", "the paper's claim"]))
    click.echo("\nrun one with `mda-bench run CLAIM --scale S`, or all five with `mda-bench run all`.")


@click.command("scales")
def list_scales() -> None:
    """Every scale with its model size, data recipe and steps."""
    from tabulate import tabulate

    rows = [
        (
            s.name,
            f"{s.model.n_layers} x {s.model.d_model} ({s.model.n_heads} heads)",
            f"{s.model.ctx} / {s.train.batch_size}",
            s.train.steps,
            s.description,
        )
        for s in SCALES.values()
    ]
    click.echo(tabulate(rows, headers=["scale", "layers x width", "ctx / batch", "steps", "what it is"]))


@click.command()
@scale_options
@seed_options
@reports_option
@click.option(
    "--plot",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where to write the per-head curve PNG (default: REPORTS/<scale>/train-<run key>.png).",
)
def train(scale, store, corpus, sets, seed, order_seed, reports, plot) -> None:
    """Train a baseline run; print the per-head score table and plot every head's curve."""
    from .. import ranks
    from ..probe_curves import describe_probes
    from ..report import head_table, plot_head_curves, summary_lines

    sc, _, data, run = baseline(scale, store, corpus, sets, seed, order_seed)
    if not ranks.is_writer():  # under torchrun rank 0 prints and plots
        return
    click.echo(head_table(run.records[-1]))
    for line in summary_lines(run.records):
        click.echo(line)
    if tuple(sc.probe.band) != (0.0, 0.0):
        for line in describe_probes(sc, data.stream, run.records, run.path)[1:]:
            click.echo(line.removeprefix("- "))
    out = Path(plot) if plot else Path(reports) / sc.name / f"train-{run.key}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_head_curves(run.records, out, title=f"{sc.name}, init seed {seed}, order seed {order_seed}")
    click.echo(f"run: {run.path}")
    click.echo(f"plot: {out}")


@click.command()
@scale_options
@seed_options
@unit_options
@click.option(
    "--probe",
    default=None,
    type=click.Choice(["prefix-matching", "copy-logprob", "previous-token"]),
    help="Measurement (default: the unit's own attention score).",
)
@window_start_option
@click.option(
    "--batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per kronfluence batch.",
)
@empirical_fisher_option
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
    from ..attribution.score import InfluenceConfig
    from ..attribution.stage import attribute_stage, check_probe, default_probe
    from ..report import attribution_lines

    check_probe(unit, probe or default_probe(unit))
    sc, st, data, run = baseline(scale, store, corpus, sets, seed, order_seed)
    influence = InfluenceConfig(
        strategy=strategy,
        probe=probe or default_probe(unit),
        factor_batch_size=batch_size,
        score_batch_size=batch_size,
        empirical_fisher=empirical_fisher,
    )
    att = attribute_stage(
        sc, st, data, run, unit=unit, influence=influence, window_start=window_start, log=say
    )
    for line in attribution_lines(att, data.tokenizer()):
        click.echo(line)
    click.echo(f"attribution: {att.path}")


@click.command()
@scale_options
@seed_options
@unit_option
@click.option(
    "--strategies",
    default="ekfac,kfac,diagonal,identity",
    show_default=True,
    metavar="S1,S2,...",
    help=f"Strategies compared with the reference (from {', '.join(STRATEGIES)}).",
)
@click.option(
    "--reference",
    default="exact",
    show_default=True,
    type=click.Choice(STRATEGIES),
    help="The strategy the others are compared with.",
)
@window_start_option
@empirical_fisher_option
@reports_option
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
    from ..attribution.agreement import write_agreement_report
    from ..attribution.score import InfluenceConfig
    from ..attribution.stage import attribute_stage, default_probe

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGIES]
    if bad or not names or len(set(names)) < len(names) or reference in names:
        raise MdaError(
            f"--strategies wants distinct names from {', '.join(STRATEGIES)} other than the "
            f"reference {reference!r}, got {strategies!r}"
        )
    sc, st, data, run = baseline(scale, store, corpus, sets, seed, order_seed)
    atts = {}
    for name in [*names, reference]:
        cfg = InfluenceConfig(strategy=name, probe=default_probe(unit), empirical_fisher=empirical_fisher)
        atts[name] = attribute_stage(sc, st, data, run, unit, cfg, window_start=window_start, log=say)
    out_dir = report_dir(reports, sc, unit)
    md = write_agreement_report(atts, reference, out_dir, sc.name, command_line("agreement"))
    click.echo(md.read_text().split("## Category")[0].rstrip())
    click.echo(f"report: {md}")
