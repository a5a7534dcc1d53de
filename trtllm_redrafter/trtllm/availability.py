"""Can this machine build and run TensorRT-LLM engines? (tensorrt_llm importable + a CUDA GPU.)

``trtllm_status()`` looks for the package without importing it first, so on a CPU machine the
answer costs nothing and ``tensorrt_llm`` never enters ``sys.modules``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

UNAVAILABLE = "TensorRT-LLM not available"
EXIT_TRTLLM_UNAVAILABLE = 3  # `build`: checkpoint written, engine not built (bad input is 2)
DISABLE_ENV = "TRTLLM_REDRAFTER_NO_TRTLLM"  # set to 1 to behave as if TensorRT-LLM were absent


@dataclass(frozen=True)
class TrtllmStatus:
    available: bool
    detail: str  # the TensorRT-LLM version when available, else why not

    @property
    def message(self) -> str:
        return f"TensorRT-LLM {self.detail}" if self.available else f"{UNAVAILABLE}: {self.detail}"


def trtllm_status() -> TrtllmStatus:
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return TrtllmStatus(False, f"disabled by ${DISABLE_ENV}")
    if importlib.util.find_spec("tensorrt_llm") is None:
        return TrtllmStatus(
            False,
            "the tensorrt_llm package is not installed (it ships in NVIDIA's TensorRT-LLM release "
            "container; see docs/trtllm.md and docker/)",
        )
    import torch

    if not torch.cuda.is_available():
        return TrtllmStatus(False, "tensorrt_llm is installed but no CUDA GPU is visible")
    try:
        import tensorrt_llm
    except Exception as exc:  # noqa: BLE001 - any import failure means "cannot build here"
        return TrtllmStatus(False, f"importing tensorrt_llm failed: {type(exc).__name__}: {exc}")
    return TrtllmStatus(True, str(getattr(tensorrt_llm, "__version__", "unknown version")))
