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


@dataclass(frozen=True)
class Verdict:
    """A verdict, the rule that decides it (stated before looking), and the measured reasons."""

    verdict: str
    rule: str
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class Section:
    """A titled table (or text) a task adds to its report."""

    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    text: str = ""


@dataclass
class TaskResult:
    claim: Claim
    table: list[dict]  # one row per run (results_table)
    verdict: Verdict
    sections: list[Section] = field(default_factory=list)
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, file name)
    columns: list[tuple[str, str, str]] | None = None  # (key, header, format); None: the runs table's
    setup: list[str] | None = None  # the report's setup lines; None: the single-scale experiment's
    data: dict = field(default_factory=dict)  # extra JSON: per-seed curves, test statistics


# The claim ids in DESIGN order, known without importing the tasks (which load torch), so that
# `mda-bench run --help` lists them at once; a test keeps this equal to tasks.TASKS.
CLAIM_IDS = (
    "emergence-modulation",
    "random-null",
    "structural-catalyst",
    "induction-icl-link",
    "augmentation-speedup",
)
