"""One module per claim of the paper; CLAIMS maps claim id -> Claim (in docs/design.md order)."""

from . import (
    augmentation_speedup,
    emergence_modulation,
    induction_icl_link,
    random_null,
    structural_catalyst,
)

TASKS = {
    m.CLAIM.id: m
    for m in (
        emergence_modulation,
        random_null,
        structural_catalyst,
        induction_icl_link,
        augmentation_speedup,
    )
}
CLAIMS = {cid: m.CLAIM for cid, m in TASKS.items()}
