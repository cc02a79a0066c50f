"""Claim 5: mechanistic data augmentation speeds up circuit formation across scales."""

from mda_bench.claims import Claim, Metric

CLAIM = Claim(
    id="augmentation-speedup",
    version=0,
    claim="a mechanistic data-augmentation pipeline speeds up circuit convergence across scales",
    measures="synthetic data from the structure of top-influence samples, inserted before the "
    "window, at three or more model scales",
    passes_when="onset is earlier at every scale than with a baseline inserting the same number "
    "of tokens of ordinary corpus data",
    metrics=(Metric("speedup_steps", True, "baseline onset - augmented onset"),),
)
