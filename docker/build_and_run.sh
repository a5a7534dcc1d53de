#!/usr/bin/env bash
# On the host (Docker with the NVIDIA container toolkit): build the image, then build the default
# model's engine and answer one prompt in it. Mounts the model cache so that a SmolLM2 directory
# converted by the CPU install (~/.cache/trtllm-redrafter) is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
docker build -f docker/Dockerfile -t trtllm-redrafter .
mkdir -p "${HOME}/.cache/trtllm-redrafter"
docker run --rm --gpus all -v "${HOME}/.cache/trtllm-redrafter:/root/.cache/trtllm-redrafter" \
    trtllm-redrafter docker/run_default_model.sh "$@"
