"""`mda-bench run CLAIM|all`: a claim task end to end (baseline, attribution, branches, report)."""

from __future__ import annotations

import os
import time

import click

from ..claims import CLAIM_IDS
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
    unit_options,
    window_start_option,
)


@click.command()
@click.argument("claim", type=click.Choice(["all", *CLAIM_IDS]), metavar="CLAIM|all")
@scale_options
@seed_options
@unit_options
@click.option(
    "--k-fraction",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="k as a fraction of the window's rows.",
)
@click.option(
    "--draws",
    default=None,
    type=click.IntRange(min=2),
    help="Uniform random draws per operation [default: the scale's, 2 at tiny].",
)
@click.option(
    "--matched-draws",
    default=None,
    type=click.IntRange(min=2),
    help="Category-matched random draws per operation (the headline control) [default: the scale's, "
    "4 at tiny].",
)
@click.option(
    "--noise-runs",
    default=None,
    type=click.IntRange(min=2),
    help="Reorder (noise) runs [default: the scale's, 2 at tiny].",
)
@window_start_option
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
    "--seeds",
    default=None,
    type=click.IntRange(min=1),
    help="Independent baselines (init and order seeds +0..N-1), each with its own attribution and "
    "branches [default: the scale's, 3 at tiny].",
)
@click.option(
    "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Branch runs trained at once."
)
@executor_options
@reports_option
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
    matched_draws,
    noise_runs,
    window_start,
    margin,
    generator,
    seeds,
    jobs,
    reports,
) -> None:
    """Run one claim task (or `all`) end to end and write its report.

    \b
    CLAIM is one of:
      emergence-modulation   removing / duplicating the top rows delays / speeds the head
      random-null            random interventions of the same size do little
      structural-catalyst    repetitive structural data is a catalyst
      induction-icl-link     in-context learning moves with the induction head
      augmentation-speedup   synthetic rows from the top rows' structure speed formation
      all                    the five above, then a summary
    """
    from tasks import TASKS

    from .. import branch_pool, ranks
    from ..baseline_pool import BaselineSpec, train_baselines
    from ..claim_report import write_report, write_summary
    from ..executor import current
    from ..experiment import ExperimentConfig, prepare_seeds, seed_configs
    from ..protocol import describe
    from ..store import config_key

    ranks.check_serial(jobs, current().kind)  # before anything trains
    sc = override(get_scale(scale), corpus, sets)
    cores = os.cpu_count() or 1
    if sc.runtime.device == "cpu" and current().kind == "local" and jobs * sc.runtime.threads > cores:
        t = sc.runtime.threads
        say(f"warning: --jobs {jobs} x --threads {t} exceeds the {cores} cores: slower, same bits")
    chosen = list(TASKS) if claim == "all" else [claim]
    missing = [c for c in chosen if not TASKS[c].CLAIM.implemented]
    if claim != "all" and missing:
        raise MdaError(f"claim {claim} is not implemented yet")
    # task-specific requirements (e.g. a model ladder), checked before anything trains
    if generator:
        from ..augment import load_generator

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
        draws=draws or sc.draws,
        matched_draws=matched_draws or sc.matched_draws,
        noise_runs=noise_runs or sc.noise_runs,
        seed=seed,
        order_seed=order_seed,
        seeds=seeds or sc.seeds,
        window_start=window_start,
        margin=margin,
        generator=generator,
    )
    st = open_store(store)
    # every from-scratch run the chosen claims need, `--jobs` at a time (mda_bench/baseline_pool.py)
    specs = [BaselineSpec(sc, sc, c.seed, c.order_seed) for c in seed_configs(cfg)]
    for cid in chosen:
        extra = getattr(TASKS[cid], "extra_baselines", None)
        if extra is not None and cid not in missing and cid not in skipped:
            specs += extra(sc, cfg)
    train_baselines(specs, st, jobs, log=say, attributions=seed_configs(cfg))
    try:
        exps = prepare_seeds(sc, st, cfg, log=say)
    except ValueError as exc:
        raise MdaError(str(exc)) from None
    for e in exps:  # visible before hours of branches: a claim needs its unit in every seed
        if not e.unit["rose"]:
            say(
                f"warning: seed {e.cfg.seed} (order seed {e.cfg.order_seed}): the {unit} head did not form "
                f"(L{e.unit['layer']}H{e.unit['head']} {e.unit['start_score']:.3f} -> "
                f"{e.unit['final_score']:.3f}); "
                "claims that need it in every seed will be inconclusive"
            )
    if branch_pool.pooled(jobs):  # every branch of the chosen claims in one pool, longest first
        began = time.monotonic()
        runnable = [cid for cid in chosen if cid not in missing and cid not in skipped]
        sets = [bs for cid in runnable for bs in getattr(TASKS[cid], "branch_sets", lambda e: [])(exps)]
        if n := branch_pool.train_branch_sets(sets, st, jobs, log=say):
            say(f"branches: {n} trained in {_minutes(time.monotonic() - began)}")
    out_dir = report_dir(reports, sc, unit, strategy)
    chash = config_key({"scale": sc, "experiment": cfg})[:16]
    for cid in chosen:
        if cid in missing or cid in skipped:
            say(f"{cid}: {skipped.get(cid, 'not implemented yet')}; skipped")
            continue
        began = time.monotonic()
        result = TASKS[cid].run(exps, n_jobs=jobs)
        # in the log with a timestamp: where a long `run all` spent its hours
        say(f"{cid}: {result.verdict.verdict} after {_minutes(time.monotonic() - began)}")
        if not ranks.is_writer():  # under torchrun rank 0 writes the reports
            continue
        protocol = describe(TASKS[cid], cfg, sc)
        md = write_report(result, exps[0], out_dir, command_line(f"run {cid}"), chash, protocol)
        click.echo(f"{cid}: {result.verdict.verdict}  ({md})")
        for reason in result.verdict.reasons:
            click.echo(f"  - {reason}")
    if not ranks.is_writer():
        return
    label = f"scale `{sc.name}`, unit `{unit}`, attribution `{strategy}`"
    click.echo(f"summary: {write_summary(out_dir, {c: TASKS[c].CLAIM for c in TASKS}, label)}")


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"
