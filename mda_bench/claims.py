"""The claim-task abstraction (lm-evaluation-harness style): a versioned task per claim.

A task names the paper's claim in one sentence, declares its metrics with their direction
(higher or lower is better for the claim), and decides a verdict only from measured numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERDICTS = ("holds", "does not hold", "inconclusive")


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    description: str


@dataclass(frozen=True)
class Claim:
    id: str
    version: int
    claim: str
    measures: str
    passes_when: str
    metrics: tuple[Metric, ...] = field(default_factory=tuple)
    implemented: bool = False
