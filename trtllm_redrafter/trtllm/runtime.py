"""Run a built ReDrafter engine through TensorRT-LLM's C++ runtime (the executor of ``ModelRunnerCpp``).

``run_trtllm(engine_dir, prompt_token_lists, decode_config)`` returns one dict per prompt, in input
order, with the reference backend's keys (``trtllm_redrafter.api.ReDrafter.result``):

    token_ids   generated ids, EOS included          text   detokenized (cut at a stop string)
    stats       the keys of ``trtllm_redrafter.runtime.decode.stats_of``

The engine fixes nb, the draft length and greedy-or-sampling; ``engine_decode_config`` takes them
from the engine's config unless the user set them (then they must match). ``ModelRunnerCpp.from_dir``
sets the executor up; the requests go to its executor directly, streamed, so that every response
carries ``Result.decoding_iter``, the executor's own count of the engine iterations behind the
request's tokens (cpp/include/tensorrt_llm/executor/executor.h @ 0165bd7a). Steps and
``tokens_per_step`` come from that count: one response can cover several iterations, so counting
responses would overstate the tokens per step. ``mean_verified_per_step`` is None: the executor
does not expose the packed tree sizes.

Single-GPU engines run in-process. Tensor-parallel engines need one process per rank (mpirun -n tp),
as every TensorRT-LLM runtime does; this function then runs on every rank and rank 0's result counts.
Our plugin library is loaded before the engine is deserialized (its plugins live in the engine).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.decode import RowState, stats_of
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


def engine_decode_config(pretrained: dict, decode_config: Any, given: frozenset[str] = frozenset()) -> Any:
    """The decode settings a built engine runs: nb and draft length from the engine unless ``given``.

    The engine fixes nb, the draft length and greedy-or-sampling at build time. A beam-shape field
    the user set (named in ``given``) must equal the engine's; the others are taken from it. A greedy
    engine refuses a temperature; a sampling engine needs one > 0 (T = 0 would be 1/0 in its
    ``redrafter_inverted_temperature``), and samples with temperature only.
    """
    from dataclasses import replace

    if decode_config.mode != "redrafter":
        raise RedrafterError("the TensorRT-LLM backend runs ReDrafter engines only (mode 'redrafter')")
    built = {"num_beams": pretrained["redrafter_num_beams"], "draft_len": pretrained["redrafter_draft_len_per_beam"]}
    wrong = {k: getattr(decode_config, k) for k in given if getattr(decode_config, k) != built[k]}
    if wrong:
        asked = ", ".join(f"{k}={v}" for k, v in sorted(wrong.items()))
        raise RedrafterError(
            f"the engine was built for nb={built['num_beams']}, draft_len={built['draft_len']}; asked for {asked} "
            "(omit the option to use the engine's, or rebuild with `trtllm-redrafter build --num-beams/--draft-len`)"
        )
    temperature = getattr(decode_config, "temperature", 0.0) or 0.0
    if pretrained["redrafter_greedy_search"]:
        if temperature > 0:
            raise RedrafterError("this engine is greedy; build a sampling engine (build --sampling) to sample")
    elif temperature <= 0:
        raise RedrafterError(
            "this engine samples (built with --sampling): pass --temperature > 0, or build a greedy engine for T = 0"
        )
    elif getattr(decode_config, "top_k", 0) or getattr(decode_config, "top_p", 1.0) < 1.0:
        raise RedrafterError("ReDrafter engines sample with temperature only (no top-k / top-p)")
    return replace(decode_config, **built)


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


@dataclass
class RequestStream:
    """One request's streamed output and speed figures, from the executor's responses."""

    row: RowState = field(default_factory=RowState)
    tokens: list[int] = field(default_factory=list)
    first_token_at: float | None = None
    final: bool = False

    def add(self, new_tokens: list[int], decoding_iter: int, is_final: bool, now: float, start: float) -> None:
        """One streamed response: the tokens new since the last one, and ``Result.decoding_iter``.

        ``decoding_iter`` counts the engine iterations that produced this request's tokens so far
        (executor.h: "used for speculative decoding statistics"): the context step, then one per
        verify step. One response can cover several iterations (the executor merges them when the
        reader falls behind), so steps come from that count, never from the number of responses.
        """
        first = self.first_token_at is None and bool(new_tokens)
        if first:
            self.first_token_at = now
            self.row.prefill_s = now - start
        self.tokens += new_tokens
        drafted = len(new_tokens) - int(first)  # tokens of verify steps (the first token is the context step's)
        if drafted > 0:
            self.row.accepted.append(drafted)
        self.row.steps = max(decoding_iter - 1, 0)
        if self.row.steps and self.first_token_at is not None:
            self.row.decode_s = now - self.first_token_at
        self.final = self.final or is_final


def runner_executor(runner: Any) -> Any:
    """The ``tensorrt_llm.bindings.executor.Executor`` a ``ModelRunnerCpp`` holds. Versions name the
    attribute differently: ``self.executor`` (NVIDIA/TensorRT-LLM tensorrt_llm/runtime/model_runner_cpp.py
    @ 03832911) or ``self.session`` (the same file in a 0.20-era tree, Ataraksia/TensorRT-LLM @ 03b5e999,
    ``ModelRunnerCpp.__init__``: ``self.session = executor``). Both are tried; neither is one clear error."""
    for name in ("executor", "session"):
        candidate = getattr(runner, name, None)
        if candidate is not None and hasattr(candidate, "enqueue_requests"):
            return candidate
    raise RedrafterError(
        "this TensorRT-LLM's ModelRunnerCpp holds no executor (neither .executor nor .session has "
        "enqueue_requests); see docs/trtllm.md for the supported releases"
    )


def stream_requests(executor: Any, requests: list, start: float) -> list[RequestStream]:
    """Enqueue ``requests`` on a TensorRT-LLM ``Executor`` and read their streamed responses to the end."""
    ids = list(executor.enqueue_requests(requests))
    streams = {request_id: RequestStream() for request_id in ids}
    while not all(stream.final for stream in streams.values()):
        for response in executor.await_responses():
            if response.has_error():
                raise RedrafterError(f"the TensorRT-LLM runtime failed: {response.error_msg}")
            result = response.result
            streams[response.request_id].add(
                list(result.output_token_ids[0]), result.decoding_iter, result.is_final, time.perf_counter(), start
            )
    return [streams[request_id] for request_id in ids]


def executor_requests(prompts: list[list[int]], decode_config: Any, end_id: int, pad_id: int, sampling: bool) -> list:
    """One streaming ``tensorrt_llm.bindings.executor.Request`` per prompt (as ModelRunnerCpp.generate builds them).

    A sampling engine gets its temperature and seed explicitly; a greedy engine reads neither.
    """
    from tensorrt_llm.bindings import executor as trtllm

    if sampling:
        config = trtllm.SamplingConfig(beam_width=1, temperature=decode_config.temperature, seed=decode_config.seed)
    else:
        config = trtllm.SamplingConfig(beam_width=1)
    return [
        trtllm.Request(
            input_token_ids=prompt,
            max_tokens=decode_config.max_new_tokens,
            pad_id=pad_id,
            end_id=end_id,
            streaming=True,
            sampling_config=config,
        )
        for prompt in prompts
    ]


def run_trtllm(
    engine_dir: str | Path,
    prompt_token_lists: list[list[int]],
    decode_config: Any,
    *,
    given: frozenset[str] = frozenset(),
    tokenizer_dir: str | Path | None = None,
    plugin_library: str | None = None,
) -> list[dict]:
    """Generate with a built engine; see the module docstring. ``given``: see ``engine_decode_config``."""
    from dataclasses import replace

    if getattr(decode_config, "lookup_ngram", 0):  # the engine graph verifies the drafter's beams only
        decode_config = replace(decode_config, lookup_ngram=0)  # (the lookup beam: docs/lookup.md, section 5)
    engine_dir = Path(engine_dir)
    status = trtllm_status()
    if not status.available:
        raise RedrafterError(status.message)
    pretrained = engine_config(engine_dir)
    decode_config.validate()
    decode_config = engine_decode_config(pretrained, decode_config, given)
    if not prompt_token_lists or any(len(p) == 0 for p in prompt_token_lists):
        raise RedrafterError("give at least one prompt, and no empty prompt")

    import tensorrt_llm
    from tensorrt_llm.runtime import ModelRunnerCpp

    from trtllm_redrafter.ops.plugins import load_plugin_library

    load_plugin_library(plugin_library)
    tokenizer = engine_tokenizer(engine_dir, tokenizer_dir)
    eos = tuple(decode_config.eos_token_ids) or default_eos_ids(tokenizer)
    runner = ModelRunnerCpp.from_dir(engine_dir=str(engine_dir), rank=tensorrt_llm.mpi_rank())
    executor = runner_executor(runner)
    end_id = eos[0] if eos else -1  # the runtime stops at one id; _cut applies the others
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    sampling = not pretrained["redrafter_greedy_search"]
    requests = executor_requests(prompt_token_lists, decode_config, end_id, pad_id, sampling)
    streams = stream_requests(executor, requests, time.perf_counter())

    results = []
    for stream in streams:
        row = stream.row
        row.token_ids, row.stop_reason = _cut(stream.tokens, eos, decode_config.max_new_tokens)
        text = tokenizer.decode(row.token_ids, skip_special_tokens=True)
        for stop in getattr(decode_config, "stop_strings", ()):
            if stop in text:
                text, row.stop_reason = text[: text.index(stop)], "stop_string"
        stats = stats_of(row, decode_config.max_tree_tokens)
        stats["mean_verified_per_step"] = None  # not observable through the executor
        results.append({"token_ids": row.token_ids, "text": text, "stats": stats})
    return results


def _cut(ids: list[int], eos: tuple[int, ...], max_new_tokens: int) -> tuple[list[int], str]:
    """Trim at the first EOS (kept), as the reference does; the runtime stops at eos[0] only."""
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1], "eos"
    return ids[:max_new_tokens], "length"
