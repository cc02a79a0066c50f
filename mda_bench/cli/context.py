"""Options a command keeps in the click context instead of receiving them: how it computes
(--device, --precision, --micro-batch, --threads), where a pythia-* scale's files are, and where branch
runs execute. `override` (options.py) applies the first two to the scale."""

from __future__ import annotations

import dataclasses

import click

from ..device import DEVICES, PRECISIONS, Runtime, resolve
from ..errors import MdaError
from ..scales import Scale


def runtime() -> Runtime:
    """The Runtime that --device, --precision, --micro-batch and --threads of this command ask for."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    return resolve(
        meta.get("mda.device", "auto"),
        meta.get("mda.precision", "fp32"),
        meta.get("mda.micro_batch", 0),
        threads=meta.get("mda.threads", 1),
    )


def _configure_executor(ctx: click.Context, param: click.Parameter, value):
    ctx.meta[f"mda.{param.name}"] = value
    if param.name == "executor" or "mda.executor" in ctx.meta:
        from ..executor import configure

        configure(ctx.meta.get("mda.executor", "local"), ctx.meta.get("mda.ray_address"))
    return value


def executor_options(f):
    """--executor and --ray-address: where branch runs execute (never part of a result)."""
    from ..executor import EXECUTORS

    common = {"expose_value": False, "callback": _configure_executor}
    f = click.option(
        "--ray-address",
        default=None,
        metavar="auto|HOST:PORT",
        help="The Ray cluster to submit to (default: start a local one).",
        **common,
    )(f)
    return click.option(
        "--executor",
        default="local",
        show_default=True,
        type=click.Choice(EXECUTORS),
        help="local: this machine (--jobs processes); ray: every branch a Ray task.",
        is_eager=False,
        **common,
    )(f)


def _remember(ctx: click.Context, param: click.Parameter, value):
    ctx.meta[f"mda.{param.name}"] = value
    return value


def _context_options(f, specs: list[tuple[str, dict]]):
    """Options kept in the click context (`mda.<name>`) rather than passed to the command, so
    every command that takes a scale takes them and `override` applies them."""
    for flag, kwargs in reversed(specs):
        f = click.option(flag, expose_value=False, callback=_remember, **kwargs)(f)
    return f


def runtime_options(f):
    """--device, --precision, --micro-batch, --threads: how a run computes."""
    return _context_options(
        f,
        [
            (
                "--device",
                {
                    "default": "auto",
                    "show_default": True,
                    "type": click.Choice(DEVICES),
                    "help": "auto: CUDA where torch sees one, else the CPU. Results are keyed by device.",
                },
            ),
            (
                "--precision",
                {
                    "default": "fp32",
                    "show_default": True,
                    "type": click.Choice(PRECISIONS),
                    "help": "bf16: autocast forward passes; master weights and optimizer state stay fp32.",
                },
            ),
            (
                "--micro-batch",
                {
                    "default": 0,
                    "show_default": True,
                    "type": click.IntRange(min=0),
                    "help": "Rows per forward/backward pass, gradients accumulated exactly "
                    "(0: the whole step).",
                },
            ),
            (
                "--threads",
                {
                    "default": 1,
                    "show_default": True,
                    "type": click.IntRange(min=1),
                    "help": "CPU threads of each training run and attribution, whatever --jobs is "
                    "(the count moves the last bits, so off 1 it is part of a result's key).",
                },
            ),
        ],
    )


PYTHIA_FLAGS = {
    "pile_data": "document.idx of the pre-shuffled Pile (shards beside it), or a Parquet folder.",
    "tokenizer_json": "The GPT-NeoX tokenizer.json (decodes rows for categories).",
    "heldout_text": "Text file of held-out ICL rows (the paper's: WikiText-2) [default: Pile rows].",
    "checkpoints": "Folder of stepN/ revisions or an offline Hugging Face cache.",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def pythia_options(f):
    """The pythia-* scales' files and branch-state protocol (docs/pythia.md)."""
    paths = [
        (_flag(n), {"default": "", "metavar": "PATH", "help": f"pythia-*: {t}"})
        for n, t in PYTHIA_FLAGS.items()
    ]
    return _context_options(
        f,
        [
            *paths,
            (
                "--pile",
                {
                    "default": "deduped",
                    "show_default": True,
                    "type": click.Choice(["deduped", "standard"]),
                    "help": "pythia-*: which Pile the rows and checkpoints are (must match the model).",
                },
            ),
            (
                "--rebuild-batches",
                {
                    "default": 100,
                    "show_default": True,
                    "type": click.IntRange(min=1),
                    "help": "pythia-*: batches before the branch step that rebuild AdamW's moments at lr 0.",
                },
            ),
            (
                "--optimizer-state",
                {
                    "default": "rebuild",
                    "show_default": True,
                    "type": click.Choice(["rebuild", "own-baseline"]),
                    "help": "pythia-*: branch from official revisions with rebuilt AdamW moments, or "
                    "from a baseline the suite trains from step0 (true state).",
                },
            ),
            (
                "--own-until",
                {
                    "default": 0,
                    "type": click.IntRange(min=0),
                    "help": "pythia-*, own-baseline: the last step the suite trains the baseline to.",
                },
            ),
        ],
    )


def pythia_files(scale: Scale) -> Scale:
    """Attach --pile-data etc. to a pythia-* scale; refuse them on any other scale."""
    from ..pythia_data import PythiaFiles

    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    given = {k: meta.get(f"mda.{k}", "") for k in PYTHIA_FLAGS}
    if scale.tokenizer == "bpe":
        used = [_flag(k) for k, v in given.items() if v]
        if used:
            raise MdaError(f"{used[0]} is for the pythia-* scales; scale {scale.name} builds its own data")
        return scale
    files = PythiaFiles(
        data=given["pile_data"],
        tokenizer=given["tokenizer_json"],
        heldout=given["heldout_text"],
        checkpoints=given["checkpoints"],
        pile=meta.get("mda.pile", "deduped"),
        rebuild_batches=meta.get("mda.rebuild_batches", 100),
        optimizer_state=meta.get("mda.optimizer_state", "rebuild"),
        own_until=meta.get("mda.own_until", 0),
    )
    return dataclasses.replace(scale, pythia=files)
