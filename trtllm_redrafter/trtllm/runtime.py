"""Run a built ReDrafter engine through TensorRT-LLM's C++ runtime (``ModelRunnerCpp``).

``run_trtllm(engine_dir, prompt_token_lists, decode_config)`` returns one dict per prompt, in input
order, with the reference backend's keys (``trtllm_redrafter.api.ReDrafter.result``):

    token_ids   generated ids, EOS included          text   detokenized (cut at a stop string)
    stats       the keys of ``trtllm_redrafter.runtime.decode.stats_of``

The runtime streams: every step of the engine yields each request's tokens so far. The first yield
is the context step (one token, as the reference's prefill); each later yield is one verify step,
so ``steps`` and ``tokens_per_step`` are measured exactly as the reference measures them.
``mean_verified_per_step`` is None: ModelRunnerCpp does not expose the packed tree sizes.

Single-GPU engines run in-process. Tensor-parallel engines need one process per rank (mpirun -n tp),
as every TensorRT-LLM runtime does; this function then runs on every rank and rank 0's result counts.
Our plugin library is loaded before the engine is deserialized (its plugins live in the engine).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.trtllm.availability import trtllm_status
from trtllm_redrafter.trtllm.convert import CONFIG_FILE, PROVENANCE_FILE


def engine_config(engine_dir: str | Path) -> dict:
    """The engine's ``pretrained_config`` (TensorRT-LLM's Engine.save writes config.json)."""
    file = Path(engine_dir) / CONFIG_FILE
    try:
        config = json.loads(file.read_text())
    except FileNotFoundError as exc:
        raise RedrafterError(
            f"{engine_dir} holds no engine (no {CONFIG_FILE}); build one with `trtllm-redrafter build`"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RedrafterError(f"{file} is not valid JSON: {exc}") from exc
    pretrained = config.get("pretrained_config", {})
    if "redrafter_num_beams" not in pretrained:
        raise RedrafterError(f"{engine_dir} is not a ReDrafter engine (no redrafter_num_beams in its config)")
    return pretrained


def check_decode_config(pretrained: dict, decode_config: Any) -> None:
    """The engine fixes nb, draft length and greedy/sampling at build time: refuse a mismatch."""
    if decode_config.mode != "redrafter":
        raise RedrafterError("the TensorRT-LLM backend runs ReDrafter engines only (mode 'redrafter')")
    built = (pretrained["redrafter_num_beams"], pretrained["redrafter_draft_len_per_beam"])
    wanted = (decode_config.num_beams, decode_config.draft_len)
    if built != wanted:
        raise RedrafterError(
            f"the engine was built for nb={built[0]}, draft_len={built[1]}; asked for nb={wanted[0]}, "
            f"draft_len={wanted[1]} (rebuild with `trtllm-redrafter build --num-beams ... --draft-len ...`)"
        )
    temperature = getattr(decode_config, "temperature", 0.0) or 0.0
    if pretrained["redrafter_greedy_search"] and temperature > 0:
        raise RedrafterError("this engine is greedy; build a sampling engine (build --sampling) to sample")
    if not pretrained["redrafter_greedy_search"] and (
        getattr(decode_config, "top_k", 0) or getattr(decode_config, "top_p", 1.0) < 1.0
    ):
        raise RedrafterError("ReDrafter engines sample with temperature only (no top-k / top-p)")


def engine_tokenizer(engine_dir: str | Path, tokenizer_dir: str | Path | None = None) -> Any:
    """The base model's tokenizer: ``tokenizer_dir``, else the base model the engine was built from."""
    from transformers import AutoTokenizer

    if tokenizer_dir is None:
        try:
            tokenizer_dir = json.loads((Path(engine_dir) / PROVENANCE_FILE).read_text()).get("base_model")
        except (FileNotFoundError, json.JSONDecodeError, AttributeError):
            tokenizer_dir = None
        if tokenizer_dir is None:
            raise RedrafterError(f"{engine_dir} does not name its base model; pass tokenizer_dir")
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def default_eos_ids(tokenizer: Any) -> tuple[int, ...]:
    """The tokenizer's EOS plus the chat template's end-of-turn token (as ``api.eos_ids``, without a model)."""
    from trtllm_redrafter.api import CHAT_END_TOKENS

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab, template = tokenizer.get_vocab(), tokenizer.chat_template or ""
    ids.update(vocab[t] for t in CHAT_END_TOKENS if t in vocab and t in template)
    return tuple(sorted(ids))


