"""``trtllm-redrafter convert``: HF base model + Apple-layout drafter -> TensorRT-LLM checkpoint.

Output directory (TensorRT-LLM's checkpoint format, docs/source/architecture/checkpoint.md upstream):

    config.json               PretrainedConfig fields + redrafter_* (checkpoint_config.py)
    rank{r}.safetensors       rank r's weights, r < tp_size, in TensorRT-LLM's names (below)
    trtllm_redrafter.json     ours: where the checkpoint came from and with which settings

Weight names per rank (tensorrt_llm/models/llama/convert.py, qwen/convert.py; drafter names from
examples/redrafter/convert_checkpoint.py ``hf_drafter``), with the split each one gets:

    transformer.vocab_embedding.weight          [V, H]         replicated (vocab-split with
                                                                --use-parallel-embedding)
    transformer.layers.{i}.input_layernorm.weight   [H]        replicated
    transformer.layers.{i}.attention.qkv.weight     [(nh+2kv)*d/tp, H]  per-head split, see sharding.py
    transformer.layers.{i}.attention.qkv.bias       (Qwen2 / Llama attention_bias)
    transformer.layers.{i}.attention.dense.weight   [H, nh*d/tp]  row-parallel (bias replicated)
    transformer.layers.{i}.post_layernorm.weight    [H]        replicated
    transformer.layers.{i}.mlp.fc.weight        [I/tp, H]      HF gate_proj, column-parallel
    transformer.layers.{i}.mlp.gate.weight      [I/tp, H]      HF up_proj, column-parallel
    transformer.layers.{i}.mlp.proj.weight      [H, I/tp]      HF down_proj, row-parallel
    transformer.ln_f.weight                     [H]            replicated
    lm_head.weight                              [V/tp, H]      column-parallel (tied: the embedding)
    drafter.input_proj.{weight,bias}            [E/tp, 2H]     only when E != 2H
    drafter.layers.{j}.linear.{weight,bias}     [E/tp, E]      Apple lm_head.{j}.linear
    drafter.lm_head.weight                      [V'p/tp, E]    Apple lm_head.{N} (or the base LM head's
                                                               draft_vocab rows for lm_head_from_target
                                                               drafters); V' = V without a draft vocabulary;
                                                               V'p = V' padded with zero rows to a multiple
                                                               of tp (sharding.padded_rows)
    drafter.draft_vocab                         [V'] int32     replicated; only when draft_vocab_size > 0
    drafter.rnn_u.{weight,bias}, drafter.rnn_w.weight  [H/tp, H]  only for RNN drafters

Every drafter linear is a ColumnLinear with gather_output (tensorrt_llm/models/redrafter/drafter.py),
hence split on its output dimension. ``drafter.draft_vocab`` (ours: draft id -> base token id) is a
lookup table, not a linear: every rank holds all of it, and it keeps int32 whatever --dtype says.

Refusals (RedrafterError): unknown architecture, a drafter for another base (vocab or hidden size),
tp_size not dividing heads / KV heads / vocab / intermediate or drafter widths (the draft vocabulary V'
is padded instead, see above), num_beams above V', a bad dtype, missing or corrupt files, and an output directory that
holds something else: a different checkpoint (unless --overwrite, which replaces only checkpoint
files) or files that are not a checkpoint (never touched).
An output directory holding the same conversion (same sources, same settings) is reused as is.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from trtllm_redrafter import __version__
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.models import DEFAULT_MODEL, resolve_model
from trtllm_redrafter.runtime.drafter import CONFIG_FILE as DRAFTER_CONFIG
from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig, check_compatible, init_drafter
from trtllm_redrafter.trtllm.checkpoint_config import (
    CHECKPOINT_DTYPES,
    DEFAULT_NAMING,
    REDRAFTER_ARCHITECTURES,
    checkpoint_config,
)
from trtllm_redrafter.trtllm.hf_model import BaseModelSpec, SafetensorsWeights, check_weights, read_base_model
from trtllm_redrafter.trtllm.sharding import pad_rows, padded_rows, shard_qkv, split_in, split_out

CONFIG_FILE = "config.json"
PROVENANCE_FILE = "trtllm_redrafter.json"


# drafter tensors every rank holds whole (all others are column-parallel, see drafter_rank_weights)
REPLICATED_DRAFTER_TENSORS = ("drafter.draft_vocab",)
HEAD_TENSOR = "drafter.lm_head.weight"  # [V', E], padded to a multiple of tp rows


def rank_file(rank: int) -> str:
    return f"rank{rank}.safetensors"


@dataclass
class ConvertSettings:
    output_dir: str | Path
    model: str = DEFAULT_MODEL
    drafter: str | None = None  # None: the drafter shipped for the alias, else a fresh seeded one
    dtype: str = "bfloat16"
    tp_size: int = 1
    num_beams: int = 8
    draft_len: int = 4
    greedy: bool = True
    use_parallel_embedding: bool = False
    naming: str = DEFAULT_NAMING
    seed: int = 0  # for a freshly initialised drafter
    overwrite: bool = False

    def validate(self) -> None:
        if self.dtype not in CHECKPOINT_DTYPES:
            raise RedrafterError(f"dtype {self.dtype!r} is not supported for TensorRT-LLM; choose {CHECKPOINT_DTYPES}")
        if self.tp_size < 1:
            raise RedrafterError(f"tp_size must be >= 1, got {self.tp_size}")
        if self.num_beams < 1 or self.draft_len < 1:
            raise RedrafterError(f"num_beams and draft_len must be >= 1, got {self.num_beams}, {self.draft_len}")
        if self.naming not in REDRAFTER_ARCHITECTURES:
            raise RedrafterError(f"naming must be one of {', '.join(REDRAFTER_ARCHITECTURES)}, got {self.naming!r}")


@dataclass
class ConvertResult:
    output_dir: Path
    reused: bool  # True when the directory already held this exact conversion
    config: dict


# ---- checks -----------------------------------------------------------------------------------


def check_tensor_parallel(spec: BaseModelSpec, drafter: DrafterConfig, tp: int) -> None:
    """Refuse a tp_size TensorRT-LLM cannot split these weights by."""
    problems = []
    if spec.num_attention_heads % tp:
        problems.append(f"num_attention_heads={spec.num_attention_heads}")
    kv = spec.num_key_value_heads
    if (kv >= tp and kv % tp) or (kv < tp and tp % kv):
        problems.append(f"num_key_value_heads={kv} (needs kv % tp == 0, or tp % kv == 0 to replicate KV heads)")
    # TensorRT-LLM pads a base LM head to a multiple of tp, but the ReDrafter engine declares
    # draft_probs with the unpadded vocabulary next to a padded drafter head: refuse instead.
    sizes = {"vocab_size": spec.vocab_size, "intermediate_size": spec.intermediate_size}
    # (a reduced draft vocabulary V' needs no check: its head is padded to a multiple of tp, below)
    sizes["drafter exit_dim"] = drafter.exit_dim
    if drafter.rnn:
        sizes["hidden_size (drafter RNN)"] = spec.hidden_size
    for name, value in sizes.items():
        if value % tp:
            problems.append(f"{name}={value}")
    if problems:
        raise RedrafterError(f"tp_size={tp} does not divide {'; '.join(problems)}")


def read_drafter_config(path: Path) -> DrafterConfig:
    file = path / DRAFTER_CONFIG
    if not path.is_dir():
        raise RedrafterError(f"drafter {path} not found (expected a directory with config.json, model.safetensors)")
    try:
        return DrafterConfig.from_json(json.loads(file.read_text()))
    except FileNotFoundError as exc:
        raise RedrafterError(f"drafter {path} has no {DRAFTER_CONFIG}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, AttributeError) as exc:
        raise RedrafterError(f"drafter config {file} is not valid: {exc}") from exc


def _fingerprint(files: list[Path]) -> dict[str, list[int]]:
    return {str(f): [f.stat().st_size, f.stat().st_mtime_ns] for f in files}


# ---- the conversion ---------------------------------------------------------------------------


def base_rank_weights(
    spec: BaseModelSpec, src: SafetensorsWeights, tp: int, rank: int, use_parallel_embedding: bool
) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s base-model tensors in TensorRT-LLM names (source dtype; cast later)."""
    out: dict[str, torch.Tensor] = {}
    kv = spec.num_key_value_heads
    for i in range(spec.num_hidden_layers):
        hf, trt = f"model.layers.{i}.", f"transformer.layers.{i}."
        attn = hf + "self_attn."
        out[trt + "input_layernorm.weight"] = src.get(hf + "input_layernorm.weight")
        q, k, v = (src.get(attn + f"{x}_proj.weight") for x in "qkv")
        out[trt + "attention.qkv.weight"] = shard_qkv(q, k, v, kv, tp, rank)
        if spec.qkv_bias:
            q, k, v = (src.get(attn + f"{x}_proj.bias") for x in "qkv")
            out[trt + "attention.qkv.bias"] = shard_qkv(q, k, v, kv, tp, rank)
        out[trt + "attention.dense.weight"] = split_in(src.get(attn + "o_proj.weight"), tp, rank)
        if spec.dense_bias:
            out[trt + "attention.dense.bias"] = src.get(attn + "o_proj.bias")
        out[trt + "post_layernorm.weight"] = src.get(hf + "post_attention_layernorm.weight")
        out[trt + "mlp.fc.weight"] = split_out(src.get(hf + "mlp.gate_proj.weight"), tp, rank)
        out[trt + "mlp.gate.weight"] = split_out(src.get(hf + "mlp.up_proj.weight"), tp, rank)
        out[trt + "mlp.proj.weight"] = split_in(src.get(hf + "mlp.down_proj.weight"), tp, rank)
    embedding = src.get("model.embed_tokens.weight")
    out["transformer.vocab_embedding.weight"] = split_out(embedding, tp, rank) if use_parallel_embedding else embedding
    out["transformer.ln_f.weight"] = src.get("model.norm.weight")
    head = embedding if spec.tie_word_embeddings else src.get("lm_head.weight")
    out["lm_head.weight"] = split_out(head, tp, rank)
    return out


