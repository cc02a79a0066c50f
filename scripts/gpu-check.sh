#!/usr/bin/env bash
# The GPU check (mda_bench/gpu_check.py): CPU vs CUDA agreement, CUDA determinism, training and
# EK-FAC throughput at Pythia-14m shapes. About 90 s on one H200; writes one JSON file.
#
#   bash scripts/gpu-check.sh [OUT.json]        (default: gpu-check.json)
#
# Wheels in .whl/ (packages the machine lacks, e.g. kronfluence and einconv) are installed into
# a private folder first; the repository itself is used in place (no install needed).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check.json}"
source scripts/gpu-env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$py" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"
exec "$py" -m mda_bench.gpu_check --out "$out" "${@:2}"
