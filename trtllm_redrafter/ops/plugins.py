"""Load the ReDrafter TensorRT plugin library and add its plugins to a TensorRT-LLM network.

The library is ``libtrtllm_redrafter_plugins.so``, built by ``plugins/CMakeLists.txt`` where
TensorRT's headers are available (docs/plugins.md). It holds five ``IPluginV3`` plugins:

    RedrafterPackBeams     draft_tokens [bs, nb, bl], position_ids_base [bs]
                           -> packed_tokens, gen_lengths, draft_indices, position_offsets,
                              packed_mask, packed_position_ids
    RedrafterGreedyAccept  (version 2) logits [R, V] flat, row_offsets [bs], draft_tokens,
                           draft_indices, gen_lengths (attribute max_batch_size)
                           -> num_accepted_tokens, accepted_beam_index, next_token, hidden_index,
                              path_indices, accepted_tokens
    RedrafterWarpSoftmax   logits [bs, slots, V], inverted_temperature [bs] or [1], gen_lengths
                           (attributes top_k, top_p) -> probs float32 [bs, slots, V]
    RedrafterSamplingAccept probs [bs, slots, V], draft_tokens, draft_indices, gen_lengths,
                           rand_validation [bs, nb, bl-1], rand_sample [bs]
                           -> the six outputs of RedrafterGreedyAccept, next_token sampled
    RedrafterFusedSamplingAccept  logits [R, V] flat, row_offsets [bs], inverted_temperature [bs]
                           or [1], draft_tokens, draft_indices, gen_lengths, rand_validation,
                           rand_sample (attributes num_beams, beam_length, top_k, top_p)
                           -> the same six outputs: warp + sampling acceptance in one kernel that
                              reads only the rows the walk visits (what the sampling engine uses)

Their exact contracts are the kernel headers (plugins/kernels/*.h) and the PyTorch reference
(``tree.pack_beams``, ``accept.accept_greedy``; ``sampling.warp_logits`` + softmax,
``sampling.accept_sampling``).

Every plugin lives in the namespace ``trtllm_redrafter``. ``load_plugin_library`` registers the
creators there through the library's own ``redrafterRegisterPlugins`` (plugins/tensorrt/
plugin_registration.h); a process started with ``LD_PRELOAD=<the library>`` has them registered before
it runs (how trtllm-serve / executor workers / Triton find them: docs/plugins.md, "Serving").

``tensorrt``, ``tensorrt_llm`` and ``numpy`` are imported inside the functions that need them, so
importing this module works on any machine (the CPU test suite checks that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

PLUGIN_LIBRARY_ENV = "TRTLLM_REDRAFTER_PLUGIN_LIB"
PLUGIN_LIBRARY_NAME = "libtrtllm_redrafter_plugins.so"
DEFAULT_BUILD_DIR = Path(__file__).resolve().parents[2] / "plugins" / "build"

PLUGIN_VERSION = "1"
GREEDY_ACCEPT_VERSION = "2"  # flat logits + row_offsets (version 1 took padded logits)
PLUGIN_NAMESPACE = "trtllm_redrafter"  # kPluginNamespace, plugins/tensorrt/plugin_base.h
REGISTER_FUNCTION = "redrafterRegisterPlugins"
PACK_BEAMS_PLUGIN = "RedrafterPackBeams"
GREEDY_ACCEPT_PLUGIN = "RedrafterGreedyAccept"
WARP_SOFTMAX_PLUGIN = "RedrafterWarpSoftmax"
SAMPLING_ACCEPT_PLUGIN = "RedrafterSamplingAccept"
FUSED_SAMPLING_ACCEPT_PLUGIN = "RedrafterFusedSamplingAccept"
NUM_BEAMS_FIELD = "num_beams"
BEAM_LENGTH_FIELD = "beam_length"
MAX_BATCH_SIZE_FIELD = "max_batch_size"
TOP_K_FIELD = "top_k"
TOP_P_FIELD = "top_p"


class PackedBeams(NamedTuple):
    """Outputs of RedrafterPackBeams (all int32; n_cap = nb * (bl - 1) + 1)."""

    packed_tokens: Any  # [bs, n_cap]
    gen_lengths: Any  # [bs]
    draft_indices: Any  # [bs, nb, bl]
    position_offsets: Any  # [bs, n_cap]
    packed_mask: Any  # [bs, n_cap, ceil(n_cap / 32)]
    packed_position_ids: Any  # [bs, n_cap]


class GreedyAcceptance(NamedTuple):
    """Outputs of RedrafterGreedyAccept (all int32)."""

    num_accepted_tokens: Any  # [bs]
    accepted_beam_index: Any  # [bs]
    next_token: Any  # [bs]
    hidden_index: Any  # [bs]
    path_indices: Any  # [bs, bl]
    accepted_tokens: Any  # [bs, bl]


class SamplingAcceptance(NamedTuple):
    """Outputs of RedrafterSamplingAccept (all int32): those of RedrafterGreedyAccept, with
    next_token sampled (the residual or bonus token)."""

    num_accepted_tokens: Any  # [bs]
    accepted_beam_index: Any  # [bs]
    next_token: Any  # [bs]
    hidden_index: Any  # [bs]
    path_indices: Any  # [bs, bl]
    accepted_tokens: Any  # [bs, bl]


_loaded_libraries: dict[str, Any] = {}


def plugin_library_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The library to load: ``path``, else ``$TRTLLM_REDRAFTER_PLUGIN_LIB``, else ``plugins/build/``."""
    if path is not None:
        candidate = Path(path)
    elif os.environ.get(PLUGIN_LIBRARY_ENV):
        candidate = Path(os.environ[PLUGIN_LIBRARY_ENV])
    else:
        candidate = DEFAULT_BUILD_DIR / PLUGIN_LIBRARY_NAME
    if not candidate.is_file():
        raise FileNotFoundError(
            f"{candidate} not found. Build it with TensorRT's headers available "
            f"(cmake -S plugins -B plugins/build -DTENSORRT_ROOT=... && cmake --build plugins/build), "
            f"or point ${PLUGIN_LIBRARY_ENV} at the built library."
        )
    return candidate.resolve()


