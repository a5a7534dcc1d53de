"""Read an HF base model directory: its architecture numbers and its weights, without building a model.

The converter needs the numbers TensorRT-LLM's config needs and each weight tensor once per rank.
Reading ``config.json`` and the safetensors files directly keeps that fast (tensors are memory-mapped)
and version-independent (transformers 4 writes ``rope_theta``, transformers 5 ``rope_parameters``).

Supported families (TensorRT-LLM class in brackets, tensorrt_llm/models/__init__.py ``MODEL_MAP``):

    LlamaForCausalLM    [LLaMAForCausalLM]     SmolLM2, Llama 2/3, ...
    MistralForCausalLM  [LLaMAForCausalLM]     TensorRT-LLM maps Mistral onto its Llama class
    Qwen2ForCausalLM    [QWenForCausalLM]      qkv projections carry a bias

HF parameter names (transformers' Llama/Mistral/Qwen2 modeling files):

    model.embed_tokens.weight [V, H]            model.norm.weight [H]      lm_head.weight [V, H] (or tied)
    model.layers.{i}.input_layernorm.weight [H] model.layers.{i}.post_attention_layernorm.weight [H]
    model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (+ .bias for q/k/v on Qwen2, all four with Llama's
        attention_bias)                         model.layers.{i}.mlp.{gate,up,down}_proj.weight
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from trtllm_redrafter.errors import RedrafterError

# HF architecture -> the family whose TensorRT-LLM class and config fields we use
SUPPORTED_ARCHITECTURES: dict[str, str] = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
}

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class BaseModelSpec:
    """The base model's architecture, as TensorRT-LLM's config needs it."""

    path: Path
    architecture: str  # HF class name, e.g. LlamaForCausalLM
    family: str  # "llama" | "qwen2"
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_size: int
    intermediate_size: int
    max_position_embeddings: int
    rotary_base: float
    rotary_scaling: dict | None
    norm_epsilon: float
    hidden_act: str
    qkv_bias: bool
    dense_bias: bool
    tie_word_embeddings: bool

    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_size

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_size


def _rope(cfg: dict) -> tuple[float, dict | None]:
    """(rotary_base, rotary_scaling) from either transformers 4 or 5 config layout."""
    params = cfg.get("rope_parameters") or {}
    scaling = cfg.get("rope_scaling") or {}
    theta = cfg.get("rope_theta", params.get("rope_theta", scaling.get("rope_theta", 10000.0)))
    source = params or scaling
    kind = source.get("rope_type", source.get("type", "default"))
    if kind in (None, "default"):
        return float(theta), None
    extra = {k: v for k, v in source.items() if k not in ("rope_theta", "rope_type", "type")}
    return float(theta), {"type": kind, **extra}  # TensorRT-LLM reads rotary_scaling["type"]


def read_base_model(path: str | Path) -> BaseModelSpec:
    """Parse ``config.json`` of an HF causal LM directory; refuse what the converter cannot map."""
    path = Path(path)
    config_file = path / "config.json"
    try:
        cfg = json.loads(config_file.read_text())
    except FileNotFoundError as exc:
        raise RedrafterError(f"{path} is not an HF model directory (no config.json)") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RedrafterError(f"{config_file} is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise RedrafterError(f"{config_file} does not hold a JSON object")
    archs = cfg.get("architectures") or []
    arch = archs[0] if archs else None
    if arch not in SUPPORTED_ARCHITECTURES:
        raise RedrafterError(
            f"{path}: architecture {arch!r} is not supported; the converter handles "
            f"{', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    if cfg.get("mlp_bias"):
        raise RedrafterError(f"{path}: MLP biases (mlp_bias=true) are not supported by the converter")
    missing = [
        k
        for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0
    ]
    if missing:
        raise RedrafterError(f"{config_file} lacks positive integer fields: {', '.join(missing)}")
    heads = cfg["num_attention_heads"]
    head_size = cfg.get("head_dim") or cfg["hidden_size"] // heads
    family = SUPPORTED_ARCHITECTURES[arch]
    attention_bias = bool(cfg.get("attention_bias", False))
    theta, scaling = _rope(cfg)
    return BaseModelSpec(
        path=path,
        architecture=arch,
        family=family,
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["hidden_size"],
        num_hidden_layers=cfg["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=cfg.get("num_key_value_heads") or heads,
        head_size=head_size,
        intermediate_size=cfg["intermediate_size"],
        max_position_embeddings=cfg.get("max_position_embeddings", 2048),
        rotary_base=theta,
        rotary_scaling=scaling,
        norm_epsilon=float(cfg.get("rms_norm_eps", 1e-6)),
        hidden_act=cfg.get("hidden_act", "silu"),
        qkv_bias=family == "qwen2" or attention_bias,
        dense_bias=family == "llama" and attention_bias,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
    )


class SafetensorsWeights:
    """Lazy access to an HF checkpoint's tensors (one file or an index of shards)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        index = self.path / SAFETENSORS_INDEX
        single = self.path / SAFETENSORS_FILE
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise RedrafterError(f"{index} is not a valid safetensors index: {exc}") from exc
            self._file_of = {name: self.path / file for name, file in weight_map.items()}
        elif single.is_file():
            self._file_of = {name: single for name in self._keys(single)}
        else:
            raise RedrafterError(
                f"{self.path} holds no {SAFETENSORS_FILE} or {SAFETENSORS_INDEX}; the converter reads safetensors "
                f"weights only (re-save the model with save_pretrained(safe_serialization=True))"
            )
        self._handles: dict[Path, object] = {}

    @staticmethod
    def _keys(file: Path) -> list[str]:
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(file), framework="pt") as f:
                return list(f.keys())
        except (SafetensorError, OSError, ValueError) as exc:
            raise RedrafterError(f"{file} is corrupt or truncated: {exc}") from exc

    def files(self) -> list[Path]:
        return sorted(set(self._file_of.values()))

    def file_of(self, name: str) -> Path:
        return self._file_of[name]

    def __contains__(self, name: str) -> bool:
        return name in self._file_of

    def get(self, name: str) -> torch.Tensor:
        from safetensors import SafetensorError, safe_open

        if name not in self._file_of:
            raise RedrafterError(f"{self.path}: weight {name!r} is missing")
        file = self._file_of[name]
        try:
            if file not in self._handles:
                self._handles[file] = safe_open(str(file), framework="pt")
            return self._handles[file].get_tensor(name)
        except (SafetensorError, OSError, ValueError) as exc:
            raise RedrafterError(f"{file}: cannot read {name!r}, the file is corrupt or truncated: {exc}") from exc


