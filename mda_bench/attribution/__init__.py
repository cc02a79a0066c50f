"""Attribution on one head: per-head split, kronfluence task, influence scores of rows."""

# kronfluence's four approximations, plus `exact`: the full damped Fisher of the head's
# parameters (exact.py). Here, not in score.py, so the CLI can list them without torch.
STRATEGIES = ("ekfac", "kfac", "diagonal", "identity", "exact")
