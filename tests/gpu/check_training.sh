#!/usr/bin/env bash
# GPU check of distillation (tests/gpu/check_training.py): KD on CUDA learns, --online-target
# learns, one GPU agrees with the CPU, and the shipped recipe's speed on SmolLM2 when --smol DIR
# is given. Needs an NVIDIA GPU and python3 with CUDA torch ($PYTHON to pick one); no TensorRT.
# Without a GPU it prints "RESULT: NO GPU" and exits 0. Overall limit: $TIMEOUT seconds (600).
#
#   tests/gpu/check_training.sh [--smol ~/.cache/trtllm-redrafter/models/smollm2-135m-instruct]
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
exec timeout "${TIMEOUT:-600}" "$PYTHON" tests/gpu/check_training.py "$@"
