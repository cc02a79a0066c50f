"""Claim 3: repetitive structural data (LaTeX, XML, HTML, code, records) is a catalyst."""

from mda_bench.claims import Claim, Metric

CLAIM = Claim(
    id="structural-catalyst",
    version=0,
    claim="repetitive structural data (LaTeX, XML, HTML, code, records) is a catalyst",
    measures="category enrichment of the top-k vs the corpus base rate; removing structural "
    "data vs a size-matched random set",
    passes_when="top-k over-represents structural categories, and removing them delays "
    "emergence more than random",
    metrics=(Metric("enrichment", True, "top-k share / base rate per category"),),
)
