"""devices.py: --device resolution and the CPU's bf16 support."""

from __future__ import annotations

import pytest
import torch

from trtllm_redrafter.devices import cpu_has_native_bf16, resolve_device
from trtllm_redrafter.errors import RedrafterError


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu avx avx2 fma", False), ("avx2 avx512f avx512_bf16", True), ("avx2 amx_bf16 amx_tile", True)],
)
def test_cpu_bf16_support_is_read_from_the_flags(tmp_path, flags, expected):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(str(info)) is expected
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is None


def test_resolve_device_refuses_unknown_and_absent_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(RedrafterError, match="--device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RedrafterError, match="no CUDA device"):
            resolve_device("cuda:0")