def load_plugin_library(path: str | os.PathLike[str] | None = None) -> Any:
    """Register the library's plugin creators in TensorRT's plugin registry (once per process).

    Call it before building a network that uses the plugins and before deserializing an engine that
    contains them. Returns the loaded library, or None when the plugins were registered already (a
    process started with ``LD_PRELOAD`` naming the library).
    """
    import tensorrt as trt

    if trt.get_plugin_registry().get_creator(PACK_BEAMS_PLUGIN, PLUGIN_VERSION, PLUGIN_NAMESPACE) is not None:
        return None
    library = str(plugin_library_path(path))
    if library not in _loaded_libraries:
        _loaded_libraries[library] = _register_library(library)
    return _loaded_libraries[library]


def _register_library(library: str) -> Any:
    """dlopen ``library`` and call its ``redrafterRegisterPlugins()``, which registers the creators in
    the registry of the TensorRT this process has loaded, under PLUGIN_NAMESPACE."""
    import ctypes

    handle = ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
    register = getattr(handle, REGISTER_FUNCTION)
    register.restype = ctypes.c_int32
    status = register()
    if status < 0:
        reason = "no libnvinfer is loaded in this process" if status == -1 else "the registry refused a creator"
        raise RuntimeError(f"{library}: {REGISTER_FUNCTION}() failed ({status}): {reason}")
    return handle


def plugin_creator(name: str, version: str = PLUGIN_VERSION) -> Any:
    """The registered creator of plugin ``name`` (namespace PLUGIN_NAMESPACE)."""
    import tensorrt as trt

    creator = trt.get_plugin_registry().get_creator(name, version, PLUGIN_NAMESPACE)
    if creator is None:
        raise RuntimeError(
            f"plugin {name} v{version} is not registered in namespace {PLUGIN_NAMESPACE!r}; "
            "call load_plugin_library() first"
        )
    return creator


def beam_shape_fields(num_beams: int, beam_length: int) -> Any:
    """The plugins' attributes as a ``tensorrt.PluginFieldCollection`` (two int32 fields)."""
    import numpy as np
    import tensorrt as trt

    if num_beams < 1 or beam_length < 1:
        raise ValueError(f"num_beams and beam_length must be >= 1, got {num_beams}, {beam_length}")
    return trt.PluginFieldCollection(
        [
            trt.PluginField(NUM_BEAMS_FIELD, np.array([num_beams], dtype=np.int32), trt.PluginFieldType.INT32),
            trt.PluginField(BEAM_LENGTH_FIELD, np.array([beam_length], dtype=np.int32), trt.PluginFieldType.INT32),
        ]
    )


