"""`python -m mda_bench` is `mda-bench`."""

from .cli import main

main()
