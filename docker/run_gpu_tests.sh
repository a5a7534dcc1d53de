#!/usr/bin/env bash
# Inside the container: the GPU test suite. Kernel check (no TensorRT), then the TensorRT-LLM tests
# (engines built from tiny models and from SmolLM2-135M, run through ModelRunnerCpp).
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv
python3 -c "import tensorrt_llm; print('tensorrt_llm', tensorrt_llm.__version__)"
echo "== CUDA kernels against the PyTorch reference"
tests/gpu/check_kernels.sh --skip-timing
echo "== TensorRT-LLM engines (marker trtllm) and GPU tests (marker gpu)"
python3 -m pytest -q -rs -m "trtllm or gpu" tests/ "$@"
