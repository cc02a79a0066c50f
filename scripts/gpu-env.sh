# Sourced by the GPU scripts: the repository on PYTHONPATH (no install needed) and any wheels in
# .whl/ (packages the GPU machine lacks, e.g. kronfluence and einconv) in a private folder.
py="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/mda-site .whl/*.whl
  export PYTHONPATH="/tmp/mda-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export CUBLAS_WORKSPACE_CONFIG=:4096:8
