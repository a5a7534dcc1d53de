"""trtllm_redrafter/ops/plugins.py without TensorRT: lazy imports, library lookup, consistency with the
C++ wrappers, and the calls it makes (against a stand-in ``tensorrt`` / ``tensorrt_llm``)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import REPO, TRT_DIR, cxx_constant, documented_outputs, install_fake_trt

from trtllm_redrafter.ops import plugins


def test_import_does_not_import_tensorrt():
    code = (
        "import sys, trtllm_redrafter.ops.plugins as p; "
        "bad = [m for m in ('tensorrt', 'tensorrt_llm') if m in sys.modules]; "
        "assert not bad, bad; print(p.PACK_BEAMS_PLUGIN)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RedrafterPackBeams"


def test_library_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    explicit = tmp_path / "explicit.so"
    from_env = tmp_path / "env.so"
    explicit.write_bytes(b"")
    from_env.write_bytes(b"")
    monkeypatch.setenv(plugins.PLUGIN_LIBRARY_ENV, str(from_env))
    assert plugins.plugin_library_path(explicit) == explicit.resolve()
    assert plugins.plugin_library_path() == from_env.resolve()
    monkeypatch.delenv(plugins.PLUGIN_LIBRARY_ENV)
    default = plugins.DEFAULT_BUILD_DIR / plugins.PLUGIN_LIBRARY_NAME
    if not default.is_file():
        with pytest.raises(FileNotFoundError, match=plugins.PLUGIN_LIBRARY_ENV):
            plugins.plugin_library_path()
    with pytest.raises(FileNotFoundError):
        plugins.plugin_library_path(tmp_path / "missing.so")


def test_names_match_the_cpp_wrappers():
    pack_h, accept_h = TRT_DIR / "pack_beams_plugin.h", TRT_DIR / "greedy_accept_plugin.h"
    assert cxx_constant(pack_h, "kPackBeamsPluginName") == plugins.PACK_BEAMS_PLUGIN
    assert cxx_constant(pack_h, "kPackBeamsPluginVersion") == plugins.PLUGIN_VERSION
    assert cxx_constant(accept_h, "kGreedyAcceptPluginName") == plugins.GREEDY_ACCEPT_PLUGIN
    assert cxx_constant(accept_h, "kGreedyAcceptPluginVersion") == plugins.GREEDY_ACCEPT_VERSION
    assert cxx_constant(accept_h, "kMaxBatchSizeField") == plugins.MAX_BATCH_SIZE_FIELD
    assert cxx_constant(TRT_DIR / "plugin_base.h", "kPluginNamespace") == plugins.PLUGIN_NAMESPACE != ""
    assert f"int32_t {plugins.REGISTER_FUNCTION}()" in (TRT_DIR / "plugin_registration.h").read_text()
    attrs = TRT_DIR / "beam_shape_attributes.h"
    assert cxx_constant(attrs, "kNumBeamsField") == plugins.NUM_BEAMS_FIELD
    assert cxx_constant(attrs, "kBeamLengthField") == plugins.BEAM_LENGTH_FIELD
    assert documented_outputs(pack_h) == list(plugins.PackedBeams._fields)
    assert documented_outputs(accept_h) == list(plugins.GreedyAcceptance._fields)


class FakeLayer:
    def __init__(self, inputs: list, plugin: dict) -> None:
        self.inputs, self.plugin, self.num_outputs = inputs, plugin, 6

    def get_output(self, k: int) -> str:
        return f"out{k}"


class FakeNetwork:
    def __init__(self) -> None:
        self.layers: list[FakeLayer] = []

    def add_plugin_v3(self, inputs: list, shape_inputs: list, plugin: dict) -> FakeLayer:
        assert shape_inputs == []
        self.layers.append(FakeLayer(inputs, plugin))
        return self.layers[-1]


class FakeRegistry:
    """TensorRT's plugin registry as plugins.py sees it; `register` plays redrafterRegisterPlugins()."""

    VERSIONS = {plugins.GREEDY_ACCEPT_PLUGIN: plugins.GREEDY_ACCEPT_VERSION}

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.registered: set[tuple[str, str, str]] = set()

    def register(self, path: str) -> str:
        self.loaded.append(path)
        for name in (plugins.PACK_BEAMS_PLUGIN, plugins.GREEDY_ACCEPT_PLUGIN):
            self.registered.add((name, self.VERSIONS.get(name, "1"), "trtllm_redrafter"))
        return "handle"

    def get_creator(self, name: str, version: str, namespace: str):
        if (name, version, namespace) not in self.registered:
            return None
        return types.SimpleNamespace(create_plugin=lambda n, fc, phase: {"name": n, "fields": fc, "phase": phase})


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    registry, network = FakeRegistry(), FakeNetwork()
    install_fake_trt(monkeypatch, registry, network)
    monkeypatch.setattr(plugins, "_register_library", registry.register)
    library = tmp_path / plugins.PLUGIN_LIBRARY_NAME
    library.write_bytes(b"")
    monkeypatch.setenv(plugins.PLUGIN_LIBRARY_ENV, str(library))
    return types.SimpleNamespace(registry=registry, network=network, library=library)


