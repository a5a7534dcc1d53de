#!/usr/bin/env bash
# Inside the container: the GPU test suite. Kernel check (no TensorRT), then the TensorRT-LLM tests
# (engines built from tiny models and from SmolLM2-135M, run through ModelRunnerCpp).
# First contact with a new image or GPU: docker/bringup.sh (staged, says what to report).
#
#   docker/run_gpu_tests.sh [pytest args]        env: PYTHON (default python3)
#
# Exit status 3, with one line, when tensorrt_llm cannot be imported (no GPU, or not the image).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! trtllm=$("$PYTHON" -c 'import tensorrt_llm; print("tensorrt_llm", tensorrt_llm.__version__)' 2>&1); then
  echo "run_gpu_tests.sh: $PYTHON cannot import tensorrt_llm ($(tail -n 1 <<<"$trtllm")); run inside NVIDIA's TensorRT-LLM release container with --gpus all (docker/README.md)" >&2
  exit 3
fi
tail -n 1 <<<"$trtllm"
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv
echo "== CUDA kernels against the PyTorch reference"
PYTHON=$PYTHON tests/gpu/check_kernels.sh --skip-timing
echo "== TensorRT-LLM engines (marker trtllm) and GPU tests (marker gpu)"
"$PYTHON" -m pytest -q -rs -m "trtllm or gpu" tests/ "$@"
