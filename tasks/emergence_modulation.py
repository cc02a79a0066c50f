"""Claim 1: removing / duplicating high-influence rows delays / accelerates emergence."""

from mda_bench.claims import Claim, Metric

CLAIM = Claim(
    id="emergence-modulation",
    version=0,
    claim="removing / duplicating a small fraction of high-influence samples delays / "
    "accelerates the head's emergence",
    measures="onset step and score curve of the target head under remove-top-k and augment-top-k",
    passes_when="remove delays and augment accelerates, each beyond every random draw of the same size",
    metrics=(
        Metric("delta_onset", False, "onset(intervened) - onset(baseline), in steps"),
        Metric("delta_area", True, "area under the score curve over the window minus baseline"),
    ),
)
