#!/usr/bin/env bash
# make gpu-check on a machine without network that has Python and its own torch (a lent GPU
# window, an air-gapped cluster node): installs the GPU check's wheels (make wheelhouse,
# wheelhouse/gpu-check-cpXY/) into a scratch folder, puts src/ on the path and runs the check.
#   scripts/offline_gpu_check.sh OUT_DIR      (PYTHON=... picks the interpreter, WHEELS=... the wheels)
# The report (gpu_check.json, gpu_check.md) is written into OUT_DIR row by row.
set -euo pipefail
out=${1:?usage: scripts/offline_gpu_check.sh OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
tag=$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
wheels=${WHEELS:-$root/wheelhouse/gpu-check-$tag}
if ! compgen -G "$wheels/*.whl" >/dev/null; then
  echo "Error: no wheels in $wheels for this Python ($tag). On a machine with network run" \
       "\`make wheelhouse\` and copy wheelhouse/gpu-check-$tag here (or set WHEELS=folder)." >&2
  exit 2
fi
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "Error: $python cannot import torch; the check uses the machine's own torch" \
       "(set PYTHON= to the interpreter that has it)." >&2
  exit 2
fi
site=$(mktemp -d)/site
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
  --target "$site" "$wheels"/*.whl
export PYTHONPATH="$root/src:$site${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"
exec "$python" "$root/scripts/gpu_check.py" --out "$out"