def warp_fields(top_k: int, top_p: float) -> Any:
    """RedrafterWarpSoftmax's attributes: top_k (int32, 0 = off), top_p (float32, 1.0 = off)."""
    import numpy as np
    import tensorrt as trt

    if top_k < 0 or not 0.0 < top_p <= 1.0:  # NaN fails the second test
        raise ValueError(f"need top_k >= 0 and 0 < top_p <= 1, got {top_k}, {top_p}")
    return trt.PluginFieldCollection(
        [
            trt.PluginField(TOP_K_FIELD, np.array([top_k], dtype=np.int32), trt.PluginFieldType.INT32),
            trt.PluginField(TOP_P_FIELD, np.array([top_p], dtype=np.float32), trt.PluginFieldType.FLOAT32),
        ]
    )


def _add_plugin(name: str, inputs: list[Any], fields: Any, version: str = PLUGIN_VERSION) -> list[Any]:
    """Add plugin ``name`` with attribute ``fields`` to the current TensorRT-LLM network; returns its
    outputs as TRT-LLM Tensors."""
    import tensorrt as trt
    from tensorrt_llm import default_trtnet
    from tensorrt_llm.functional import _create_tensor

    plugin = plugin_creator(name, version).create_plugin(name, fields, trt.TensorRTPhase.BUILD)
    if plugin is None:
        raise RuntimeError(f"creating plugin {name} failed (see the TensorRT log)")
    layer = default_trtnet().add_plugin_v3([tensor.trt_tensor for tensor in inputs], [], plugin)
    if layer is None:
        raise RuntimeError(f"adding plugin {name} to the network failed (see the TensorRT log)")
    return [_create_tensor(layer.get_output(k), layer) for k in range(layer.num_outputs)]


def pack_beams(draft_tokens: Any, position_ids_base: Any, num_beams: int, beam_length: int) -> PackedBeams:
    """RedrafterPackBeams on TensorRT-LLM Tensors: draft_tokens int32 [bs, nb, bl], position_ids_base int32 [bs]."""
    fields = beam_shape_fields(num_beams, beam_length)
    return PackedBeams(*_add_plugin(PACK_BEAMS_PLUGIN, [draft_tokens, position_ids_base], fields))


def greedy_accept_fields(num_beams: int, beam_length: int, max_batch_size: int) -> Any:
    """RedrafterGreedyAccept's attributes: num_beams, beam_length and max_batch_size (int32), which
    sizes the workspace (int32 [max_batch_size, nb * (bl - 1) + 1])."""
    import numpy as np
    import tensorrt as trt

    if num_beams < 1 or beam_length < 1 or not 1 <= max_batch_size <= 65535:
        raise ValueError(
            f"need num_beams >= 1, beam_length >= 1 and 1 <= max_batch_size <= 65535, "
            f"got {num_beams}, {beam_length}, {max_batch_size}"
        )
    values = {NUM_BEAMS_FIELD: num_beams, BEAM_LENGTH_FIELD: beam_length, MAX_BATCH_SIZE_FIELD: max_batch_size}
    return trt.PluginFieldCollection(
        [
            trt.PluginField(name, np.array([value], dtype=np.int32), trt.PluginFieldType.INT32)
            for name, value in values.items()
        ]
    )


def greedy_accept(
    logits_flat: Any,
    row_offsets: Any,
    draft_tokens: Any,
    draft_indices: Any,
    gen_lengths: Any,
    num_beams: int,
    beam_length: int,
    max_batch_size: int,
) -> GreedyAcceptance:
    """RedrafterGreedyAccept on TensorRT-LLM Tensors, on the step's logits as they are:
    logits_flat fp32/fp16/bf16 [R, V] (every row of the step), row_offsets int32 [bs] (the flat row of
    request b's packed slot 0: slot j is logits_flat[row_offsets[b] + j]), draft_tokens and
    draft_indices int32 [bs, nb, bl], gen_lengths int32 [bs]. max_batch_size bounds bs (the engine
    refuses a profile or a step above it)."""
    inputs = [logits_flat, row_offsets, draft_tokens, draft_indices, gen_lengths]
    fields = greedy_accept_fields(num_beams, beam_length, max_batch_size)
    return GreedyAcceptance(*_add_plugin(GREEDY_ACCEPT_PLUGIN, inputs, fields, GREEDY_ACCEPT_VERSION))


