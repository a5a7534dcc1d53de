"""The decoders ``bench`` compares, each behind one call: ``generate(prompt_ids, max_new_tokens)``.

Each returns a ``Generation``: the token ids (EOS kept, as the reference runtime keeps it) and the
times it measured itself with ``time.perf_counter``:

    hf, prompt_lookup, assisted   transformers ``generate(do_sample=False, ...)``; a streamer notes
                                  when tokens arrive, a forward pre-hook counts target forwards
    redrafter                     the reference ``Decoder``: prefill and decode time, accepted per step
    llamacpp                      llama-cpp-python's token generator, greedy, timed per token
    trtllm, trtllm_base           TensorRT-LLM engines (ReDrafter through ``trtllm.runtime.run_trtllm``)

``build_methods`` turns the requested names into runnable methods and records, for every method
that cannot run here, why (a package, a model, an engine or a GPU is missing).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from trtllm_redrafter.bench.settings import BenchSettings
from trtllm_redrafter.errors import RedrafterError


@dataclass
class Generation:
    """One timed decode of one prompt by one method."""

    token_ids: list[int]
    total_s: float  # the whole call
    ttft_s: float | None  # call start -> first emitted token(s)
    decode_s: float | None  # first emission -> last emission
    first_tokens: int = 1  # tokens in the first emission (assisted generation may emit several)
    steps: int | None = None  # target forwards after the first emission
    accepted: list[int] | None = None  # tokens per step, bonus included (ReDrafter)
    verified: int | None = None  # packed tree tokens verified over all steps (ReDrafter)
    nb_x_bl: int | None = None


class Method(Protocol):
    name: str

    def generate(self, prompt_ids: list[int], max_new_tokens: int) -> Generation: ...


def trim_at_eos(tokens: list[int], eos: tuple[int, ...]) -> list[int]:
    for i, token in enumerate(tokens):
        if token in eos:
            return tokens[: i + 1]
    return tokens


class _TokenClock:
    """A transformers streamer (``put`` / ``end``) that only notes when tokens arrive; the first put is the prompt."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.counts: list[int] = []
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())
        self.counts.append(int(value.numel()))

    def end(self) -> None:
        pass


class HFGenerate:
    """transformers ``generate`` (greedy; prompt lookup or an assistant model via ``extra``)."""

    def __init__(self, name: str, model, eos: tuple[int, ...], **extra: Any) -> None:
        self.name = name
        self.model = model
        self.eos = eos
        self.extra = extra
        self._forwards = 0

    def _count(self, *_: Any) -> None:
        self._forwards += 1

    def generate(self, prompt_ids: list[int], max_new_tokens: int) -> Generation:
        clock = _TokenClock()
        input_ids = torch.tensor([prompt_ids], device=self.model.device)
        self._forwards = 0
        hook = self.model.register_forward_pre_hook(self._count)  # the target only: an assistant is another module
        try:
            start = time.perf_counter()
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                eos_token_id=list(self.eos) or None,
                pad_token_id=self.eos[0] if self.eos else 0,
                streamer=clock,
                **self.extra,
            )
            total = time.perf_counter() - start
        finally:
            hook.remove()
        tokens = trim_at_eos(out[0, len(prompt_ids) :].tolist(), self.eos)
        if not clock.times:
            return Generation(tokens, total, None, None)
        return Generation(
            tokens,
            total,
            ttft_s=clock.times[0] - start,
            decode_s=clock.times[-1] - clock.times[0],
            first_tokens=clock.counts[0],
            steps=self._forwards - 1 if self._forwards > 0 else None,
        )


class ReDrafterMethod:
    """The reference backend; ``decode.Decoder`` measures prefill and decode time itself."""

    def __init__(self, rd, config, name: str = "redrafter") -> None:
        self.name = name
        self.rd = rd
        self.config = config

    def generate(self, prompt_ids: list[int], max_new_tokens: int) -> Generation:
        decoder = self.rd.decoder(replace(self.config, max_new_tokens=max_new_tokens))
        start = time.perf_counter()
        row = decoder.generate([prompt_ids])[0]
        total = time.perf_counter() - start
        return Generation(
            token_ids=list(row.token_ids),
            total_s=total,
            ttft_s=row.prefill_s,
            decode_s=row.decode_s if row.steps else None,
            steps=row.steps,
            accepted=list(row.accepted),
            verified=row.verified,
            nb_x_bl=decoder.config.max_tree_tokens,
        )


class LlamaCppMethod:
    """llama-cpp-python, greedy (temperature 0, top-k 1), on a GGUF file; no prefix reuse."""

    name = "llamacpp"

    def __init__(self, llm, eos: tuple[int, ...]) -> None:
        self.llm = llm
        self.eos = eos

    def generate(self, prompt_ids: list[int], max_new_tokens: int) -> Generation:
        self.llm.reset()  # n_tokens = 0: generate() must not reuse the previous prompt's KV cache
        tokens: list[int] = []
        times: list[float] = []
        start = time.perf_counter()
        for token in self.llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            times.append(time.perf_counter())
            tokens.append(int(token))
            if token in self.eos or len(tokens) >= max_new_tokens:
                break
        total = time.perf_counter() - start
        if not times:
            return Generation(tokens, total, None, None)
        return Generation(tokens, total, times[0] - start, times[-1] - times[0], steps=len(tokens) - 1)


