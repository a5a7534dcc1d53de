"""The ReDrafter network: TensorRT-LLM's own Llama/Qwen model + our drafter, beam search and plugins.

One engine step, for a batch of context requests followed by generation requests (the runtime's
order, ``device_request_types``), mirrors one iteration of ``trtllm_redrafter.runtime.decode.Decoder.stream``:

    base model (TensorRT-LLM's LLaMAForCausalLM / QWenForCausalLM, unchanged)
        -> logits and hidden states of every token fed this step          (target.verify)
    context requests: root = argmax of the last logits                     (Decoder.stream prefill)
    generation requests: RedrafterGreedyAccept plugin on the flat logits   (accept.accept_greedy)
        -> num_accepted_tokens, accepted_beam_index, next root, hidden index
        (sampling engines: RedrafterFusedSamplingAccept, the exact rule of sampling.accept_sampling)
    drafter context = hidden state at the last accepted token             (Decoder.stream step 6)
    beam search over the drafter                                           (beam_search.beam_search)
        (a reduced draft vocabulary: top-k over nb*V', then draft_vocab maps draft ids to base ids)
    RedrafterPackBeams plugin -> packed tree, indices, offsets, mask       (tree.pack_beams)
    mark the outputs the runtime copies into the next step's inputs

Engine inputs and outputs are exactly those of TensorRT-LLM's ReDrafter
(tensorrt_llm/models/redrafter/model.py), so the stock runtime (ModelRunnerCpp / the executor)
serves these engines unchanged; every name comes from ``engine_io``.

``redrafter_model_class(base_architecture)`` creates the class on first use: it subclasses
TensorRT-LLM's base model class, so this module imports tensorrt_llm only inside functions.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

from trtllm_redrafter.ops import plugins
from trtllm_redrafter.trtllm import engine_io, graph_ops
from trtllm_redrafter.trtllm.drafter_module import borrows_base_lm_head, make_drafter

# HF architecture -> TensorRT-LLM model class name (tensorrt_llm/models/__init__.py MODEL_MAP)
BASE_CLASSES: dict[str, str] = {
    "LlamaForCausalLM": "LLaMAForCausalLM",
    "MistralForCausalLM": "LLaMAForCausalLM",
    "Qwen2ForCausalLM": "QWenForCausalLM",
}


class ReDrafterMixin:
    """Adds the drafter, the ReDrafter inputs and the ReDrafter step to a TensorRT-LLM decoder model.

    Placed before the base class in the MRO: ``super()`` is the base model.
    """

    def __init__(self, config: Any) -> None:
        from tensorrt_llm._utils import str_dtype_to_trt

        super().__init__(config)
        self.dtype = str_dtype_to_trt(config.dtype)
        self.vocab_size = config.vocab_size  # convert.py refuses tp sizes that would pad it
        self.num_beams = config.redrafter_num_beams
        self.draft_len = config.redrafter_draft_len_per_beam
        self.beam_length = self.draft_len + 1  # the root plus the drafted tokens
        self.greedy_search = config.redrafter_greedy_search
        self.draft_vocab_size = getattr(config, "redrafter_draft_vocab_size", 0)  # V'; 0: the whole vocabulary
        self.borrows_lm_head = borrows_base_lm_head(
            getattr(config, "redrafter_lm_head_from_target", False), self.draft_vocab_size
        )
        self.drafter = make_drafter(config, self.vocab_size)

    # ---- inputs ---------------------------------------------------------------------------
    def prepare_inputs(self, *args: Any, **kwargs: Any) -> dict:
        """The base model's inputs (with explicit-draft-tokens spec decoding) plus ours.

        As tensorrt_llm/models/redrafter/model.py ``prepare_inputs`` declares them: max_draft_len
        = nb * dl, a variable generation length, and the eight ReDrafter inputs with one or two
        optimization profiles, like the base model's inputs.
        """
        import tensorrt as trt
        from tensorrt_llm._common import default_net
        from tensorrt_llm.functional import Tensor
        from tensorrt_llm.models.generation_mixin import GenerationMixin

        plugin_config = default_net().plugin_config
        max_batch_size = kwargs["max_batch_size"]
        self.max_batch_size = max_batch_size  # sizes the greedy-accept plugin's workspace (redrafter_step)
        kwargs["max_draft_len"] = self.num_beams * self.draft_len
        kwargs["speculative_decoding_draft_tokens_external"] = False
        kwargs["spec_decoding_is_generation_length_variable"] = True
        inputs = super().prepare_inputs(*args, **kwargs)

        two_profiles = GenerationMixin.has_ctx_gen_opt_profiles(
            use_gpt_attention_plugin=plugin_config.gpt_attention_plugin,
            use_gemm_plugin=plugin_config.gemm_plugin,
            remove_input_padding=plugin_config.remove_input_padding,
            kv_cache_type=_kv_cache_type(plugin_config.paged_kv_cache),
        )
        profiles = 2 if two_profiles else 1

        def ranges(value: Any) -> list:
            return [value] * profiles

        batch = ranges(GenerationMixin.default_range(max_batch_size))
        batch_or_none = ranges(GenerationMixin.default_range(max_batch_size, min_range=0, opt_offset=1))
        nb, bl, dl, vocab = self.num_beams, self.beam_length, self.draft_len, self.vocab_size
        dims = {
            "[bs]": [-1],
            "[bs_gen, nb, bl]": [-1, nb, bl],
            "[bs_gen, nb, bl-1, V]": [-1, nb, dl, vocab],
            "[bs_gen, nb, bl-1]": [-1, nb, dl],
        }
        dim_names = {
            "[bs]": [("batch_size", batch)],
            "[bs_gen, nb, bl]": [
                ("batch_size_wt0", batch_or_none),
                ("num_beams", ranges(nb)),
                ("beam_length", ranges(bl)),
            ],
            "[bs_gen, nb, bl-1, V]": [
                ("batch_size_wt0", batch_or_none),
                ("num_beams", ranges(nb)),
                ("candidate_length", ranges(dl)),
                ("vocab_size", ranges(vocab)),
            ],
            "[bs_gen, nb, bl-1]": [
                ("batch_size_wt0", batch_or_none),
                ("num_beams", ranges(nb)),
                ("candidate_length", ranges(dl)),
            ],
        }
        for spec in engine_io.REDRAFTER_INPUTS:
            dtype = self.dtype if spec.dtype == "T" else trt.int32
            inputs[spec.name] = Tensor(
                name=spec.name, dtype=dtype, shape=dims[spec.shape], dim_range=OrderedDict(dim_names[spec.shape])
            )
        return inputs

    # ---- the step ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        from tensorrt_llm._common import default_net

        ours = {name: kwargs.pop(name) for name in engine_io.INPUT_NAMES}
        paged = default_net().plugin_config.paged_kv_cache
        result = super().forward(*args, **kwargs)
        # DecoderModelForCausalLM.forward returns (logits, presents, hidden) with a contiguous
        # cache and (logits, hidden, all_hidden) with a paged one; hidden: the rows logits has.
        if kwargs.get("use_cache") and not paged:
            logits, _, hidden = result
        else:
            logits, hidden, _ = result
        gen_lengths = kwargs["spec_decoding_params"].spec_decoding_generation_lengths
        outputs = self.redrafter_step(logits, hidden, gen_lengths, ours)
        if set(outputs) != set(engine_io.OUTPUT_NAMES):
            raise AssertionError(f"outputs {sorted(outputs)} differ from engine_io.OUTPUT_NAMES")
        for spec in engine_io.REDRAFTER_OUTPUTS:
            outputs[spec.name].mark_output(spec.name)
        return outputs[engine_io.OUTPUT_NAMES[0]]

    def redrafter_step(self, logits: Any, hidden: Any, gen_lengths: Any, inputs: dict) -> dict:
        """Accept, sample the next root, draft, pack; returns every output by name.

        logits [rows, V] (context: the last token of each request; generation: every packed tree
        token), hidden [rows, H], gen_lengths [bs_gen]; ``inputs`` holds engine_io.INPUT_NAMES.
        The acceptance plugins read the flat logits through per-request row offsets (no copy).
        """
        from tensorrt_llm.functional import (
            arange,
            argmax,
            cast,
            concat,
            constant_to_tensor_,
            expand,
            index_select,
            maximum,
            minimum,
            shape,
            sum,
            unsqueeze,
        )

        nb, bl = self.num_beams, self.beam_length
        capacity = nb * (bl - 1) + 1  # n_cap: the most packed tokens a request's tree can have
        # the variables are named as the inputs (tests/test_trtllm_docs.py checks the order)
        (
            device_request_types,
            draft_tokens,
            draft_indices,
            draft_probs,
            redrafter_inverted_temperature,
            rand_data_sample,
            rand_data_validation,
            position_ids_base,
        ) = (inputs[name] for name in engine_io.INPUT_NAMES)
        del draft_probs  # our exact acceptance rules never read the drafter's probabilities (docs/sampling.md)

        # rows: context requests first (one row each), then the generation requests' trees
        zero = constant_to_tensor_(0, to_array=False)
        bs = shape(device_request_types, 0, "int32")
        num_gen = minimum(maximum(sum(device_request_types, dim=-1), zero), bs)
        num_ctx = bs - num_gen
        ctx_rows = arange(zero, num_ctx, dtype="int32")  # bounded by bs, as redrafter_helper.py's ctx_idxs
        ctx_logits = index_select(logits, dim=0, index=ctx_rows)  # [bs_ctx, V]
        ctx_hidden = index_select(hidden, dim=0, index=ctx_rows)  # [bs_ctx, H]
        row_offsets = graph_ops.generation_row_offsets(gen_lengths, num_ctx)  # [bs_gen]

        if self.greedy_search:
            ctx_next = argmax(ctx_logits, dim=-1)  # [bs_ctx]
            acc = plugins.greedy_accept(
                logits, row_offsets, draft_tokens, draft_indices, gen_lengths, nb, bl, self.max_batch_size
            )
        else:
            from tensorrt_llm.functional import categorical_sample, softmax

            ctx_scale = unsqueeze(cast(index_select(redrafter_inverted_temperature, 0, ctx_rows), "float32"), 1)
            ctx_probs = softmax(cast(ctx_logits, "float32") * ctx_scale, dim=-1)
            ctx_next = categorical_sample(ctx_probs, cast(index_select(rand_data_sample, 0, ctx_rows), "float32"))
            gen_req = arange(num_ctx, bs, dtype="int32")
            acc = plugins.fused_sampling_accept(
                logits,
                row_offsets,
                cast(index_select(redrafter_inverted_temperature, 0, gen_req), "float32"),
                draft_tokens,
                draft_indices,
                gen_lengths,
                cast(rand_data_validation, "float32"),
                cast(index_select(rand_data_sample, 0, gen_req), "float32"),
                nb,
                bl,
                top_k=0,
                top_p=1.0,
            )

        # per request, in the runtime's order: context requests emitted 1 token from beam 0
        one = expand(constant_to_tensor_(1), unsqueeze(num_ctx, 0))
        none = expand(constant_to_tensor_(0), unsqueeze(num_ctx, 0))
        gen_context = graph_ops.rows_at(hidden, row_offsets, acc.hidden_index)  # [bs_gen, H]
        # re-index every per-request tensor with arange(0, bs): TensorRT-LLM's helper does this because
        # shape inference cannot tell that bs_ctx + bs_gen == bs (redrafter_helper.py @ 20709ce9,
        # _process_logits_and_hidden_states: "needed with shape inference of data-dependent tensors")
        requests = arange(zero, bs, dtype="int32")

        def per_request(ctx: Any, gen: Any) -> Any:
            return index_select(concat([ctx, gen], dim=0), dim=0, index=requests)  # [bs, ...]

        num_accepted = per_request(one, acc.num_accepted_tokens)
        beam_index = per_request(none, acc.accepted_beam_index)
        root = per_request(cast(ctx_next, "int32"), cast(acc.next_token, "int32"))
        context = per_request(ctx_hidden, gen_context)  # [bs, H]

        beams, beam_log_probs = graph_ops.beam_search(
            self.drafter,
            self.transformer.vocab_embedding,
            self.lm_head if self.borrows_lm_head else None,
            context,
            root,
            nb,
            self.draft_len,
        )  # beams [bs, nb, bl] base token ids, log-probs [bs, nb, dl, V']
        if self.draft_vocab_size:  # the engine output keeps TensorRT-LLM's [bs, nb, dl, V]
            beam_log_probs = graph_ops.draft_columns_to_vocab(
                beam_log_probs, self.drafter.draft_vocab.value, self.vocab_size
            )
        # the runtime gives the new root position base + num_accepted - 1 (see the contract doc)
        tree = plugins.pack_beams(beams, position_ids_base + num_accepted, nb, bl)
        longest = graph_ops.bounded_longest(tree.gen_lengths, capacity)  # scalar in [0, n_cap]
        return {
            "num_accepted_tokens": num_accepted,
            "accepted_beam_index": beam_index,
            "max_gen_token": longest,
            "total_gen_token": sum(tree.gen_lengths, dim=0),
            "next_spec_decoding_generation_lengths": tree.gen_lengths,
            "next_flat_tokens": graph_ops.select_valid(tree.packed_tokens, tree.gen_lengths, capacity),
            "next_draft_tokens": beams,
            "next_draft_probs": cast(beam_log_probs, self.dtype),
            "next_draft_indices": tree.draft_indices,
            "spec_decoding_mask": graph_ops.unpack_mask_bits(tree.packed_mask, longest, capacity),
            "next_spec_decoding_position_offsets": graph_ops.first_columns(tree.position_offsets, longest),
            "packed_position_ids": graph_ops.select_valid(tree.packed_position_ids, tree.gen_lengths, capacity),
        }


def _kv_cache_type(paged: bool) -> Any:
    """The KVCacheType that ``GenerationMixin.has_ctx_gen_opt_profiles`` compares against.

    Taken from ``tensorrt_llm.builder``, which imports it itself (tensorrt_llm/builder.py @ 008b2b8d:
    ``from .bindings import KVCacheType``): in a release that also defines
    ``tensorrt_llm.llmapi.kv_cache_type.KVCacheType``, a value of the other enum never equals
    ``KVCacheType.PAGED`` and would silently give the contiguous cache's profiles.
    """
    from tensorrt_llm.builder import KVCacheType

    return KVCacheType.PAGED if paged else KVCacheType.CONTINUOUS


@functools.cache
def redrafter_model_class(base_architecture: str) -> type:
    """``ReDrafterMixin`` over TensorRT-LLM's class for ``base_architecture`` (an HF class name)."""
    import tensorrt_llm.models as trtllm_models

    if base_architecture not in BASE_CLASSES:
        raise ValueError(f"no ReDrafter network for base {base_architecture!r}; supported: {', '.join(BASE_CLASSES)}")
    base = getattr(trtllm_models, BASE_CLASSES[base_architecture])

    class ReDrafterModel(ReDrafterMixin, base):
        """ReDrafter over a TensorRT-LLM base model; see trtllm_redrafter/trtllm/network.py."""

    ReDrafterModel.__name__ = ReDrafterModel.__qualname__ = f"ReDrafter{base.__name__}"
    return ReDrafterModel
