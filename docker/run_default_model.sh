#!/usr/bin/env bash
# Inside the container: build the default model's engine (SmolLM2-135M-Instruct + a drafter) and
# run one prompt through TensorRT-LLM's runtime.
#
#   docker/run_default_model.sh ["prompt"]          env: OUT (default /tmp/redrafter-smollm2),
#                                                        DRAFTER (a drafter dir; default: shipped or fresh),
#                                                        DTYPE (default bfloat16)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/redrafter-smollm2}
PROMPT=${1:-"Explain speculative decoding in two sentences."}
python3 build_scripts/build_engine.py -o "$OUT" --dtype "${DTYPE:-bfloat16}" --max-batch-size 4 --max-seq-len 2048 \
    ${DRAFTER:+--drafter "$DRAFTER"}
python3 build_scripts/run_engine.py --engine "$OUT/engine" "$PROMPT" --max-new-tokens 128
