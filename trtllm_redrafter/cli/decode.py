"""``run``, ``chat`` and ``parity``: decode with the reference runtime (or an engine) and check it."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from trtllm_redrafter.cli.common import (
    add_decode_args,
    add_device_arg,
    add_model_args,
    beam_shape_given,
    decode_config,
    format_stats,
    read_prompts,
)
from trtllm_redrafter.errors import RedrafterError


def cmd_run(args: argparse.Namespace) -> int:
    from trtllm_redrafter.api import ReDrafter

    cfg = decode_config(args)
    if args.batch_size <= 0:
        raise RedrafterError(f"--batch-size must be >= 1, got {args.batch_size}")
    prompts = read_prompts(args)
    if args.backend == "trtllm":
        return run_engine(args, prompts, cfg)
    rd = ReDrafter.load(args.model, args.drafter, args.dtype, args.drafter_seed, args.device)
    encoded = [rd.encode(p, args.raw) for p in prompts]
    if not args.json:
        print(
            f"[trtllm-redrafter] model {args.model} ({args.dtype}), drafter {rd.drafter_source}, mode {cfg.mode}, "
            f"nb={cfg.num_beams} draft_len={cfg.draft_len} lookup_ngram={cfg.lookup_ngram} lookup_len={cfg.lookup_len}",
            file=sys.stderr,
        )
    if args.compare_ar and (not args.json or cfg.mode != "redrafter"):
        raise RedrafterError("--compare-ar needs --json and --mode redrafter")
    for i in range(0, len(encoded), args.batch_size):
        batch = encoded[i : i + args.batch_size]
        if args.json:
            modes = [cfg, replace(cfg, mode="ar")] if args.compare_ar else [cfg]
            for c in modes:  # interleaved per batch: both modes see the same machine state
                for j, res in enumerate(rd.generate(batch, c)):
                    print(json.dumps({"index": i + j, "mode": c.mode, **res}), flush=True)
            continue
        for ids in batch:
            for piece in rd.stream_text(ids, cfg):
                if isinstance(piece, str):
                    print(piece, end="", flush=True)
                else:
                    print("\n" + format_stats(piece["stats"]), file=sys.stderr, flush=True)
    return 0


def run_engine(args: argparse.Namespace, prompts: list, cfg) -> int:
    """`run --backend trtllm`: a built engine through the TensorRT-LLM runtime, same output fields."""
    from trtllm_redrafter.api import encode_prompt
    from trtllm_redrafter.trtllm.runtime import engine_tokenizer, run_trtllm

    if args.engine is None:
        raise RedrafterError("--backend trtllm needs --engine DIR (OUT/engine of `trtllm-redrafter build`)")
    tok = engine_tokenizer(args.engine)
    ids = [encode_prompt(tok, p, args.raw) for p in prompts]
    for i, res in enumerate(run_trtllm(args.engine, ids, cfg, given=beam_shape_given(args))):
        print(json.dumps({"index": i, **res}) if args.json else res["text"], flush=True)
        if not args.json:
            print(format_stats(res["stats"]), file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from trtllm_redrafter.api import ReDrafter

    cfg = decode_config(args)
    rd = ReDrafter.load(args.model, args.drafter, args.dtype, args.drafter_seed, args.device)
    print(f"chat with {args.model}, drafter {rd.drafter_source}. /reset clears, /exit quits.", file=sys.stderr)
    messages: list[dict] = []
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            return 0
        if line.strip() in ("/exit", "/quit"):
            return 0
        if line.strip() == "/reset":
            messages = []
            continue
        if not line.strip():
            continue
        messages.append({"role": "user", "content": line})
        answer = ""
        for piece in rd.stream_text(rd.encode(messages), cfg):
            if isinstance(piece, str):
                answer += piece
                print(piece, end="", flush=True)
            else:
                print("\n" + format_stats(piece["stats"]), file=sys.stderr, flush=True)
        messages.append({"role": "assistant", "content": answer})


def cmd_parity(args: argparse.Namespace) -> int:
    from trtllm_redrafter.bench.parity import compare_with_hf

    report = compare_with_hf(args)
    print(json.dumps(report, indent=2))
    return 0 if report["identical"] == report["total"] or not args.strict else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``run``, ``chat`` and ``parity``."""
    run = sub.add_parser("run", help="generate with the reference backend")
    run.add_argument("prompt", nargs="?", help="a user prompt (goes through the chat template unless --raw)")
    run.add_argument("--prompts-file", help='JSONL, one {"prompt": ...} or {"messages": [...]} per line')
    run.add_argument("--raw", action="store_true", help="use prompt strings as plain text, no chat template")
    run.add_argument("--json", action="store_true", help="print one JSON object per prompt, in input order")
    run.add_argument("--batch-size", type=int, default=1, help="prompts decoded together (left padded)")
    run.add_argument(
        "--compare-ar",
        action="store_true",
        help="with --json: decode every batch twice, ReDrafter then --mode ar, one line per mode (summarize "
        "reports the speedup)",
    )
    run.add_argument("--backend", choices=["reference", "trtllm"], default="reference")
    run.add_argument("--engine", help="engine directory for --backend trtllm (OUT/engine of `build`)")
    add_decode_args(run)
    run.set_defaults(func=cmd_run)

    chat = sub.add_parser("chat", help="interactive multi-turn chat")
    add_decode_args(chat)
    chat.set_defaults(func=cmd_chat)

    parity = sub.add_parser("parity", help="compare `run --json` results with HF greedy generate")
    parity.add_argument("results", help="JSONL written by `run --json`")
    parity.add_argument("--prompts-file", required=True)
    parity.add_argument("--raw", action="store_true")
    parity.add_argument("--max-new-tokens", type=int, required=True)
    parity.add_argument("--strict", action="store_true", help="exit 1 unless every row is identical")
    add_model_args(parity)
    add_device_arg(parity)
    parity.set_defaults(func=cmd_parity)
