"""Attribution on one head: per-head split, kronfluence task, influence scores of rows."""