def tensor(name: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(trt_tensor=name)


def test_plugins_need_the_library_loaded_first(fake_trt):
    with pytest.raises(RuntimeError, match="load_plugin_library"):
        plugins.pack_beams(tensor("draft_tokens"), tensor("base"), num_beams=4, beam_length=5)


def test_load_once_and_add_both_plugins(fake_trt):
    assert plugins.load_plugin_library() == "handle"
    plugins.load_plugin_library()
    assert fake_trt.registry.loaded == [str(fake_trt.library.resolve())]  # loaded once

    packed = plugins.pack_beams(tensor("draft_tokens"), tensor("base"), num_beams=4, beam_length=5)
    layer = fake_trt.network.layers[-1]
    assert layer.inputs == ["draft_tokens", "base"]
    assert layer.plugin["name"] == "RedrafterPackBeams" and layer.plugin["phase"] == "BUILD"
    fields = {name: (data.dtype, data.tolist(), kind) for name, data, kind in layer.plugin["fields"]}
    assert fields == {"num_beams": (np.int32, [4], "INT32"), "beam_length": (np.int32, [5], "INT32")}
    assert packed.packed_mask == ("out4", layer) and packed.packed_position_ids == ("out5", layer)

    names = ("logits_flat", "row_offsets", "draft_tokens", "draft_indices", "gen_lengths")
    accepted = plugins.greedy_accept(*map(tensor, names), 4, 5, 64)
    layer = fake_trt.network.layers[-1]
    assert layer.inputs == list(names)
    assert layer.plugin["name"] == "RedrafterGreedyAccept"
    fields = {name: (data.dtype, data.tolist(), kind) for name, data, kind in layer.plugin["fields"]}
    assert fields == {
        "num_beams": (np.int32, [4], "INT32"),
        "beam_length": (np.int32, [5], "INT32"),
        "max_batch_size": (np.int32, [64], "INT32"),
    }
    assert accepted.num_accepted_tokens == ("out0", layer) and accepted.accepted_tokens == ("out5", layer)

    with pytest.raises(ValueError):
        plugins.pack_beams(tensor("draft_tokens"), tensor("base"), num_beams=0, beam_length=5)
    for max_batch_size in (0, 65536):
        with pytest.raises(ValueError, match="max_batch_size"):
            plugins.greedy_accept(*map(tensor, names), 4, 5, max_batch_size)


def test_preloaded_plugins_are_not_loaded_again(fake_trt):
    """A process started with LD_PRELOAD naming the library has the creators registered already: the
    library is not dlopened and registered a second time."""
    fake_trt.registry.register("preloaded")
    assert plugins.load_plugin_library() is None
    assert fake_trt.registry.loaded == ["preloaded"]
    plugins.greedy_accept(*map(tensor, ("l", "o", "t", "i", "g")), 2, 3, 8)  # the creators are found
    assert fake_trt.network.layers[-1].plugin["name"] == "RedrafterGreedyAccept"


def test_a_failed_registration_is_one_clear_error(monkeypatch: pytest.MonkeyPatch):
    """_register_library against a stand-in library whose redrafterRegisterPlugins() returns -1."""

    class Library:
        def __init__(self, path: str, mode: int) -> None:
            self.redrafterRegisterPlugins = lambda: -1

    import ctypes

    monkeypatch.setattr(ctypes, "CDLL", Library)
    with pytest.raises(RuntimeError, match=r"redrafterRegisterPlugins\(\) failed \(-1\): no libnvinfer"):
        plugins._register_library("/x/libtrtllm_redrafter_plugins.so")