def warp_softmax(logits: Any, inverted_temperature: Any, gen_lengths: Any, top_k: int = 0, top_p: float = 1.0) -> Any:
    """RedrafterWarpSoftmax on TensorRT-LLM Tensors: logits fp32/fp16/bf16 [bs, slots, V],
    inverted_temperature fp32/fp16/bf16 [bs] (or [1] for all rows), gen_lengths int32 [bs].
    Returns the warped probabilities, float32 [bs, slots, V] (zeros at padding slots)."""
    fields = warp_fields(top_k, top_p)
    return _add_plugin(WARP_SOFTMAX_PLUGIN, [logits, inverted_temperature, gen_lengths], fields)[0]


def sampling_accept(
    probs: Any,
    draft_tokens: Any,
    draft_indices: Any,
    gen_lengths: Any,
    rand_validation: Any,
    rand_sample: Any,
    num_beams: int,
    beam_length: int,
) -> SamplingAcceptance:
    """RedrafterSamplingAccept on TensorRT-LLM Tensors: probs float32 [bs, slots, V] (from
    warp_softmax), draft_tokens / draft_indices int32 [bs, nb, bl], gen_lengths int32 [bs],
    rand_validation [bs, nb, bl-1] and rand_sample [bs] of one type (fp32/fp16/bf16)."""
    inputs = [probs, draft_tokens, draft_indices, gen_lengths, rand_validation, rand_sample]
    return SamplingAcceptance(*_add_plugin(SAMPLING_ACCEPT_PLUGIN, inputs, beam_shape_fields(num_beams, beam_length)))


def fused_sampling_fields(num_beams: int, beam_length: int, top_k: int, top_p: float) -> Any:
    """RedrafterFusedSamplingAccept's attributes: num_beams, beam_length, top_k (int32) and top_p (float32)."""
    import numpy as np
    import tensorrt as trt

    if num_beams < 1 or beam_length < 1 or top_k < 0 or not 0.0 < top_p <= 1.0:  # NaN fails the last test
        raise ValueError(
            f"need num_beams >= 1, beam_length >= 1, top_k >= 0 and 0 < top_p <= 1, "
            f"got {num_beams}, {beam_length}, {top_k}, {top_p}"
        )
    ints = {NUM_BEAMS_FIELD: num_beams, BEAM_LENGTH_FIELD: beam_length, TOP_K_FIELD: top_k}
    fields = [trt.PluginField(k, np.array([v], dtype=np.int32), trt.PluginFieldType.INT32) for k, v in ints.items()]
    fields.append(trt.PluginField(TOP_P_FIELD, np.array([top_p], dtype=np.float32), trt.PluginFieldType.FLOAT32))
    return trt.PluginFieldCollection(fields)


def fused_sampling_accept(
    logits_flat: Any,
    row_offsets: Any,
    inverted_temperature: Any,
    draft_tokens: Any,
    draft_indices: Any,
    gen_lengths: Any,
    rand_validation: Any,
    rand_sample: Any,
    num_beams: int,
    beam_length: int,
    top_k: int = 0,
    top_p: float = 1.0,
) -> SamplingAcceptance:
    """RedrafterFusedSamplingAccept on TensorRT-LLM Tensors: the warped softmax and exact sampling
    acceptance in one plugin, on the step's logits as they are (logits_flat fp32/fp16/bf16 [R, V],
    row_offsets int32 [bs] as greedy_accept's), inverted_temperature fp32/fp16/bf16 [bs] or [1],
    draft_tokens / draft_indices int32 [bs, nb, bl], gen_lengths int32 [bs], rand_validation
    [bs, nb, bl-1] and rand_sample [bs] of one float type. No [bs, slots, V] probabilities exist."""
    inputs = [logits_flat, row_offsets, inverted_temperature, draft_tokens, draft_indices, gen_lengths]
    inputs += [rand_validation, rand_sample]
    fields = fused_sampling_fields(num_beams, beam_length, top_k, top_p)
    return SamplingAcceptance(*_add_plugin(FUSED_SAMPLING_ACCEPT_PLUGIN, inputs, fields))
