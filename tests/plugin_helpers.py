"""Shared helpers of the plugin tests (tests/test_plugins_*.py): the kernel-library builder
(plugins/build_libs.py), ctypes plumbing for the launchers, and readers of the C++ wrapper headers."""

from __future__ import annotations

import ctypes
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import torch

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "plugins"
TRT_DIR = PLUGINS / "tensorrt"
DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}  # LogitsDtype (plugins/common)
ACCEPT_FIELDS = (
    "num_accepted_tokens",
    "accepted_beam_index",
    "next_token",
    "hidden_index",
    "path_indices",
    "accepted_tokens",
)
I32 = ctypes.c_int32
PTR = ctypes.c_void_p


def load_build_libs() -> ModuleType:
    """plugins/build_libs.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("build_libs", PLUGINS / "build_libs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def n_cap(nb: int, bl: int) -> int:
    return nb * (bl - 1) + 1


def cxx_constant(path: Path, name: str) -> str:
    """The string a C++ header assigns to `name`."""
    match = re.search(rf'{name}\s*=\s*"([^"]*)"', path.read_text())
    assert match, f"{name} not found in {path}"
    return match.group(1)


def documented_outputs(path: Path) -> list[str]:
    """Output names from a wrapper header's contract block ('outputs  0 name ...', '1 name ...')."""
    names, in_outputs = [], False
    for line in path.read_text().splitlines():
        in_outputs = in_outputs or "//   outputs" in line
        match = re.match(r"//\s+(?:outputs\s+)?(\d) (\w+)", line)
        if in_outputs and match:
            names.append(match.group(2))
    return names


def install_fake_trt(monkeypatch, registry, network) -> None:
    """Stand-in `tensorrt` / `tensorrt_llm` modules around a fake plugin registry and network, so
    trtllm_redrafter.ops.plugins can be exercised without TensorRT."""
    import sys
    import types

    from trtllm_redrafter.ops import plugins

    trt = types.ModuleType("tensorrt")
    trt.get_plugin_registry = lambda: registry
    trt.PluginField = lambda name, data, kind: (name, data, kind)
    trt.PluginFieldCollection = list
    trt.PluginFieldType = types.SimpleNamespace(INT32="INT32", FLOAT32="FLOAT32")
    trt.TensorRTPhase = types.SimpleNamespace(BUILD="BUILD")
    llm = types.ModuleType("tensorrt_llm")
    llm.default_trtnet = lambda: network
    functional = types.ModuleType("tensorrt_llm.functional")
    functional._create_tensor = lambda trt_tensor, layer: (trt_tensor, layer)
    llm.functional = functional
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "tensorrt_llm", llm)
    monkeypatch.setitem(sys.modules, "tensorrt_llm.functional", functional)
    monkeypatch.setattr(plugins, "_loaded_libraries", {})
