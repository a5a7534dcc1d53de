#!/usr/bin/env bash
# GPU check of the ReDrafter kernels: build with nvcc, compare with the PyTorch reference element for
# element on a few thousand random cases, time against the reference's PyTorch ops. Under 5 minutes.
#
# Needs: an NVIDIA GPU, nvcc (CUDA 12 or newer, $NVCC to pick one), python3 with torch built with
# CUDA ($PYTHON to pick one). No TensorRT. Output format and exit codes: docs/plugins.md.
#
#   tests/gpu/check_kernels.sh                # full run
#   tests/gpu/check_kernels.sh --skip-timing  # extra arguments go to tests/gpu/check_kernels.py
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}

ARCH=$("$PYTHON" -c 'import torch; major, minor = torch.cuda.get_device_capability(); print(f"{major}{minor}")')
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/redrafter-gpu-check.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT

echo "== building plugins/kernels for sm_${ARCH} into $BUILD"
"$PYTHON" plugins/build_libs.py kernels --out "$BUILD" --arch "$ARCH" --no-werror
"$PYTHON" tests/gpu/check_kernels.py --library "$BUILD/libredrafter_kernels.so" "$@"
