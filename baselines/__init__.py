"""Random-intervention baselines every claim compares against (added with the claim tasks)."""
