#!/usr/bin/env bash
# One prepared GPU check of the data paths (≤ 8 minutes, no dataset needed): see gpu_check.py.
#   bash benchmarks/gpu_check.sh [OUT.json]        # on the GPU machine
#   bash benchmarks/gpu_check.sh OUT.json --smoke  # CPU, tiny sizes, < 1 minute
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-gpu_check.json}"
shift || true
export PYTHONPATH="$here/../src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 "${PYTHON:-python}" "$here/gpu_check.py" --out "$out" "$@"