def drafter_tensors(drafter: Drafter) -> dict[str, torch.Tensor]:
    """All drafter weights, unsplit, in TensorRT-LLM names (``drafter.`` prefix)."""
    cfg = drafter.config
    state = drafter.state_dict()
    out: dict[str, torch.Tensor] = {}
    if 2 * cfg.hidden_size != cfg.exit_dim:
        out["drafter.input_proj.weight"] = state["input_proj.weight"]
        out["drafter.input_proj.bias"] = state["input_proj.bias"]
    for j in range(cfg.num_draft_layers):
        out[f"drafter.layers.{j}.linear.weight"] = state[f"lm_head.{j}.linear.weight"]
        out[f"drafter.layers.{j}.linear.bias"] = state[f"lm_head.{j}.linear.bias"]
    out[HEAD_TENSOR] = drafter.lm_head[-1].weight  # [V', E]; borrowed heads are a buffer, not state
    if cfg.draft_vocab_size:
        out["drafter.draft_vocab"] = state["draft_vocab"]  # [V'] int32: draft id -> base token id
    if cfg.rnn:
        out["drafter.rnn_u.weight"] = state["rnn_u.weight"]
        out["drafter.rnn_u.bias"] = state["rnn_u.bias"]
        out["drafter.rnn_w.weight"] = state["rnn_w.weight"]
    return out


