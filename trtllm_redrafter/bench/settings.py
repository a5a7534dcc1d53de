"""What ``trtllm-redrafter bench`` runs: the method names, their speedup baselines and the settings.

Its own module so that the run (``run.py``) and the method adapters (``methods.py``) both read it
without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.models import DEFAULT_MODEL

METHODS = ("hf", "redrafter", "redrafter_lookup", "prompt_lookup", "assisted", "llamacpp", "trtllm")
BASELINES = {"trtllm": "trtllm_base", "trtllm_base": None}  # speedup reference; every other method: "hf"
DEFAULT_BASELINE = "hf"


@dataclass
class BenchSettings:
    dataset: Path
    out: Path
    methods: tuple[str, ...] = METHODS
    model: str = DEFAULT_MODEL
    dtype: str = "bfloat16"
    drafter: str | None = None
    drafter_seed: int = 0
    num_beams: int = 8
    draft_len: int = 4
    max_new_tokens: int | None = None  # None: each request's output_tokens
    repeats: int = 1
    warmup: int = 1
    prompt_lookup_tokens: int = 10
    lookup_ngram: int = 3  # redrafter_lookup (and the sweep with sweep_lookup): the lookup beam's n-gram
    lookup_len: int = 0  # its drafted tokens (0 = draft_len)
    sweep_lookup: bool = False  # the sweep verifies the lookup beam too
    assistant: str | None = None
    gguf: str | None = None
    engine: str | None = None
    base_engine: str | None = None
    threads: int | None = None
    device: str = "auto"  # devices.py; every torch method runs there (llama.cpp stays on the CPU)
    sweep: bool = False
    sweep_beams: tuple[int, ...] = (1, 2, 4, 8)
    sweep_draft_lens: tuple[int, ...] = (1, 2, 3, 4, 5)

    def validate(self) -> None:
        if not self.methods:
            raise RedrafterError("give at least one method")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise RedrafterError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        for name in ("repeats", "num_beams", "draft_len", "prompt_lookup_tokens", "lookup_ngram"):
            if getattr(self, name) < 1:
                raise RedrafterError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise RedrafterError(f"--warmup must be >= 0, got {self.warmup}")
        if self.lookup_len < 0:
            raise RedrafterError(f"--lookup-len must be >= 0 (0 = draft-len), got {self.lookup_len}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise RedrafterError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.threads is not None and self.threads < 1:
            raise RedrafterError(f"--threads must be >= 1, got {self.threads}")
        if self.sweep and (
            not self.sweep_beams or not self.sweep_draft_lens or min(self.sweep_beams + self.sweep_draft_lens) < 1
        ):
            raise RedrafterError("--sweep-beams and --sweep-draft-lens must be non-empty lists of integers >= 1")


def parse_list(text: str, flag: str, cast: Callable[[str], Any] = int) -> tuple:
    """'1,2,4' -> (1, 2, 4); duplicates dropped, order kept."""
    try:
        items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise RedrafterError(f"{flag} must be a comma-separated list, got {text!r}") from exc
    return tuple(dict.fromkeys(items))
