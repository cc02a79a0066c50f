"""The `mda-bench` command line.

Every user-facing failure (an MdaError, a usage error, an OSError such as a read-only or full
disk) is printed as one line with a non-zero exit; tracebacks are for bugs, and for --debug.
"""

from __future__ import annotations

import os
import platform
import signal
import sys

# Vector kernels change float sums, so pin one level before torch loads: AVX2 is on every
# x86 machine of the last decade and measured no slower here than AVX-512 (docs/determinism.md).
if platform.machine() in ("x86_64", "AMD64"):
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
# cuBLAS is deterministic only with a pinned workspace, set before its first call (no-op on CPU).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import click  # noqa: E402

from .. import logs  # noqa: E402
from ..errors import MdaError  # noqa: E402
from .commands import agreement, attribute, list_claims, list_scales, train  # noqa: E402
from .run import run  # noqa: E402
from .store_cmd import store_group  # noqa: E402
from .validate import validate  # noqa: E402

_DEBUG = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(package_name="mda-bench")
@click.option("-v", "--verbose", is_flag=True, help="Debug messages too.")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and results only; no progress.")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def cli(ctx, verbose: bool, quiet: bool, debug: bool) -> None:
    """Reproduce the claims of Mechanistic Data Attribution (arXiv 2601.21996).

    \b
    First run (a few minutes on 2 cores):
      mda-bench run emergence-modulation --scale smoke
    The main job (every claim at the default scale, tiny):
      mda-bench run all
    """
    global _DEBUG
    _DEBUG = debug
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by torchrun: join its group
        from .. import ranks

        ranks.init_from_env()
        quiet = quiet or not ranks.is_writer()  # one progress display, rank 0's
    logs.setup(-1 if quiet else 1 if verbose else 0)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for command in (list_claims, list_scales, train, attribute, run, agreement, validate, store_group):
    cli.add_command(command)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: errors become one line on stderr (exit 2; 130 when interrupted)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        rv = cli.main(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted; rerun the same command to resume (finished stages are kept)", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)
    except (MdaError, OSError) as exc:
        if _DEBUG:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
