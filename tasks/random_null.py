"""Claim 2: random interventions of the same size show no effect."""

from mda_bench.claims import Claim, Metric

CLAIM = Claim(
    id="random-null",
    version=0,
    claim="random interventions of the same size show no effect",
    measures="the same metrics under R random remove / augment draws",
    passes_when="random effects sit inside the seed-noise band and are far smaller than the targeted ones",
    metrics=(Metric("abs_delta_onset", False, "|onset(random) - onset(baseline)|"),),
)
