#!/usr/bin/env bash
# Inside the container: build the default model's engine (SmolLM2-135M-Instruct + a drafter) and
# run one prompt through TensorRT-LLM's runtime.
#
#   docker/run_default_model.sh ["prompt"]          env: OUT (default /tmp/redrafter-smollm2),
#                                                        DRAFTER (a drafter dir; default: shipped or fresh),
#                                                        DTYPE (default bfloat16), PYTHON (default python3)
#
# Exit status 3, with one line, when tensorrt_llm cannot be imported (no GPU, or not the image).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! trtllm=$("$PYTHON" -c 'import tensorrt_llm' 2>&1); then
  echo "run_default_model.sh: $PYTHON cannot import tensorrt_llm ($(tail -n 1 <<<"$trtllm")); run inside NVIDIA's TensorRT-LLM release container with --gpus all (docker/README.md)" >&2
  exit 3
fi
OUT=${OUT:-/tmp/redrafter-smollm2}
PROMPT=${1:-"Explain speculative decoding in two sentences."}
"$PYTHON" build_scripts/build_engine.py -o "$OUT" --dtype "${DTYPE:-bfloat16}" --max-batch-size 4 --max-seq-len 2048 \
    ${DRAFTER:+--drafter "$DRAFTER"}
"$PYTHON" build_scripts/run_engine.py --engine "$OUT/engine" "$PROMPT" --max-new-tokens 128