class TrtllmReDrafter:
    """A ReDrafter engine through ``trtllm.runtime.run_trtllm`` (its stats give the timings)."""

    name = "trtllm"

    def __init__(self, engine: str, eos: tuple[int, ...]) -> None:
        from trtllm_redrafter.runtime.decode import DecodeConfig
        from trtllm_redrafter.trtllm.runtime import engine_config

        built = engine_config(engine)
        self.engine = engine
        self.config = DecodeConfig(
            num_beams=built["redrafter_num_beams"],
            draft_len=built["redrafter_draft_len_per_beam"],
            eos_token_ids=eos,
        )

    def generate(self, prompt_ids: list[int], max_new_tokens: int) -> Generation:
        from trtllm_redrafter.trtllm.runtime import run_trtllm

        result = run_trtllm(self.engine, [prompt_ids], replace(self.config, max_new_tokens=max_new_tokens))[0]
        stats, tokens = result["stats"], result["token_ids"]
        rate = stats["decode_tokens_per_s"]
        decode_s = (len(tokens) - 1) / rate if rate else None
        ttft = stats["time_to_first_token_s"]
        return Generation(
            tokens, ttft + (decode_s or 0.0), ttft, decode_s, steps=stats["steps"], nb_x_bl=stats["nb_x_bl"]
        )


class TrtllmBase:
    """The base engine (no ReDrafter) through TensorRT-LLM's ModelRunnerCpp, streamed like run_trtllm."""

    name = "trtllm_base"

    def __init__(self, engine: str, eos: tuple[int, ...], pad_id: int) -> None:
        import tensorrt_llm
        from tensorrt_llm.runtime import ModelRunnerCpp

        self.runner = ModelRunnerCpp.from_dir(engine_dir=str(engine), rank=tensorrt_llm.mpi_rank())
        self.eos = eos
        self.pad_id = pad_id

    def generate(self, prompt_ids: list[int], max_new_tokens: int) -> Generation:
        times: list[float] = []
        seen, final = 0, None
        start = time.perf_counter()
        for final in self.runner.generate(
            [torch.tensor(prompt_ids, dtype=torch.int32)],
            max_new_tokens=max_new_tokens,
            end_id=self.eos[0] if self.eos else -1,
            pad_id=self.pad_id,
            streaming=True,
            return_dict=True,
            output_sequence_lengths=True,
        ):
            new = int(final["sequence_lengths"][0, 0]) - len(prompt_ids)
            if new > seen:
                times.append(time.perf_counter())
                seen = new
        total = time.perf_counter() - start
        if final is None or not times:
            raise RedrafterError("the TensorRT-LLM runtime returned no output")
        ids = final["output_ids"][0, 0, len(prompt_ids) : len(prompt_ids) + seen].tolist()
        ttft, decode_s = times[0] - start, times[-1] - times[0]
        return Generation(trim_at_eos(ids, self.eos), total, ttft, decode_s, steps=len(times) - 1)


# ---- building the methods ------------------------------------------------------------------


@dataclass
class LoadedTarget:
    model: Any
    tokenizer: Any
    eos: tuple[int, ...]
    rd: Any = None  # ReDrafter, when redrafter or the sweep runs


