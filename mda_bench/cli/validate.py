"""`mda-bench validate`: the attribution leaderboard (head-LDS, causal efficacy, cost)."""

from __future__ import annotations

import click

from ..errors import MdaError
from ..scales import get_scale
from .context import executor_options
from .options import (
    command_line,
    open_store,
    override,
    report_dir,
    reports_option,
    say,
    scale_options,
    seed_options,
    unit_option,
    window_start_option,
)


def _names(text: str, allowed: list[str]) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in allowed]
    if bad or not names or len(set(names)) < len(names):
        raise MdaError(f"--strategies wants distinct names from {', '.join(allowed)}, got {text!r}")
    return names


def _fractions(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or any(not 0 < f < 1 for f in out):
        raise MdaError(f"--fractions wants comma-separated numbers in (0, 1), got {text!r}")
    return out


@click.command()
@scale_options
@seed_options
@unit_option
@click.option(
    "--subsets", default=None, type=click.IntRange(min=3), help="Subsets per fraction [default: 32]."
)
@click.option(
    "--fractions", default="0.5,0.1", show_default=True, help="Shares of the window each subset removes."
)
@click.option(
    "--strategies",
    default=None,
    help="Attribution methods and heuristics to rank [default: all of them].",
)
@window_start_option
@click.option(
    "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Branches trained at once."
)
@executor_options
@reports_option
def validate(
    scale,
    store,
    corpus,
    sets,
    seed,
    order_seed,
    unit,
    subsets,
    fractions,
    strategies,
    window_start,
    jobs,
    reports,
) -> None:
    """Rank attribution methods by head-LDS and causal efficacy; writes a leaderboard report."""
    from .. import ranks
    from ..experiment import ExperimentConfig, prepare
    from ..leaderboard import PROTOCOL, run, write

    allowed = [*PROTOCOL["strategies"], *PROTOCOL["external"], *PROTOCOL["heuristics"]]
    names = allowed if strategies is None else _names(strategies, allowed)
    fracs = _fractions(fractions)
    from ..executor import current

    ranks.check_serial(jobs, current().kind)  # before anything trains
    sc = override(get_scale(scale), corpus, sets)
    st = open_store(store)
    cfg = ExperimentConfig(unit=unit, seed=seed, order_seed=order_seed, window_start=window_start)
    try:
        exp = prepare(sc, st, cfg, log=say)
    except ValueError as exc:
        raise MdaError(str(exc)) from None
    m = subsets or PROTOCOL["subsets"]
    result = run(exp, m, fracs, names, n_jobs=jobs)
    if not ranks.is_writer():  # under torchrun rank 0 writes the report
        return
    protocol = {**PROTOCOL, "subsets": m, "fractions": fracs, "strategies_run": names}
    md = write(result, exp, report_dir(reports, sc, unit), command_line("validate"), protocol)
    click.echo(md.read_text())
    click.echo(f"report: {md}")