def drafter_rank_weights(drafter_weights: dict[str, torch.Tensor], tp: int, rank: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s share of ``drafter_tensors``: column-parallel rows, the lookup table whole.

    The head [V', E] first gets zero rows up to ``padded_rows(V', tp)``, so any tp splits it; the
    table ``drafter.draft_vocab`` stays [V'] (padded draft ids are never drafted, drafter_module.py).
    """
    out = {}
    for name, w in drafter_weights.items():
        if name == HEAD_TENSOR:
            w = pad_rows(w, padded_rows(w.shape[0], tp))
        out[name] = w if name in REPLICATED_DRAFTER_TENSORS else split_out(w, tp, rank)
    return out


def _cast(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Floating-point weights to the checkpoint dtype; integer tables (draft_vocab) stay as they are.

    copy=True: every tensor gets its own storage (safetensors refuses shared memory).
    """
    target = dtype if weight.is_floating_point() else weight.dtype
    return weight.to(dtype=target, copy=True).contiguous()


def _load_drafter(
    settings: ConvertSettings, spec: BaseModelSpec, src: SafetensorsWeights
) -> tuple[DrafterConfig, str, list[Path], object]:
    """(config, source description, files, loader) without loading weights yet."""
    head_name = "model.embed_tokens.weight" if spec.tie_word_embeddings else "lm_head.weight"
    if settings.drafter is not None:
        path = Path(settings.drafter).expanduser()
        config = read_drafter_config(path)
        files = [path / DRAFTER_CONFIG, path / "model.safetensors"]
        return config, str(path.resolve()), files, lambda: Drafter.load(path, torch.float32, src.get(head_name))

    from trtllm_redrafter.api import shipped_drafter
    from trtllm_redrafter.models import ALIASES

    # only aliases have shipped drafters (ASSETS / "/abs/model/dir" would be the model dir itself)
    shipped = shipped_drafter(settings.model) if settings.model in ALIASES else None
    if shipped is not None:
        config = read_drafter_config(shipped)
        files = [shipped / DRAFTER_CONFIG, shipped / "model.safetensors"]
        source = f"shipped:{shipped.name}"
        return config, source, files, lambda: Drafter.load(shipped, torch.float32, src.get(head_name))
    config = DrafterConfig(spec.vocab_size, spec.hidden_size, exit_dim=spec.hidden_size, lm_head_from_target=True)

    def fresh() -> Drafter:
        return init_drafter(config, seed=settings.seed).attach_target_head(src.get(head_name).float())

    return config, f"fresh-init(seed={settings.seed})", [], fresh


def _existing_checkpoint(out: Path) -> dict | None:
    """None if ``out`` is absent or empty; its config if it is a checkpoint; refuse anything else."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise RedrafterError(f"output {out} exists and is not a directory")
    if not any(out.iterdir()):
        return None
    try:
        return json.loads((out / CONFIG_FILE).read_text())
    except FileNotFoundError as exc:
        raise RedrafterError(
            f"output {out} is not empty and holds no checkpoint (no {CONFIG_FILE}); refusing to write into it: "
            f"choose a new or empty directory"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RedrafterError(
            f"output {out} holds an unreadable {CONFIG_FILE} ({exc}); move it away or choose another directory"
        ) from exc


def _same_checkpoint(out: Path, config: dict, provenance: dict) -> bool:
    try:
        old_prov = json.loads((out / PROVENANCE_FILE).read_text())
        old_config = json.loads((out / CONFIG_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    tp = config["mapping"]["tp_size"]
    ranks = sorted(p.name for p in out.glob("rank*.safetensors"))
    return old_config == config and old_prov == provenance and ranks == sorted(rank_file(r) for r in range(tp))


def _checkpoint_files(out: Path) -> list[Path]:
    return [p for p in [out / CONFIG_FILE, out / PROVENANCE_FILE, *out.glob("rank*.safetensors")] if p.exists()]


def convert_checkpoint(settings: ConvertSettings) -> ConvertResult:
    """Convert, or reuse an identical earlier conversion; see the module docstring."""
    from trtllm_redrafter.files import save_safetensors

    settings.validate()
    out = Path(settings.output_dir).expanduser()
    existing = _existing_checkpoint(out)  # refuses a non-checkpoint directory before any work
    model_dir = resolve_model(settings.model)
    spec = read_base_model(model_dir)
    src = SafetensorsWeights(model_dir)
    check_weights(spec, src)
    drafter_config, drafter_source, drafter_files, load = _load_drafter(settings, spec, src)
    check_compatible(drafter_config, spec.vocab_size, spec.hidden_size, where=f"drafter {drafter_source}")
    tp = settings.tp_size
    check_tensor_parallel(spec, drafter_config, tp)
    if settings.num_beams > drafter_config.head_size:  # the first step's top-k runs over the head's V' rows
        what = "draft vocabulary" if drafter_config.draft_vocab_size else "vocabulary"
        raise RedrafterError(f"num_beams={settings.num_beams} exceeds the {what} ({drafter_config.head_size})")

    config = checkpoint_config(
        spec,
        drafter_config,
        dtype=settings.dtype,
        tp_size=tp,
        num_beams=settings.num_beams,
        draft_len=settings.draft_len,
        greedy=settings.greedy,
        use_parallel_embedding=settings.use_parallel_embedding,
        naming=settings.naming,
    )
    provenance = {
        "tool": "trtllm-redrafter convert",
        "version": __version__,
        "base_model": str(model_dir.resolve()),
        "drafter": drafter_source,
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("output_dir", "overwrite")},
        "source_files": _fingerprint([model_dir / CONFIG_FILE, *src.files(), *drafter_files]),
    }
    if existing is not None:
        if _same_checkpoint(out, config, provenance):
            return ConvertResult(out, reused=True, config=config)
        if not settings.overwrite:
            raise RedrafterError(
                f"output {out} already holds a different checkpoint (architecture "
                f"{existing.get('architecture')!r}); pass --overwrite to replace its checkpoint files"
            )

    drafter = load()
    drafter_weights = drafter_tensors(drafter)
    dtype = getattr(torch, settings.dtype)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for rank in range(tp):
            weights = base_rank_weights(spec, src, tp, rank, settings.use_parallel_embedding)
            weights.update(drafter_rank_weights(drafter_weights, tp, rank))
            weights = {name: _cast(w, dtype) for name, w in weights.items()}
            save_safetensors(weights, tmp / rank_file(rank), metadata={"format": "pt"})
            print(f"[trtllm-redrafter] wrote {rank_file(rank)} ({len(weights)} tensors)", file=sys.stderr)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=4) + "\n")
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        if existing is None:
            out.mkdir(parents=True, exist_ok=True)
        else:
            for old in _checkpoint_files(out):  # --overwrite: only the old checkpoint's own files
                old.unlink()
        for new in tmp.iterdir():
            new.replace(out / new.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ConvertResult(out, reused=False, config=config)
