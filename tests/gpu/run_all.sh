#!/usr/bin/env bash
# The one GPU check: every stage that needs a CUDA GPU but no TensorRT, with an overall limit.
#
#   tests/gpu/run_all.sh [--smol DIR]     # TIMEOUT=480 by default (seconds, builds included)
#
# Stages (each prints PASS/FAIL; a table at the end, then one RESULT line):
#   kernels    tests/gpu/check_kernels.sh: nvcc build, every kernel against the PyTorch reference on
#              thousands of random cases, times against the reference ops and the HBM floor (docs/plugins.md)
#   runtime    tests/gpu/check_runtime.py: the torch ops built with CUDA against the reference at
#              production shapes (bs to 64, nb to 64, bl 4-8, V 32k-152k, fp32/fp16/bf16), greedy parity
#              with HF generate on the GPU (tiny Llama / Qwen2 / Mistral, float32, --kernels torch and ops),
#              a chi-square test of exact sampling on the GPU, and with --smol DIR decode speed against
#              HF generate for beam shapes 2x2, 4x4, 8x4, 16x4
#   training   tests/gpu/check_training.sh: KD learns on CUDA, --online-target, one GPU against the CPU
# Without a GPU it prints "RESULT: NO GPU" and exits 0.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "RESULT: NO GPU (torch.cuda.is_available() is False); nothing was run"
  exit 0
fi
deadline=$(( $(date +%s) + ${TIMEOUT:-480} ))
declare -a names results
run_stage() {
  local name=$1; shift
  local left=$(( deadline - $(date +%s) ))
  if (( left <= 10 )); then names+=("$name"); results+=("SKIP (out of time)"); return; fi
  echo "== $name"
  if timeout "$left" "$@"; then names+=("$name"); results+=("PASS"); else names+=("$name"); results+=("FAIL"); fi
  echo "${results[-1]} $name"
}
run_stage kernels bash tests/gpu/check_kernels.sh
run_stage runtime "$PYTHON" tests/gpu/check_runtime.py "$@"
run_stage training bash tests/gpu/check_training.sh "$@"
echo; echo "| stage | result |"; echo "|---|---|"
failed=0
for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} |"; [[ ${results[$i]} == PASS ]] || failed=1; done
if (( failed )); then echo "RESULT: FAIL"; exit 1; fi
echo "RESULT: PASS"
