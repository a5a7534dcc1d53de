"""Checkpoint -> TensorRT engine(s), with our plugin library loaded (needs TensorRT-LLM and a GPU).

Per rank r < tp_size: the config class of the base model (LLaMAConfig / QWenConfig) reads our
``config.json``; ``ReDrafter<Base>.from_checkpoint`` loads ``rank{r}.safetensors``; TensorRT-LLM's
``tensorrt_llm.builder.build(model, BuildConfig)`` builds it (that function switches to the
explicit_draft_tokens mode and sets max_draft_len = nb * dl when the config has redrafter_* fields,
see tensorrt_llm/builder.py) and ``Engine.save`` writes ``config.json`` + ``rank{r}.engine``.

The engine directory also receives ``trtllm_redrafter.json`` (the base model directory, for the
tokenizer, the plugin library used, and ``serve_env``: the LD_PRELOAD that any other process loading
the engines needs, see ``serving_environment``). Like the converter, the builder never writes into a
directory that holds anything but an earlier engine, and replaces an engine only with --overwrite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.trtllm.convert import CONFIG_FILE, PROVENANCE_FILE
from trtllm_redrafter.trtllm.hf_model import SUPPORTED_ARCHITECTURES


@dataclass
class BuildSettings:
    max_batch_size: int = 8
    max_input_len: int = 1024
    max_seq_len: int = 2048  # prompt + generated tokens; TensorRT-LLM adds max_draft_len itself
    max_num_tokens: int | None = None  # None: TensorRT-LLM's default
    paged_kv_cache: bool = True
    plugin_library: str | None = None  # None: $TRTLLM_REDRAFTER_PLUGIN_LIB, else plugins/build/

    def validate(self) -> None:
        for name in ("max_batch_size", "max_input_len", "max_seq_len"):
            if getattr(self, name) < 1:
                raise RedrafterError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_input_len > self.max_seq_len:
            raise RedrafterError(f"max_input_len ({self.max_input_len}) exceeds max_seq_len ({self.max_seq_len})")
        if self.max_num_tokens is not None and self.max_num_tokens < 1:
            raise RedrafterError(f"max_num_tokens must be >= 1, got {self.max_num_tokens}")


def read_checkpoint_config(checkpoint_dir: str | Path) -> dict:
    """A ReDrafter checkpoint's config.json, refusing anything else."""
    file = Path(checkpoint_dir) / CONFIG_FILE
    try:
        config = json.loads(file.read_text())
    except FileNotFoundError as exc:
        raise RedrafterError(f"{checkpoint_dir} is not a TensorRT-LLM checkpoint (no {CONFIG_FILE})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RedrafterError(f"{file} is not valid JSON: {exc}") from exc
    base = config.get("base_model_architecture")
    if "redrafter_num_beams" not in config or base not in SUPPORTED_ARCHITECTURES:
        raise RedrafterError(
            f"{checkpoint_dir} is not a ReDrafter checkpoint over {', '.join(SUPPORTED_ARCHITECTURES)} "
            f"(base_model_architecture={base!r}); create one with `trtllm-redrafter convert`"
        )
    tp = config.get("mapping", {}).get("tp_size", 1)
    missing = [
        f"rank{r}.safetensors" for r in range(tp) if not (Path(checkpoint_dir) / f"rank{r}.safetensors").is_file()
    ]
    if missing:
        raise RedrafterError(f"checkpoint {checkpoint_dir} lacks {', '.join(missing)}")
    return config


def check_engine_dir(engine_dir: str | Path, overwrite: bool) -> None:
    """Refuse a directory holding anything but an engine, and an engine unless ``overwrite``."""
    out = Path(engine_dir)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not out.is_dir():
        raise RedrafterError(f"engine output {out} exists and is not a directory")
    if not (out / CONFIG_FILE).is_file() or not any(out.glob("rank*.engine")):
        raise RedrafterError(f"engine output {out} is not empty and holds no engine; choose a new or empty directory")
    if not overwrite:
        raise RedrafterError(f"engine output {out} already holds an engine; pass --overwrite to replace it")


def serving_environment(library: str | Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment setting a process needs to deserialize our engines without our Python code
    (trtllm-serve and TensorRT-LLM's executor workers, Triton's tensorrtllm backend): LD_PRELOAD with
    the plugin library first. A preloaded library registers its creators in namespace
    "trtllm_redrafter" as the process starts (plugins/tensorrt/plugin_registration.h). Entries already
    in ``environ``'s LD_PRELOAD are kept after it.

    The engine cannot carry the library itself: TensorRT serializes plugin libraries "with
    version-compatible engines" only (IBuilderConfig::setPluginsToSerialize, NvInfer.h, NVIDIA/TensorRT
    v10.13.3 @ 94e2b9ef), whose deserialization needs IRuntime::setEngineHostCodeAllowed(true)
    (samples/common/sampleEngines.cpp, same commit). TensorRT-LLM builds no such engine
    (tensorrt_llm/builder.py @ 008b2b8d: Builder.create_builder_config never sets
    BuilderFlag.VERSION_COMPATIBLE) and its runtime never allows host code
    (cpp/tensorrt_llm/runtime/tllmRuntime.cpp @ 0165bd7a: TllmRuntime's constructor calls
    createInferRuntime, then deserializeCudaEngine).
    """
    environ = os.environ if environ is None else environ
    first = Path(library).resolve()

    def same(entry: str) -> bool:  # an entry naming the library already (by path, or by file name)
        return Path(entry).resolve() == first if "/" in entry else entry == first.name

    others = [e for e in re.split(r"[: ]", environ.get("LD_PRELOAD", "")) if e and not same(e)]
    return {"LD_PRELOAD": ":".join([str(first), *others])}


def build_engines(
    checkpoint_dir: str | Path, engine_dir: str | Path, settings: BuildSettings, overwrite: bool = False
) -> Path:
    """Build one engine per rank into ``engine_dir``; returns it."""
    from tensorrt_llm.builder import BuildConfig, build
    from tensorrt_llm.models.modeling_utils import SpeculativeDecodingMode

    from trtllm_redrafter.ops.plugins import load_plugin_library, plugin_library_path
    from trtllm_redrafter.trtllm.drafter_module import borrows_base_lm_head
    from trtllm_redrafter.trtllm.network import _kv_cache_type, redrafter_model_class

    settings.validate()
    config = read_checkpoint_config(checkpoint_dir)
    check_engine_dir(engine_dir, overwrite)
    try:
        library = plugin_library_path(settings.plugin_library)
    except FileNotFoundError as exc:
        raise RedrafterError(str(exc)) from exc
    load_plugin_library(library)

    model_cls = redrafter_model_class(config["base_model_architecture"])
    borrowed = borrows_base_lm_head(
        config.get("redrafter_lm_head_from_target", False), config.get("redrafter_draft_vocab_size", 0)
    )

    def drop_borrowed_head(weights: dict) -> dict:
        # the network uses the base lm_head; the checkpoint keeps a copy for stock TensorRT-LLM.
        # A reduced draft vocabulary keeps it: the drafter owns those [V', E] rows of the base head.
        return {k: v for k, v in weights.items() if not (borrowed and k == "drafter.lm_head.weight")}

    out = Path(engine_dir)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for rank in range(config["mapping"]["tp_size"]):
            rank_config = model_cls.config_class(**json.loads(json.dumps(config)))
            rank_config.set_rank(rank)
            model = model_cls.from_checkpoint(
                str(checkpoint_dir), rank=rank, config=rank_config, preprocess_weights_hook=drop_borrowed_head
            )
            build_config = BuildConfig(
                max_batch_size=settings.max_batch_size,
                max_input_len=settings.max_input_len,
                max_seq_len=settings.max_seq_len,
                max_beam_width=1,
                kv_cache_type=_kv_cache_type(settings.paged_kv_cache),
                speculative_decoding_mode=SpeculativeDecodingMode.EXPLICIT_DRAFT_TOKENS,
                max_draft_len=config["redrafter_num_beams"] * config["redrafter_draft_len_per_beam"],
            )
            if settings.max_num_tokens is not None:
                build_config.max_num_tokens = settings.max_num_tokens
            build_config.plugin_config.gemm_plugin = "auto"  # the model dtype
            build_config.plugin_config.remove_input_padding = True  # ReDrafter needs packed inputs
            engine = build(model, build_config)
            engine.save(str(tmp))
            print(f"[trtllm-redrafter] built rank{rank}.engine", file=sys.stderr)
        provenance = {
            "checkpoint": str(Path(checkpoint_dir).resolve()),
            "base_model": _base_model_of(checkpoint_dir),
            "plugin_library": str(library),
            "serve_env": serving_environment(library, environ={}),
            "settings": asdict(settings),
        }
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        for old in [out / CONFIG_FILE, out / PROVENANCE_FILE, *out.glob("rank*.engine")]:
            if old.exists():
                old.unlink()
        for new in tmp.iterdir():
            new.replace(out / new.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    preload = serving_environment(library, environ={})["LD_PRELOAD"]
    print(f"[trtllm-redrafter] any other process that loads {out} needs LD_PRELOAD={preload}", file=sys.stderr)
    return out


def _base_model_of(checkpoint_dir: str | Path) -> str | None:
    try:
        return json.loads((Path(checkpoint_dir) / PROVENANCE_FILE).read_text()).get("base_model")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
