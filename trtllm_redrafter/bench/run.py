"""``trtllm-redrafter bench``: ReDrafter against other decoders on one target, dtype and prompt set.

Every method decodes greedily from the same token ids (the dataset's chat-templated ``input_ids``)
with the same ``max_new_tokens`` and the same EOS ids, on the same machine at the same time:

    hf              transformers ``generate(do_sample=False)``: the baseline
    redrafter       the reference runtime (``ReDrafter`` / ``Decoder``), nb x draft_len beams
    redrafter_lookup  the same plus the context-lookup beam (lookup.py, docs/lookup.md)
    prompt_lookup   transformers ``generate(prompt_lookup_num_tokens=10)``
    assisted        transformers ``generate(assistant_model=...)``, a smaller model of the same tokenizer
    llamacpp        llama-cpp-python, plain greedy decoding of the alias' GGUF file (optional)
    trtllm          a ReDrafter engine against the same base engine (TensorRT-LLM + GPU only)

Order of work: load everything, warm every method up (``--warmup`` calls on the first prompts,
discarded), then ``for repeat: for prompt: for method`` with the method order rotated by one per
prompt, so each method meets the same machine state and no method always runs first. A method
that cannot run here (a missing package, model or engine) is skipped with its reason recorded; one
that fails while running is dropped from the remaining runs, also with its reason.

Timing (all ``time.perf_counter``): ``ttft_s`` is call start to first emitted token, ``decode_s``
first to last emitted token, ``total_s`` the whole call. For transformers a streamer records when
each token arrives (no extra call); ReDrafter reports the same two intervals itself. The adapters
are in ``methods.py``, metrics and outputs in ``report.py``, names and settings in ``settings.py``,
the method description in docs/benchmarks.md. ``--sweep`` then runs ReDrafter alone over a num_beams x draft_len grid.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from trtllm_redrafter.bench.data import BenchRequest, read_dataset
from trtllm_redrafter.bench.methods import (
    Generation,
    LoadedTarget,
    Method,
    MethodSet,
    ReDrafterMethod,
    build_methods,
    load_target,
)
from trtllm_redrafter.bench.settings import BASELINES, DEFAULT_BASELINE, BenchSettings
from trtllm_redrafter.errors import RedrafterError

# ---- the run -------------------------------------------------------------------------------


def prompt_ids(request: BenchRequest, tokenizer, model: str) -> list[int]:
    """The request's input_ids when made with this model's tokenizer, else its prompt re-encoded."""
    from trtllm_redrafter.api import encode_prompt

    if request.input_ids and request.model in (None, model):
        ids = list(request.input_ids)
        if max(ids) >= len(tokenizer):
            raise RedrafterError(f"request {request.task_id}: input_ids beyond the vocabulary of {model}")
        return ids
    if request.prompt:
        return encode_prompt(tokenizer, request.prompt)
    raise RedrafterError(f"request {request.task_id}: input_ids made for {request.model} and no prompt to re-encode")


def record_of(method: str, request: BenchRequest, prompt_len: int, repeat: int, gen: Generation) -> dict:
    new = len(gen.token_ids)
    decode_tokens = new - gen.first_tokens
    rate = decode_tokens / gen.decode_s if gen.decode_s and decode_tokens > 0 else None
    step_tokens = sum(gen.accepted) if gen.accepted is not None else decode_tokens
    return {
        "method": method,
        "task": request.task,
        "task_id": request.task_id,
        "question_id": request.question_id,
        "repeat": repeat,
        "prompt_tokens": prompt_len,
        "new_tokens": new,
        "token_ids": gen.token_ids,
        "total_s": gen.total_s,
        "ttft_s": gen.ttft_s,
        "decode_s": gen.decode_s,
        "decode_tokens": decode_tokens,
        "decode_tokens_per_s": rate,
        "tpot_s": 1 / rate if rate else None,
        "steps": gen.steps,
        "step_tokens": step_tokens if gen.steps else None,
        "tokens_per_step": step_tokens / gen.steps if gen.steps else None,
        "accepted": gen.accepted,
        "verified": gen.verified,
        "verified_per_step": gen.verified / gen.steps if gen.verified is not None and gen.steps else None,
        "nb_x_bl": gen.nb_x_bl,
    }


def max_new_for(settings: BenchSettings, request: BenchRequest) -> int:
    return settings.max_new_tokens or request.output_tokens


def interleaved(
    methods: MethodSet,
    requests: list[BenchRequest],
    prompts: list[list[int]],
    settings: BenchSettings,
    desc: str,
) -> list[dict]:
    """Warm-up, then ``for repeat: for prompt: for method`` (order rotated per prompt)."""
    for k in range(settings.warmup):
        i = k % len(prompts)
        for method in list(methods.runnable):
            _run(methods, method, prompts[i], max_new_for(settings, requests[i]))
    records: list[dict] = []
    total = settings.repeats * len(prompts) * len(methods.runnable)
    with tqdm(total=total, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
        for repeat in range(settings.repeats):
            for i, (request, ids) in enumerate(zip(requests, prompts)):
                order = list(methods.runnable)
                shift = (i + repeat) % len(order) if order else 0
                for method in order[shift:] + order[:shift]:
                    bar.set_postfix_str(f"{request.task} {method.name}", refresh=False)
                    gen = _run(methods, method, ids, max_new_for(settings, request))
                    if gen is not None:
                        records.append(record_of(method.name, request, len(ids), repeat, gen))
                    bar.update(1)
    return records


def _run(methods: MethodSet, method: Method, ids: list[int], max_new_tokens: int) -> Generation | None:
    if method not in methods.runnable:
        return None
    try:
        with torch.no_grad():
            return method.generate(ids, max_new_tokens)
    except (KeyboardInterrupt, RedrafterError):
        raise
    except Exception as exc:  # noqa: BLE001 - one broken method must not lose the others' results
        methods.fail(method, exc)
        return None


def run_bench(settings: BenchSettings) -> dict:
    """Run the comparison (and the sweep); write results into ``settings.out``; return the results."""
    from trtllm_redrafter.bench.report import (
        add_agreement,
        machine_info,
        summarize,
        write_results,
        write_sweep,
    )

    settings.validate()
    requests = read_dataset(settings.dataset)
    _prepare_out(settings.out)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    target = load_target(settings)
    prompts = [prompt_ids(r, target.tokenizer, settings.model) for r in requests]
    longest = max(len(p) + max_new_for(settings, r) for p, r in zip(prompts, requests))
    methods = build_methods(settings, target, context_tokens=longest + 16)
    if not methods.runnable:
        reasons = "; ".join(f"{n}: {s['reason']}" for n, s in methods.status.items())
        raise RedrafterError(f"none of the methods can run here ({reasons})")
    records = interleaved(methods, requests, prompts, settings, desc="bench")
    add_agreement(records, DEFAULT_BASELINE)
    results = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "machine": machine_info(settings.dtype),
        "methods": methods.status,
        "summary": summarize(records, BASELINES, DEFAULT_BASELINE),
        "records": records,
    }
    if settings.sweep:
        results["sweep"] = run_sweep(settings, target, requests, prompts, results["summary"])
        write_sweep(results["sweep"], settings.out)
    write_results(results, settings.out)
    return results


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RedrafterError(f"cannot write to output directory {out}: {exc}") from exc


# ---- the sweep -----------------------------------------------------------------------------


def run_sweep(
    settings: BenchSettings,
    target: LoadedTarget,
    requests: list[BenchRequest],
    prompts: list[list[int]],
    summary: dict,
) -> dict:
    """ReDrafter over num_beams x draft_len, interleaved per prompt like the comparison."""
    from trtllm_redrafter.bench.report import sweep_cell
    from trtllm_redrafter.runtime.decode import DecodeConfig

    head = target.rd.drafter.config.head_size
    methods = MethodSet()
    for nb in settings.sweep_beams:
        for dl in settings.sweep_draft_lens:
            name = f"nb{nb}_dl{dl}"
            if nb > head:
                methods.skip(name, f"num_beams {nb} exceeds the draft vocabulary ({head})")
                continue
            lookup = settings.lookup_ngram if settings.sweep_lookup else 0
            config = DecodeConfig(num_beams=nb, draft_len=dl, lookup_ngram=lookup, lookup_len=settings.lookup_len)
            methods.add(ReDrafterMethod(target.rd, config, name=name))
    records = interleaved(methods, requests, prompts, settings, desc="sweep")
    hf = summary["overall"].get(DEFAULT_BASELINE, {})
    base_rate = hf.get("pooled_decode_tokens_per_s")
    cells = []
    for method in methods.runnable:
        cfg = method.config
        own = [r for r in records if r["method"] == method.name]
        cells.append(sweep_cell(cfg.num_beams, cfg.draft_len, own, base_rate, cfg.max_tree_tokens))
    if not cells:
        raise RedrafterError("no sweep shape could run")
    best = max(cells, key=lambda c: c["pooled_decode_tokens_per_s"] or 0.0)
    rate, per_step = _fmt(best["pooled_decode_tokens_per_s"], ".1f"), _fmt(best["tokens_per_step"], ".2f")
    print(
        f"[bench] best shape by decode tokens/s: num_beams={best['num_beams']} draft_len={best['draft_len']} "
        f"({rate} tok/s, {per_step} tokens/step)",
        file=sys.stderr,
    )
    return {
        "beams": list(settings.sweep_beams),
        "draft_lens": list(settings.sweep_draft_lens),
        "lookup_ngram": settings.lookup_ngram if settings.sweep_lookup else 0,
        "lookup_len": settings.lookup_len if settings.sweep_lookup else 0,
        "baseline_pooled_decode_tokens_per_s": base_rate,
        "cells": cells,
        "skipped": {n: s["reason"] for n, s in methods.status.items() if s["status"] != "ran"},
        "best": {k: best[k] for k in ("num_beams", "draft_len", "pooled_decode_tokens_per_s", "tokens_per_step")},
    }


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
