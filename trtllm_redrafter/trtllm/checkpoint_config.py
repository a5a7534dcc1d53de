"""The TensorRT-LLM checkpoint ``config.json``: the base model's PretrainedConfig plus ``redrafter_*``.

Field list, as TensorRT-LLM's own converters write it (``PretrainedConfig.to_dict``):

* common: tensorrt_llm/models/modeling_utils.py ``PretrainedConfig.__init__`` (architecture, dtype,
  vocab_size, hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_size,
  intermediate_size, hidden_act, logits_dtype, norm_epsilon, position_embedding_type,
  max_position_embeddings, rotary_embedding_dim, mapping, quantization, use_parallel_embedding,
  embedding_sharding_dim, qk_layernorm) and ``Mapping.to_dict`` (tensorrt_llm/mapping.py);
* Llama/Mistral: tensorrt_llm/models/llama/config.py ``LLaMAConfig`` (mlp_bias, attn_bias,
  rotary_base, rotary_scaling, residual_mlp, ... ``from_hugging_face`` for the HF -> field mapping:
  rms_norm_eps -> norm_epsilon, rope_theta -> rotary_base, position_embedding_type rope_gpt_neox);
* Qwen2: tensorrt_llm/models/qwen/config.py ``QWenConfig`` (qwen_type "qwen2", attn_bias true,
  seq_length, use_logn_attn, moe_* sizes).

Three nested objects are written in their smallest form on purpose: ``mapping`` holds world/tp/pp
sizes only, ``quantization`` only the two algorithm fields (null = unquantised), and ``moe`` and
``runtime_defaults`` are left out. Their full schemas change between TensorRT-LLM releases
(``Mapping.from_dict`` and ``QuantConfig.from_dict`` pass every key to a constructor), and every
omitted key has a default meaning "not used".

ReDrafter fields (examples/redrafter/convert_checkpoint.py ``hf_redrafter_config``; read by
tensorrt_llm/models/redrafter/model.py and drafter.py, by tensorrt_llm/builder.py ``build`` to set
max_draft_len = nb * dl and the explicit_draft_tokens mode, and by the C++ runtime's
gptJsonConfig.cpp for redrafter_num_beams / redrafter_draft_len_per_beam):

    base_model_architecture, redrafter_num_layers, redrafter_hidden_size, redrafter_exit_dim,
    redrafter_is_rnn, redrafter_num_beams, redrafter_draft_len_per_beam, redrafter_greedy_search

Ours (stock TensorRT-LLM ignores unknown fields; our network definition reads them):

    redrafter_rnn_formula            "apple": s = SiLU(W e + U s + b), s_0 = 0 (also what TensorRT-LLM's
                                     current beam search computes); "trtllm": no SiLU, s_1 = W e
                                     (TensorRT-LLM 0.12's ``Drafter.rnn_embed``). See docs/trtllm.md.
    redrafter_lm_head_from_target    the drafter's vocab projection is the base LM head; the
                                     checkpoint still stores it as drafter.lm_head.weight
    redrafter_draft_vocab_size       V' > 0: a reduced draft vocabulary. drafter.lm_head.weight is
                                     [V', E] and drafter.draft_vocab [V'] (int32) maps a draft id to
                                     the base token id; 0: the head covers the whole vocabulary
"""

from __future__ import annotations

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import DrafterConfig
from trtllm_redrafter.trtllm.hf_model import BaseModelSpec

CHECKPOINT_DTYPES = ("bfloat16", "float16", "float32")

# The ``architecture`` TensorRT-LLM registers for a ReDrafter model over each base, by release.
# 0.20: tensorrt_llm/models/redrafter/model.py defines ReDrafterForCausalLM(LLaMAForCausalLM) only.
# 1.1:  it defines ReDrafterForLLaMALM and ReDrafterForQWenLM (REDRAFTER_MAP in
#       examples/redrafter/convert_checkpoint.py). Qwen2 has no ReDrafter class in 0.20's MODEL_MAP
#       (docs/trtllm.md [F20], [MM]), so a Qwen2 checkpoint named for 0.20 is refused (checkpoint_config).
REDRAFTER_ARCHITECTURES: dict[str, dict[str, str]] = {
    "0.20": {
        "LlamaForCausalLM": "ReDrafterForCausalLM",
        "MistralForCausalLM": "ReDrafterForCausalLM",
    },
    "1.1": {
        "LlamaForCausalLM": "ReDrafterForLLaMALM",
        "MistralForCausalLM": "ReDrafterForLLaMALM",
        "Qwen2ForCausalLM": "ReDrafterForQWenLM",
    },
}
# "1.1" names every release from 1.0 to 1.2.x (models/redrafter/model.py @ 1d263f15, models/__init__.py
# @ 02267d3d: ReDrafterForLLaMALM / ReDrafterForQWenLM, no ReDrafterForCausalLM); docker/Dockerfile pins 1.2.1.
# Convert with --naming 0.20 for the 0.20 / 0.21 images (model.py @ 06255cb7: ReDrafterForCausalLM).
DEFAULT_NAMING = "1.1"


def base_config(spec: BaseModelSpec, dtype: str, tp_size: int, use_parallel_embedding: bool) -> dict:
    """The base model's PretrainedConfig fields, as TensorRT-LLM's Llama/Qwen converters write them."""
    config = {
        "architecture": spec.architecture,
        "dtype": dtype,
        "logits_dtype": "float32",
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden_size,
        "num_hidden_layers": spec.num_hidden_layers,
        "num_attention_heads": spec.num_attention_heads,
        "num_key_value_heads": spec.num_key_value_heads,
        "head_size": spec.head_size,
        "intermediate_size": spec.intermediate_size,
        "hidden_act": spec.hidden_act,
        "norm_epsilon": spec.norm_epsilon,
        "position_embedding_type": "rope_gpt_neox",
        "max_position_embeddings": spec.max_position_embeddings,
        "rotary_embedding_dim": spec.head_size,
        "rotary_base": spec.rotary_base,
        "rotary_scaling": spec.rotary_scaling,
        "mapping": {"world_size": tp_size, "tp_size": tp_size, "pp_size": 1},
        "quantization": {"quant_algo": None, "kv_cache_quant_algo": None},
        "use_parallel_embedding": use_parallel_embedding,
        "embedding_sharding_dim": 0,
        "qk_layernorm": False,
        "tie_word_embeddings": spec.tie_word_embeddings,
        "mlp_bias": False,
        "attn_bias": spec.qkv_bias,
        "disable_weight_only_quant_plugin": False,
    }
    if spec.family == "llama":
        config.update(
            residual_mlp=False,
            remove_duplicated_kv_heads=False,
            fc_after_embed=False,
            use_input_layernorm_in_first_layer=True,
            use_last_layernorm=True,
            layer_idx_offset=0,
        )
    else:  # qwen2
        config.update(
            qwen_type="qwen2",
            seq_length=8192,  # QWenConfig.from_hugging_face default when the HF config has none
            use_logn_attn=False,
            moe_intermediate_size=0,
            moe_shared_expert_intermediate_size=0,
            num_labels=1,
        )
    return config


def redrafter_fields(drafter: DrafterConfig, num_beams: int, draft_len: int, greedy: bool) -> dict:
    """The ``redrafter_*`` fields (stock names first, then ours)."""
    return {
        "redrafter_num_layers": drafter.num_draft_layers,
        "redrafter_hidden_size": drafter.hidden_size,
        "redrafter_exit_dim": drafter.exit_dim,
        "redrafter_is_rnn": drafter.rnn,
        "redrafter_num_beams": num_beams,
        "redrafter_draft_len_per_beam": draft_len,
        "redrafter_greedy_search": greedy,
        "redrafter_rnn_formula": drafter.rnn_formula,
        "redrafter_lm_head_from_target": drafter.lm_head_from_target,
        "redrafter_draft_vocab_size": drafter.draft_vocab_size,
    }


def checkpoint_config(
    spec: BaseModelSpec,
    drafter: DrafterConfig,
    *,
    dtype: str,
    tp_size: int,
    num_beams: int,
    draft_len: int,
    greedy: bool,
    use_parallel_embedding: bool = False,
    naming: str = DEFAULT_NAMING,
) -> dict:
    config = base_config(spec, dtype, tp_size, use_parallel_embedding)
    config["base_model_architecture"] = spec.architecture
    names = REDRAFTER_ARCHITECTURES[naming]
    if spec.architecture not in names:
        newer = [n for n, table in REDRAFTER_ARCHITECTURES.items() if spec.architecture in table]
        raise RedrafterError(
            f"TensorRT-LLM {naming} has no ReDrafter model over {spec.architecture} (its MODEL_MAP lacks one); "
            f"convert with --naming {newer[-1]} for a release that has it"
        )
    config["architecture"] = names[spec.architecture]
    config.update(redrafter_fields(drafter, num_beams, draft_len, greedy))
    return config
