"""The kernels as torch custom ops: ``torch.ops.redrafter.{pack_beams, greedy_accept, sampling_accept}``.

``load()`` builds ``plugins/torch/redrafter_ops.cpp`` together with the host launchers
(``plugins/host/*.cpp``, the kernels' own core functions) with ``torch.utils.cpp_extension``, once
per source digest, into ``$TRTLLM_REDRAFTER_HOME/torch_ops/`` (default ``~/.cache/trtllm-redrafter``),
and registers a fake (meta) implementation of every op so that they trace under ``torch.compile``.
Each op has an out-variant (``*_out``) that writes preallocated outputs, for CUDA-graph capture.
When torch sees a GPU, the same build also compiles the CUDA kernels (``plugins/kernels/*.cu``,
the files the TensorRT plugins use) with nvcc and defines ``REDRAFTER_WITH_CUDA``: the ops then
dispatch CUDA tensors to the device launchers on the current stream (``plugins/torch/redrafter_ops.cpp``).
Without a GPU only the CPU implementations are built; CI compile-checks the CUDA registration
(tests/test_torch_ops.py) and the GPU check runs it (tests/gpu/check_torch_ops.py).

``runtime/kernels.py`` turns the ops' int32 outputs into the reference's ``Tree`` and
``Acceptance`` for ``Decoder(kernels="ops")``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from trtllm_redrafter.errors import RedrafterError

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
SOURCES = [PLUGINS / "torch" / "redrafter_ops.cpp", *sorted((PLUGINS / "host").glob("*.cpp"))]
CUDA_SOURCES = sorted((PLUGINS / "kernels").glob("*.cu"))
OPS = ("pack_beams", "greedy_accept", "sampling_accept")
_loaded = False


def with_cuda() -> bool:
    """Build the CUDA implementations too: torch sees a GPU (and so has CUDA; nvcc must be there)."""
    return torch.cuda.is_available() and torch.version.cuda is not None


def build_dir(cuda: bool = False) -> Path:
    """The cache directory of this exact source set (a change of any source builds anew)."""
    digest = hashlib.sha256()
    for path in [*SOURCES, *(CUDA_SOURCES if cuda else []), *sorted(PLUGINS.glob("**/*.h"))]:
        digest.update(path.read_bytes())
    root = Path(os.environ.get("TRTLLM_REDRAFTER_HOME", Path.home() / ".cache" / "trtllm-redrafter"))
    flavour = f"cuda{torch.version.cuda}-" if cuda else ""
    return root / "torch_ops" / f"{torch.__version__}-{flavour}{digest.hexdigest()[:16]}"


def load() -> None:
    """Build (or reuse) and load the op library, then register the fake implementations."""
    global _loaded
    if _loaded:
        return
    from torch.utils import cpp_extension

    missing = [str(p) for p in SOURCES if not p.is_file()]
    if missing:
        raise RedrafterError(f"--kernels ops needs the plugin sources of this repository; missing {missing[0]}")
    cuda = with_cuda()
    out = build_dir(cuda)
    out.mkdir(parents=True, exist_ok=True)
    sources = [*SOURCES, *(CUDA_SOURCES if cuda else [])]
    try:
        cpp_extension.load(
            name="redrafter_torch_ops_cuda" if cuda else "redrafter_torch_ops",
            sources=[str(p) for p in sources],
            extra_cflags=["-O2", "-std=c++17", *(["-DREDRAFTER_WITH_CUDA"] if cuda else [])],
            extra_cuda_cflags=["-O3", "-std=c++17"],
            build_directory=str(out),
            is_python_module=False,
            verbose=False,
        )
    except (RuntimeError, OSError) as exc:
        raise RedrafterError(f"could not build the torch ops from {PLUGINS / 'torch'}: {exc}") from exc
    _register_fakes()
    _loaded = True


def _register_fakes() -> None:
    def pack(draft_tokens: torch.Tensor, position_ids_base: torch.Tensor):
        bs, nb, bl = draft_tokens.shape
        cap = nb * (bl - 1) + 1
        new = draft_tokens.new_empty
        return new(bs, cap), new(bs), new(bs, nb, bl), new(bs, cap), new(bs, cap, (cap + 31) // 32), new(bs, cap)

    def accept(scores: torch.Tensor, draft_tokens: torch.Tensor, *_: torch.Tensor):
        bs, _, bl = draft_tokens.shape
        new = draft_tokens.new_empty
        return new(bs), new(bs), new(bs), new(bs), new(bs, bl), new(bs, bl)

    torch.library.register_fake("redrafter::pack_beams")(pack)
    torch.library.register_fake("redrafter::greedy_accept")(accept)
    torch.library.register_fake("redrafter::sampling_accept")(accept)
    for name in OPS:
        torch.library.register_fake(f"redrafter::{name}_out")(lambda *args: None)
