#!/usr/bin/env bash
# Two claims end to end at `micro` (1 baseline), once on the CPU and once on CUDA, and how far
# their numbers are apart: the retraining pool, attribution (kronfluence on the GPU) and the ICL
# evaluation on the device, through the same commands a user runs. Minutes on one GPU.
#
#   bash scripts/gpu-claims.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: gpu-claims.sh OUT_DIR}"
source scripts/gpu-env.sh
store="$(mktemp -d)"
second="${SECOND_DEVICE:-cuda}"  # SECOND_DEVICE=cpu tries the script on a machine without a GPU
read -r -a extra <<<"${SECOND_ARGS:-}"  # e.g. SECOND_ARGS="--micro-batch 4" for the second side
for side in first second; do
  dev=cpu; args=()
  if [ "$side" = second ]; then dev="$second"; args=("${extra[@]}"); fi
  for claim in emergence-modulation induction-icl-link; do
    t0=$SECONDS
    "$py" -m mda_bench -q run "$claim" --scale micro --seeds 1 --jobs 2 --device "$dev" \
      --store "$store/$side" --reports "$out/$side" "${args[@]}"
    echo "$dev $claim: $((SECONDS - t0)) s"
  done
done
"$py" - "$out" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
worst: dict = {}
for claim in ("emergence-modulation", "induction-icl-link"):
    a, b = (json.loads((out / d / "micro" / f"{claim}.json").read_text()) for d in ("first", "second"))
    print(f"{claim}: verdict on the CPU {a['verdict']!r}, on the second device {b['verdict']!r}")
    ra = {(r["seed"], r["run"]): r for r in a.get("table", [])}
    for r in b.get("table", []):
        for k in ("d_onset", "d_area", "onset"):
            x, y = ra.get((r["seed"], r["run"]), {}).get(k), r.get(k)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)):
                worst[k] = max(worst.get(k, 0.0), abs(x - y))
print("largest |CPU - second device| over the runs:", {k: round(v, 4) for k, v in worst.items()})
PY