def expected_shapes(spec: BaseModelSpec) -> dict[str, tuple[int, ...]]:
    """Every HF tensor the converter reads, with the shape ``config.json`` implies."""
    h, v, inter = spec.hidden_size, spec.vocab_size, spec.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    if not spec.tie_word_embeddings:
        shapes["lm_head.weight"] = (v, h)
    for i in range(spec.num_hidden_layers):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (h,)
        shapes[p + "post_attention_layernorm.weight"] = (h,)
        shapes[p + "self_attn.q_proj.weight"] = (spec.q_size, h)
        shapes[p + "self_attn.k_proj.weight"] = (spec.kv_size, h)
        shapes[p + "self_attn.v_proj.weight"] = (spec.kv_size, h)
        shapes[p + "self_attn.o_proj.weight"] = (h, spec.q_size)
        if spec.qkv_bias:
            shapes[p + "self_attn.q_proj.bias"] = (spec.q_size,)
            shapes[p + "self_attn.k_proj.bias"] = (spec.kv_size,)
            shapes[p + "self_attn.v_proj.bias"] = (spec.kv_size,)
        if spec.dense_bias:
            shapes[p + "self_attn.o_proj.bias"] = (h,)
        shapes[p + "mlp.gate_proj.weight"] = (inter, h)
        shapes[p + "mlp.up_proj.weight"] = (inter, h)
        shapes[p + "mlp.down_proj.weight"] = (h, inter)
    return shapes


def check_weights(spec: BaseModelSpec, weights: SafetensorsWeights) -> None:
    """Refuse a checkpoint whose tensors are missing or disagree with its config.json."""
    from safetensors import SafetensorError, safe_open

    shapes = expected_shapes(spec)
    missing = [name for name in shapes if name not in weights]
    if missing:
        raise RedrafterError(f"{spec.path}: {len(missing)} weights missing, e.g. {', '.join(missing[:4])}")
    by_file: dict[Path, list[str]] = {}
    for name in shapes:
        by_file.setdefault(weights.file_of(name), []).append(name)
    wrong = []
    for file, names in by_file.items():
        try:
            with safe_open(str(file), framework="pt") as f:
                for name in names:
                    got = tuple(f.get_slice(name).get_shape())
                    if got != shapes[name]:
                        wrong.append(f"{name} {got} (config implies {shapes[name]})")
        except (SafetensorError, OSError, ValueError) as exc:
            raise RedrafterError(f"{file} is corrupt or truncated: {exc}") from exc
    if wrong:
        raise RedrafterError(f"{spec.path}: weights disagree with config.json: {'; '.join(wrong[:4])}")
