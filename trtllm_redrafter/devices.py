"""``--device``: which torch device a command runs on.

    auto      CUDA when ``torch.cuda.is_available()``, else the CPU
    cpu       the CPU
    cuda      CUDA; under torchrun each rank takes ``cuda:LOCAL_RANK``, else ``cuda:0``
    cuda:N    that device

A CUDA choice on a machine without CUDA, or a device index it lacks, is refused with one clear
message (``RedrafterError``), before any model is loaded.
"""

from __future__ import annotations

import os

import torch

from trtllm_redrafter.errors import RedrafterError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda" and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise RedrafterError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, got {name!r}")
    if not torch.cuda.is_available():
        raise RedrafterError(f"--device {name}: no CUDA device here (torch.cuda.is_available() is False)")
    index = int(name[5:]) if name != "cuda" else int(os.environ.get("LOCAL_RANK", "0"))
    if index >= torch.cuda.device_count():
        raise RedrafterError(f"--device {name}: cuda:{index} does not exist ({torch.cuda.device_count()} devices)")
    return torch.device("cuda", index)


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU computes bfloat16 in hardware (AVX-512-BF16 or AMX-BF16); None if unknown
    (no /proc/cpuinfo). Without it, CPU bf16 matmuls are emulated: a bf16-autocast training step
    ran about 40x slower than float32 on an AVX2-only EPYC (docs/distillation.md, session 8)."""
    try:
        text = open(cpuinfo).read()
    except OSError:
        return None
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags
