"""Tiny random-weight HF causal LMs of several architectures (no pytest: the GPU check scripts use them too)."""

from __future__ import annotations

import torch

VOCAB = 96
HIDDEN = 32


def tiny_model(arch: str, dtype: torch.dtype = torch.float64, seed: int = 0, **config):
    """A tiny random-weight HF causal LM of the given family; ``config`` overrides its settings."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    common = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
    )
    common.update(config)
    torch.manual_seed(seed)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, use_sliding_window=False))
    elif arch == "mistral":
        model = MistralForCausalLM(MistralConfig(**common, sliding_window=None))
    else:
        raise ValueError(arch)
    return model.to(dtype).eval()


ARCHS = ["llama", "qwen2", "mistral"]


def hf_greedy(model, prompts: list[list[int]], max_new_tokens: int, eos: list[int] | None = None) -> list[list[int]]:
    """Reference: transformers generate(do_sample=False) on the model's device, left padded, trimmed at EOS."""
    from trtllm_redrafter.runtime.decode import left_pad

    ids, valid = left_pad(prompts)
    out = model.generate(
        input_ids=ids.to(model.device),
        attention_mask=valid.long().to(model.device),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos,
        pad_token_id=0,
    )
    result = []
    for row in out[:, ids.shape[1] :].tolist():
        if eos:
            for i, t in enumerate(row):
                if t in eos:
                    row = row[: i + 1]
                    break
        result.append(row)
    return result
