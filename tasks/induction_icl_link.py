"""Claim 4: interventions on induction-head formation move in-context learning with it."""

from mda_bench.claims import Claim, Metric

CLAIM = Claim(
    id="induction-icl-link",
    version=0,
    claim="interventions on induction-head formation move in-context learning with it",
    measures="ICL score next to the induction score in every run of the claims above",
    passes_when="ICL shifts in the same direction as the induction score under targeted "
    "interventions, not under random ones",
    metrics=(Metric("icl_score", False, "late-minus-early loss; more negative = more ICL"),),
)