def run_trtllm(
    engine_dir: str | Path,
    prompt_token_lists: list[list[int]],
    decode_config: Any,
    *,
    tokenizer_dir: str | Path | None = None,
    plugin_library: str | None = None,
) -> list[dict]:
    """Generate with a built engine; see the module docstring."""
    from dataclasses import replace

    from trtllm_redrafter.runtime.decode import RowState, stats_of

    if getattr(decode_config, "lookup_ngram", 0):  # the engine graph verifies the drafter's beams only
        decode_config = replace(decode_config, lookup_ngram=0)  # (the lookup beam: docs/lookup.md, section 5)
    engine_dir = Path(engine_dir)
    status = trtllm_status()
    if not status.available:
        raise RedrafterError(status.message)
    pretrained = engine_config(engine_dir)
    decode_config.validate()
    check_decode_config(pretrained, decode_config)
    if not prompt_token_lists or any(len(p) == 0 for p in prompt_token_lists):
        raise RedrafterError("give at least one prompt, and no empty prompt")

    import tensorrt_llm
    import torch
    from tensorrt_llm.runtime import ModelRunnerCpp

    from trtllm_redrafter.ops.plugins import load_plugin_library

    load_plugin_library(plugin_library)
    tokenizer = engine_tokenizer(engine_dir, tokenizer_dir)
    eos = tuple(decode_config.eos_token_ids) or default_eos_ids(tokenizer)
    runner = ModelRunnerCpp.from_dir(engine_dir=str(engine_dir), rank=tensorrt_llm.mpi_rank())
    kwargs: dict[str, Any] = {}
    temperature = getattr(decode_config, "temperature", 0.0) or 0.0
    if temperature > 0:
        kwargs["temperature"] = temperature
        kwargs["random_seed"] = getattr(decode_config, "seed", 0)

    rows = [RowState() for _ in prompt_token_lists]
    seen = [0] * len(rows)  # generated tokens so far, per row
    t0 = time.perf_counter()
    first_token_at: list[float | None] = [None] * len(rows)
    outputs = runner.generate(
        [torch.tensor(p, dtype=torch.int32) for p in prompt_token_lists],
        max_new_tokens=decode_config.max_new_tokens,
        end_id=eos[0] if eos else -1,  # the runtime stops at one id; _cut applies the others
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0),
        streaming=True,
        return_dict=True,
        output_sequence_lengths=True,
        **kwargs,
    )
    final = None
    for final in outputs:
        now = time.perf_counter()
        lengths = final["sequence_lengths"][:, 0].tolist()  # prompt + generated, per row
        for b, (row, prompt) in enumerate(zip(rows, prompt_token_lists)):
            new = lengths[b] - len(prompt)
            if new <= seen[b]:
                continue
            if first_token_at[b] is None:
                first_token_at[b] = now
                row.prefill_s = now - t0
            else:  # one verify step of the engine for this row
                row.steps += 1
                row.accepted.append(new - seen[b])
                row.decode_s = now - first_token_at[b]
            seen[b] = new
    if final is None:
        raise RedrafterError("the TensorRT-LLM runtime returned no output")

    results = []
    for b, (row, prompt) in enumerate(zip(rows, prompt_token_lists)):
        ids = final["output_ids"][b, 0, len(prompt) : len(prompt) + seen[b]].tolist()
        row.token_ids, row.stop_reason = _cut(ids, eos, decode_config.max_new_tokens)
        text = tokenizer.decode(row.token_ids, skip_special_tokens=True)
        for stop in getattr(decode_config, "stop_strings", ()):
            if stop in text:
                text, row.stop_reason = text[: text.index(stop)], "stop_string"
        stats = stats_of(row, decode_config.max_tree_tokens)
        stats["mean_verified_per_step"] = None  # not observable through ModelRunnerCpp
        results.append({"token_ids": row.token_ids, "text": text, "stats": stats})
    return results


def _cut(ids: list[int], eos: tuple[int, ...], max_new_tokens: int) -> tuple[list[int], str]:
    """Trim at the first EOS (kept), as the reference does; the runtime stops at eos[0] only."""
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1], "eos"
    return ids[:max_new_tokens], "length"
