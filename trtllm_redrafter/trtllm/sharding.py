"""Tensor-parallel splits, the way TensorRT-LLM's own converters cut each weight.

PyTorch/TensorRT-LLM linear weights are stored [out_features, in_features].

    column-parallel  (ColumnLinear: qkv, mlp.fc, mlp.gate, lm_head, every drafter linear)
                     rank r keeps rows [r*out/tp, (r+1)*out/tp): ``split_out``; biases likewise
    row-parallel     (RowLinear: attention.dense, mlp.proj)
                     rank r keeps columns [r*in/tp, (r+1)*in/tp): ``split_in``; the bias is not split
    replicated       norms, and the vocab embedding unless ``use_parallel_embedding``

Fused QKV (``shard_qkv``): q, k and v are split separately by heads and concatenated per rank,
[q_r ; k_r ; v_r]. With grouped-query attention and fewer KV heads than ranks, each KV head is first
repeated ``tp / num_kv_heads`` times (consecutively), so every rank holds exactly one KV head.
Sources: tensorrt_llm/models/llama/convert.py ``convert_hf_llama`` / ``QkvWeightHelper`` and
tensorrt_llm/models/qwen/convert.py ``convert_hf_qwen`` (weights and Qwen2's qkv bias), with
``dup_kv_weight`` / ``split`` / ``split_matrix_tp`` of tensorrt_llm/models/convert_utils.py.
For multi-head attention (kv heads == heads) TensorRT-LLM's ``split_qkv_tp`` gives the same result.

Padded heads (``padded_rows``, ``pad_rows``): a column-parallel head whose rows do not split over the
ranks gets zero rows appended up to the next multiple of tp, as TensorRT-LLM's converters pad the base
LM head (tensorrt_llm/models/llama/convert.py and qwen/convert.py: ``pad_vocab_size`` of
tensorrt_llm/_utils.py, then zero rows when ``vocab_size % tp_size``). The drafter's head is padded so:
the network cuts the padded columns off its logits before the beam search (drafter_module.py), so a
padded row can never be drafted, whatever it holds.
"""

from __future__ import annotations

import torch


def padded_rows(rows: int, tp: int) -> int:
    """The smallest multiple of ``tp`` that is >= ``rows`` (rows of a head padded for tp ranks)."""
    return -(-rows // tp) * tp


def pad_rows(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """weight [n, ...] -> [rows, ...]: zero rows appended (rows >= n)."""
    if rows < weight.shape[0]:
        raise ValueError(f"cannot pad {weight.shape[0]} rows down to {rows}")
    return torch.cat([weight, weight.new_zeros(rows - weight.shape[0], *weight.shape[1:])])


def split_out(weight: torch.Tensor, tp: int, rank: int) -> torch.Tensor:
    """Column-parallel shard: rows (dim 0) of a weight [out, in] or a bias [out]."""
    if weight.shape[0] % tp:
        raise ValueError(f"cannot split {weight.shape[0]} rows into {tp} equal parts")
    return weight.chunk(tp, dim=0)[rank]


def split_in(weight: torch.Tensor, tp: int, rank: int) -> torch.Tensor:
    """Row-parallel shard: columns (dim 1) of a weight [out, in]."""
    if weight.shape[1] % tp:
        raise ValueError(f"cannot split {weight.shape[1]} columns into {tp} equal parts")
    return weight.chunk(tp, dim=1)[rank]


def repeat_kv_heads(weight: torch.Tensor, num_kv_heads: int, tp: int) -> torch.Tensor:
    """[kv*d, ...] -> [tp*d, ...]: each KV head repeated tp/kv times in place (only when kv < tp)."""
    if num_kv_heads >= tp:
        return weight
    if tp % num_kv_heads:
        raise ValueError(f"tp={tp} is not a multiple of num_key_value_heads={num_kv_heads}")
    heads = weight.reshape(num_kv_heads, -1, *weight.shape[1:])  # [kv, d, ...]
    return heads.repeat_interleave(tp // num_kv_heads, dim=0).reshape(-1, *weight.shape[1:])


def shard_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_kv_heads: int, tp: int, rank: int) -> torch.Tensor:
    """Fused QKV shard [q_r ; k_r ; v_r] from q [nh*d, ...], k/v [kv*d, ...] (weights or biases)."""
    k = repeat_kv_heads(k, num_kv_heads, tp)
    v = repeat_kv_heads(v, num_kv_heads, tp)
    return torch.cat([split_out(q, tp, rank), split_out(k, tp, rank), split_out(v, tp, rank)], dim=0)
