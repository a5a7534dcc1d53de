"""Engine inputs and outputs that TensorRT-LLM's runtime binds for explicit-draft-tokens decoding.

These are the names, dtypes and shapes the stock runtime expects, so it serves our engines unchanged.
``network.py`` declares and marks exactly these (it takes every name from here), and docs/trtllm.md
carries the same table; tests/test_trtllm_docs.py checks that the two agree.

Sources (NVIDIA/TensorRT-LLM; commits as read, see docs/trtllm.md):
    [M] tensorrt_llm/models/redrafter/model.py   ``prepare_inputs`` (inputs) and ``_fwd_helper``
        (``mark_output`` calls), commits 06255cb7 (0.15.0.dev) and 1d263f15
    [G] tensorrt_llm/models/generation_mixin.py  ``spec_decoding_*`` inputs (spec_decoding_params)
    [R] tensorrt_llm/runtime/redrafter_utils.py  ``get_redrafter_tensor_names``, commit 258c7540

Shape symbols: bs = requests in the step (context first), bs_gen = generation requests, nb = beams,
bl = beam length (draft_len + 1), V = vocabulary, T = the model dtype, N = sum of packed lengths,
G = max packed length this step, W = ceil((nb * (bl - 1) + 1) / 32). "scalar" = a rank-0 tensor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineTensor:
    name: str
    direction: str  # "input" | "output"
    dtype: str  # "int32" | "bool" | "T"
    shape: str
    source: str  # where TensorRT-LLM declares it: [M], [G]


# Declared by our network's prepare_inputs (as [M] declares them).
REDRAFTER_INPUTS: tuple[EngineTensor, ...] = (
    EngineTensor("device_request_types", "input", "int32", "[bs]", "[M]"),
    EngineTensor("draft_tokens", "input", "int32", "[bs_gen, nb, bl]", "[M]"),
    EngineTensor("draft_indices", "input", "int32", "[bs_gen, nb, bl]", "[M]"),
    EngineTensor("draft_probs", "input", "T", "[bs_gen, nb, bl-1, V]", "[M]"),
    EngineTensor("redrafter_inverted_temperature", "input", "T", "[bs]", "[M]"),
    EngineTensor("rand_data_sample", "input", "T", "[bs]", "[M]"),
    EngineTensor("rand_data_validation", "input", "T", "[bs_gen, nb, bl-1]", "[M]"),
    EngineTensor("position_ids_base", "input", "int32", "[bs]", "[M]"),
)

# Declared by TensorRT-LLM's GenerationMixin when max_draft_len > 0 and the generation length is
# variable; our network passes them to the attention layers and reads the generation lengths.
SPEC_DECODING_INPUTS: tuple[EngineTensor, ...] = (
    EngineTensor("spec_decoding_generation_lengths", "input", "int32", "[bs_gen]", "[G]"),
    EngineTensor("spec_decoding_position_offsets", "input", "int32", "[bs_gen, G]", "[G]"),
    EngineTensor("spec_decoding_packed_mask", "input", "int32", "[N, W]", "[G]"),
    EngineTensor("spec_decoding_use", "input", "int32", "[1]", "[G]"),
)

# Marked by our network's forward, in [M]'s order.
REDRAFTER_OUTPUTS: tuple[EngineTensor, ...] = (
    EngineTensor("num_accepted_tokens", "output", "int32", "[bs]", "[M]"),
    EngineTensor("accepted_beam_index", "output", "int32", "[bs]", "[M]"),
    EngineTensor("max_gen_token", "output", "int32", "scalar", "[M]"),
    EngineTensor("total_gen_token", "output", "int32", "scalar", "[M]"),
    EngineTensor("next_spec_decoding_generation_lengths", "output", "int32", "[bs]", "[M]"),
    EngineTensor("next_flat_tokens", "output", "int32", "[N]", "[M]"),
    EngineTensor("next_draft_tokens", "output", "int32", "[bs, nb, bl]", "[M]"),
    EngineTensor("next_draft_probs", "output", "T", "[bs, nb, bl-1, V]", "[M]"),
    EngineTensor("next_draft_indices", "output", "int32", "[bs, nb, bl]", "[M]"),
    EngineTensor("spec_decoding_mask", "output", "bool", "[bs, G, G]", "[M]"),
    EngineTensor("next_spec_decoding_position_offsets", "output", "int32", "[bs, G]", "[M]"),
    EngineTensor("packed_position_ids", "output", "int32", "[N]", "[M]"),
)

ENGINE_TENSORS: tuple[EngineTensor, ...] = REDRAFTER_INPUTS + SPEC_DECODING_INPUTS + REDRAFTER_OUTPUTS
INPUT_NAMES: tuple[str, ...] = tuple(t.name for t in REDRAFTER_INPUTS)
SPEC_DECODING_INPUT_NAMES: tuple[str, ...] = tuple(t.name for t in SPEC_DECODING_INPUTS)
OUTPUT_NAMES: tuple[str, ...] = tuple(t.name for t in REDRAFTER_OUTPUTS)