@dataclass
class MethodSet:
    runnable: list[Method] = field(default_factory=list)
    status: dict[str, dict] = field(default_factory=dict)  # name -> {"status": ran|skipped|failed, "reason"}

    def skip(self, name: str, reason: str) -> None:
        print(f"[bench] skipping {name}: {reason}", file=sys.stderr)
        self.status[name] = {"status": "skipped", "reason": reason}

    def add(self, method: Method, **info: Any) -> None:
        self.runnable.append(method)
        self.status[method.name] = {"status": "ran", **info}

    def fail(self, method: Method, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        print(f"[bench] {method.name} failed and is dropped: {reason}", file=sys.stderr)
        self.runnable.remove(method)
        self.status[method.name] = {"status": "failed", "reason": reason}


def load_target(settings: BenchSettings) -> LoadedTarget:
    from trtllm_redrafter.api import ReDrafter, eos_ids
    from trtllm_redrafter.devices import resolve_device
    from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model

    if {"redrafter", "redrafter_lookup"} & set(settings.methods) or settings.sweep:
        rd = ReDrafter.load(settings.model, settings.drafter, settings.dtype, settings.drafter_seed, settings.device)
        return LoadedTarget(rd.model, rd.tokenizer, rd.eos_token_ids, rd)
    model, tokenizer = load_target_model(resolve_model(settings.model), parse_dtype(settings.dtype))
    return LoadedTarget(model.to(resolve_device(settings.device)), tokenizer, eos_ids(model, tokenizer))


def build_methods(settings: BenchSettings, target: LoadedTarget, context_tokens: int) -> MethodSet:
    """Every requested method that can run here; the others are recorded with the reason."""
    from trtllm_redrafter.runtime.decode import DecodeConfig

    methods = MethodSet()
    for name in settings.methods:
        if name == "hf":
            methods.add(HFGenerate("hf", target.model, target.eos))
        elif name in ("redrafter", "redrafter_lookup"):  # the drafter's beams, then plus the lookup beam
            lookup = settings.lookup_ngram if name == "redrafter_lookup" else 0
            config = DecodeConfig(
                num_beams=settings.num_beams,
                draft_len=settings.draft_len,
                lookup_ngram=lookup,
                lookup_len=settings.lookup_len if lookup else 0,
            )
            config.validate()
            methods.add(
                ReDrafterMethod(target.rd, config, name=name),
                drafter=target.rd.drafter_source,
                num_beams=settings.num_beams,
                draft_len=settings.draft_len,
                lookup_ngram=lookup,
                lookup_len=config.lookup_len,
            )
        elif name == "prompt_lookup":
            n = settings.prompt_lookup_tokens
            methods.add(HFGenerate(name, target.model, target.eos, prompt_lookup_num_tokens=n), lookup_tokens=n)
        elif name == "assisted":
            _add_assisted(methods, settings, target)
        elif name == "llamacpp":
            _add_llamacpp(methods, settings, target, context_tokens)
        elif name == "trtllm":
            _add_trtllm(methods, settings, target)
    return methods


def _add_assisted(methods: MethodSet, settings: BenchSettings, target: LoadedTarget) -> None:
    from trtllm_redrafter.models import ASSISTANTS, load_target_model, parse_dtype, resolve_model

    partner = settings.assistant or ASSISTANTS.get(settings.model)
    if partner is None:
        pairs = ", ".join(f"{t} + {a}" for t, a in ASSISTANTS.items())
        methods.skip("assisted", f"no assistant model for {settings.model} (pass --assistant; known pairs: {pairs})")
        return
    try:
        assistant, tokenizer = load_target_model(resolve_model(partner), parse_dtype(settings.dtype))
    except RedrafterError as exc:
        methods.skip("assisted", f"assistant {partner} is not available: {exc}")
        return
    if tokenizer.get_vocab() != target.tokenizer.get_vocab():
        methods.skip("assisted", f"assistant {partner} has another tokenizer than {settings.model}")
        return
    assistant.to(target.model.device)
    methods.add(HFGenerate("assisted", target.model, target.eos, assistant_model=assistant), assistant=partner)


def _add_llamacpp(methods: MethodSet, settings: BenchSettings, target: LoadedTarget, context_tokens: int) -> None:
    from trtllm_redrafter.models import source_gguf

    try:
        import llama_cpp
    except ImportError as exc:
        methods.skip("llamacpp", f"llama-cpp-python is not installed ({exc}); `pip install llama-cpp-python`")
        return
    try:
        gguf = Path(settings.gguf) if settings.gguf else source_gguf(settings.model)
        if not gguf.is_file():
            raise RedrafterError(f"GGUF file {gguf} not found")
        threads = torch.get_num_threads()
        llm = llama_cpp.Llama(
            model_path=str(gguf), n_ctx=context_tokens, n_threads=threads, n_threads_batch=threads, verbose=False
        )
    except (RedrafterError, ValueError, RuntimeError, OSError) as exc:
        methods.skip("llamacpp", f"cannot load a GGUF model for {settings.model}: {exc}")
        return
    version = getattr(llama_cpp, "__version__", "unknown")
    methods.add(LlamaCppMethod(llm, target.eos), gguf=str(gguf), llama_cpp=version, threads=threads)


def _add_trtllm(methods: MethodSet, settings: BenchSettings, target: LoadedTarget) -> None:
    from trtllm_redrafter.trtllm.availability import trtllm_status

    status = trtllm_status()
    if not status.available:
        methods.skip("trtllm", status.message)
        return
    if not settings.engine or not settings.base_engine:
        methods.skip("trtllm", "needs --engine (a ReDrafter engine) and --base-engine (the same model without it)")
        return
    pad = target.tokenizer.pad_token_id
    try:
        redrafter = TrtllmReDrafter(settings.engine, target.eos)  # a wrong --engine is bad input: exit 2
        base = TrtllmBase(settings.base_engine, target.eos, pad if pad is not None else target.eos[0])
    except RedrafterError:
        raise
    except Exception as exc:  # noqa: BLE001 - the runtime's own load errors
        methods.skip("trtllm", f"cannot load the engines: {type(exc).__name__}: {exc}")
        return
    methods.add(base, engine=settings.base_engine)
    methods.add(redrafter, engine=settings.engine)
