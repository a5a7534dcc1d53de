"""Command line: ``trtllm-redrafter <command>``.

run       generate for a prompt or a JSONL file of prompts (reference backend)
chat      interactive multi-turn REPL
parity    compare `run --json` output with transformers greedy generate
prepare-dataset / bench   Spec-Bench + MT-Bench requests; ReDrafter against other decoders (docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from trtllm_redrafter.decode import DecodeConfig
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import read_jsonl
from trtllm_redrafter.models import DEFAULT_MODEL, DTYPES
from trtllm_redrafter.trtllm.cli_commands import add_parsers as add_trtllm_parsers


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"HF model directory or alias (default {DEFAULT_MODEL})")
    p.add_argument("--dtype", default="bfloat16", choices=list(DTYPES), help="target and drafter dtype")


def add_decode_args(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("--drafter", default=None, help="drafter directory (default: the shipped one, else a fresh init)")
    p.add_argument("--num-beams", type=int, default=DecodeConfig.num_beams, help="beam width nb")
    p.add_argument(
        "--draft-len",
        type=int,
        default=DecodeConfig.draft_len,
        help="drafted tokens per beam (beam length = draft-len + 1)",
    )
    p.add_argument(
        "--lookup-ngram",
        type=int,
        default=DecodeConfig.lookup_ngram,
        help="> 0: also verify one beam copied from the context after the last N..min tokens (docs/lookup.md); 0 = off",
    )
    p.add_argument("--lookup-min-ngram", type=int, default=DecodeConfig.lookup_min_ngram)
    p.add_argument("--lookup-len", type=int, default=DecodeConfig.lookup_len, help="lookup beam tokens (0 = draft-len)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--mode", choices=["redrafter", "ar"], default="redrafter", help="ar = plain greedy, same model")
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy; > 0 = exact speculative sampling")
    p.add_argument("--top-k", type=int, default=0, help="sampling: keep the k most likely tokens (0 = off)")
    p.add_argument("--top-p", type=float, default=1.0, help="sampling: nucleus mass")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--drafter-seed", type=int, default=0, help="seed of a freshly initialised drafter")


def decode_config(args: argparse.Namespace):
    from trtllm_redrafter.decode import DecodeConfig

    cfg = DecodeConfig(
        num_beams=args.num_beams,
        draft_len=args.draft_len,
        max_new_tokens=args.max_new_tokens,
        mode=args.mode,
        stop_strings=tuple(args.stop),
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        lookup_ngram=args.lookup_ngram,
        lookup_min_ngram=args.lookup_min_ngram,
        lookup_len=args.lookup_len,
    )
    cfg.validate()  # bad settings fail before the model is loaded
    return cfg


def read_prompts(args: argparse.Namespace) -> list[str | list[dict]]:
    if (args.prompt is None) == (args.prompts_file is None):
        raise RedrafterError("give a prompt or --prompts-file, not both and not neither")
    if args.prompt is not None:
        return [args.prompt]
    path = Path(args.prompts_file)
    if not path.is_file():
        raise RedrafterError(f"prompts file {path} not found")
    prompts: list[str | list[dict]] = []
    for n, obj in read_jsonl(path):
        if isinstance(obj.get("prompt"), str):
            prompts.append(obj["prompt"])
        elif isinstance(obj.get("messages"), list):
            prompts.append(obj["messages"])
        else:
            raise RedrafterError(f'{path}:{n}: each line must be {{"prompt": "..."}} or {{"messages": [...]}}')
    if not prompts:
        raise RedrafterError(f"{path} holds no prompts")
    return prompts


def format_stats(stats: dict) -> str:
    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    return (
        f"[{stats['new_tokens']} tokens in {stats['steps']} steps | tokens/step {f(stats['tokens_per_step'], '.2f')} | "
        f"decode {f(stats['decode_tokens_per_s'], '.1f')} tok/s | TTFT {stats['time_to_first_token_s']:.2f}s | "
        f"verified/step {f(stats['mean_verified_per_step'], '.1f')} of nb*bl={stats['nb_x_bl']}]"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from trtllm_redrafter.api import ReDrafter

    cfg = decode_config(args)
    if args.batch_size <= 0:
        raise RedrafterError(f"--batch-size must be >= 1, got {args.batch_size}")
    prompts = read_prompts(args)
    if args.backend == "trtllm":
        return run_engine(args, prompts, cfg)
    rd = ReDrafter.load(args.model, args.drafter, args.dtype, args.drafter_seed)
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
    for i, res in enumerate(run_trtllm(args.engine, [encode_prompt(tok, p, args.raw) for p in prompts], cfg)):
        print(json.dumps({"index": i, **res}) if args.json else res["text"], flush=True)
        if not args.json:
            print(format_stats(res["stats"]), file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from trtllm_redrafter.api import ReDrafter

    cfg = decode_config(args)
    rd = ReDrafter.load(args.model, args.drafter, args.dtype, args.drafter_seed)
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
    from trtllm_redrafter.parity import compare_with_hf

    report = compare_with_hf(args)
    print(json.dumps(report, indent=2))
    return 0 if report["identical"] == report["total"] or not args.strict else 1


def default_data_dir() -> str:
    """shared/data beside the project (../shared/data from the repo root), else ./shared/data."""
    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    return str(here if here.is_dir() else Path("shared/data"))


def cmd_distill_data(args: argparse.Namespace) -> int:
    from trtllm_redrafter.distill_data import DistillSettings, build_corpus

    try:
        temps = tuple(float(t) for t in args.temperatures.split(","))
    except ValueError as exc:
        raise RedrafterError(f"--temperatures must be comma-separated numbers, got {args.temperatures!r}") from exc
    settings = DistillSettings(
        model=args.model,
        temperatures=temps,
        samples_per_prompt=args.samples_per_prompt,
        max_new_tokens=args.max_new_tokens,
        max_prompt_tokens=args.max_prompt_tokens,
        batch_size=args.batch_size,
        max_samples=args.max_samples,
        sources=tuple(args.sources.split(",")),
        dtype=args.dtype,
        seed=args.seed,
    )
    if args.responses == "original":
        from trtllm_redrafter.distill_data import build_original_corpus

        manifest = build_original_corpus(settings, Path(args.out), Path(args.data_dir))
    else:
        manifest = build_corpus(settings, Path(args.out), Path(args.data_dir), max_shards=args.max_shards)
    print(json.dumps({"out": args.out, **manifest.get("counts", {}), "planned": manifest.get("planned")}))
    return 0


def cmd_distill_features(args: argparse.Namespace) -> int:
    from trtllm_redrafter.features import build_features

    manifest = build_features(
        Path(args.data), Path(args.out), args.model, args.topk, args.batch_tokens, args.dtype, args.max_shards
    )
    print(json.dumps({"out": args.out, **manifest.get("counts", {}), "mean_topk_mass": manifest.get("mean_topk_mass")}))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from trtllm_redrafter.distill import TrainSettings, train

    values = {f.name: getattr(args, f.name) for f in fields(TrainSettings) if hasattr(args, f.name)}
    result = train(TrainSettings(**values), resume=args.resume)
    last = result["history"][-1] if result["history"] else {}
    print(json.dumps({"step": result["step"], **{k: v for k, v in last.items() if k != "step"}}))
    return 0


def cmd_export_drafter(args: argparse.Namespace) -> int:
    """Copy a trained drafter into a shippable directory in a smaller dtype, with its provenance."""
    import shutil

    import torch

    from trtllm_redrafter.drafter import Drafter, DrafterConfig
    from trtllm_redrafter.models import parse_dtype

    src, dst = Path(args.src), Path(args.dst)
    if dst.exists() and any(dst.iterdir()) and not args.overwrite:
        raise RedrafterError(f"{dst} is not empty; pass --overwrite to replace it")
    try:
        config = DrafterConfig.from_json(json.loads((src / "config.json").read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise RedrafterError(f"{src} is not a drafter directory: {exc}") from exc
    if config.lm_head_from_target:
        raise RedrafterError(f"{src} borrows the target's LM head; export-drafter handles drafters with their own")
    for extra in args.provenance:
        if not Path(extra).is_file():
            raise RedrafterError(f"provenance file {extra} not found")
    drafter = Drafter.load(src, torch.float32).to(parse_dtype(args.dtype))
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    drafter.save(tmp)
    for extra in args.provenance:
        shutil.copy(extra, tmp / Path(extra).name)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    size = sum(f.stat().st_size for f in dst.iterdir())
    params = sum(p.numel() for p in drafter.parameters())
    print(json.dumps({"out": str(dst), "dtype": args.dtype, "bytes": size, "params": params}))
    return 0


def cmd_eval_drafter(args: argparse.Namespace) -> int:
    """Teacher-forced drafter accuracy on the target's own answers in a `run --json` file."""
    from trtllm_redrafter.api import ReDrafter
    from trtllm_redrafter.distill import teacher_forced_eval

    rd = ReDrafter.load(args.model, args.drafter, args.dtype)
    prompts = [rd.encode(p, args.raw) for p in read_prompts(argparse.Namespace(prompt=None, **vars(args)))]
    path = Path(args.results)
    if not path.is_file():
        raise RedrafterError(f"results file {path} not found")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("mode", "redrafter") != "ar" or args.use_ar]
    if any(r["index"] >= len(prompts) for r in rows):
        raise RedrafterError(f"{path} has more prompts than {args.prompts_file}")
    samples = [(prompts[r["index"]], r["token_ids"]) for r in rows]
    drafter = rd.drafter.float()
    if drafter.config.lm_head_from_target:
        drafter.attach_target_head(rd.target.lm_head.weight.float())
    out = teacher_forced_eval(drafter, rd.model, samples, args.num_steps)
    print(json.dumps({"results": str(path), "drafter": rd.drafter_source, "samples": len(samples), **out}, indent=2))
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    from trtllm_redrafter.report import markdown, summarize_file

    rows = [summarize_file(Path(p)) for p in args.results]
    print(json.dumps(rows, indent=2) if args.json else markdown(rows))
    if args.by_category:
        from trtllm_redrafter.report import by_category

        for p in args.results:
            cats = by_category(Path(p), Path(args.by_category))
            if args.json:
                print(json.dumps(cats, indent=2))
                continue
            print(f"\n`{Path(p).name}` by category:\n")
            print("| category | prompts | tokens/step | speedup vs AR |\n|---|---|---|---|")
            for c in cats:
                speed = f"{c['speedup_vs_ar']:.2f}x" if "speedup_vs_ar" in c else ""
                print(f"| {c['category']} | {c['prompts']} | {c['tokens_per_step']:.2f} | {speed} |")
    return 0


def cmd_prepare_dataset(args: argparse.Namespace) -> int:
    from trtllm_redrafter.bench_data import parse_tasks, prepare_dataset

    tasks = parse_tasks(args.tasks)
    summary = prepare_dataset(Path(args.data_dir), Path(args.out), args.model, tasks, args.limit, args.output_tokens)
    print(json.dumps(summary))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from trtllm_redrafter.bench import BenchSettings, parse_list, run_bench

    settings = BenchSettings(
        dataset=Path(args.dataset),
        out=Path(args.out),
        methods=parse_list(args.methods, "--methods", str),
        model=args.model,
        dtype=args.dtype,
        drafter=args.drafter,
        drafter_seed=args.drafter_seed,
        num_beams=args.num_beams,
        draft_len=args.draft_len,
        max_new_tokens=args.max_new_tokens,
        repeats=args.repeats,
        warmup=args.warmup,
        prompt_lookup_tokens=args.prompt_lookup_tokens,
        lookup_ngram=args.lookup_ngram,
        lookup_len=args.lookup_len,
        sweep_lookup=args.sweep_lookup,
        assistant=args.assistant,
        gguf=args.gguf,
        engine=args.engine,
        base_engine=args.base_engine,
        threads=args.threads,
        sweep=args.sweep,
        sweep_beams=parse_list(args.sweep_beams, "--sweep-beams"),
        sweep_draft_lens=parse_list(args.sweep_draft_lens, "--sweep-draft-lens"),
    )
    results = run_bench(settings)
    overall = results["summary"]["overall"]
    print(json.dumps({"out": args.out, "speedup_pooled": {m: s.get("speedup_pooled") for m, s in overall.items()}}))
    return 0


def add_bench_parsers(sub) -> None:
    from trtllm_redrafter.bench import METHODS
    from trtllm_redrafter.bench_data import TASKS

    pd = sub.add_parser("prepare-dataset", help="Spec-Bench + MT-Bench first turns -> trtllm-bench request JSONL")
    pd.add_argument("--out", required=True, help="dataset JSONL to write")
    pd.add_argument("--limit", type=int, default=None, help="questions per task: the first N by question id")
    pd.add_argument("--tasks", default=None, help=f"comma-separated subset of {','.join(TASKS)} (default: all)")
    pd.add_argument("--output-tokens", type=int, default=128, help="output_tokens of every request")
    pd.add_argument("--data-dir", default=default_data_dir(), help="shared/data with spec_bench/ and mt_bench/")
    add_model_args(pd)
    pd.set_defaults(func=cmd_prepare_dataset)

    b = sub.add_parser("bench", help="ReDrafter against HF, prompt lookup, assisted, llama.cpp (docs/benchmarks.md)")
    b.add_argument("--dataset", required=True, help="JSONL written by prepare-dataset (trtllm-bench format)")
    b.add_argument("--out", required=True, help="directory for results.json, results.md and the plots")
    b.add_argument("--methods", default=",".join(METHODS), help="comma-separated; order rotates per prompt")
    b.add_argument("--max-new-tokens", type=int, default=None, help="default: each request's output_tokens")
    b.add_argument("--repeats", type=int, default=1, help="passes over the dataset (outer loop)")
    b.add_argument("--warmup", type=int, default=1, help="untimed calls per method before timing")
    b.add_argument("--drafter", default=None, help="drafter directory (default: the shipped one, else a fresh init)")
    b.add_argument("--drafter-seed", type=int, default=0)
    b.add_argument("--num-beams", type=int, default=DecodeConfig.num_beams)
    b.add_argument("--draft-len", type=int, default=DecodeConfig.draft_len)
    b.add_argument("--prompt-lookup-tokens", type=int, default=10, help="prompt_lookup_num_tokens of HF generate")
    b.add_argument("--lookup-ngram", type=int, default=3, help="redrafter_lookup: longest n-gram of the lookup beam")
    b.add_argument("--lookup-len", type=int, default=0, help="redrafter_lookup: beam tokens (0 = draft-len)")
    b.add_argument("--assistant", default=None, help="assistant model for `assisted` (default: the known partner)")
    b.add_argument("--gguf", default=None, help="GGUF file for `llamacpp` (default: the alias' own)")
    b.add_argument("--engine", default=None, help="ReDrafter engine directory for `trtllm`")
    b.add_argument("--base-engine", default=None, help="engine of the same model without ReDrafter, for `trtllm`")
    b.add_argument("--threads", type=int, default=None, help="torch (and llama.cpp) threads")
    b.add_argument("--sweep", action="store_true", help="also sweep ReDrafter over num_beams x draft_len")
    b.add_argument("--sweep-beams", default="1,2,4,8")
    b.add_argument("--sweep-draft-lens", default="1,2,3,4,5")
    b.add_argument("--sweep-lookup", action="store_true", help="the sweep adds the lookup beam (--lookup-ngram)")
    add_model_args(b)
    b.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trtllm-redrafter", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    parity.set_defaults(func=cmd_parity)

    dd = sub.add_parser("distill-data", help="build a self-distillation corpus (resumable)")
    dd.add_argument("--out", required=True, help="corpus directory (manifest.json + shards/)")
    dd.add_argument("--data-dir", default=default_data_dir(), help="shared/data with the training prompt sets")
    dd.add_argument("--sources", default="sharegpt,alpaca,code_alpaca,gsm8k")
    dd.add_argument("--temperatures", default="0,0.7", help="comma-separated; 0 = greedy")
    dd.add_argument("--samples-per-prompt", type=int, default=1)
    dd.add_argument("--max-new-tokens", type=int, default=256)
    dd.add_argument("--max-prompt-tokens", type=int, default=512)
    dd.add_argument("--batch-size", type=int, default=16, help="samples per generate call (= per shard)")
    dd.add_argument("--max-samples", type=int, default=None)
    dd.add_argument("--seed", type=int, default=0)
    dd.add_argument(
        "--responses",
        choices=["target", "original"],
        default="target",
        help="target = the target writes the answers (KD); original = the datasets' own answers (CE ablation)",
    )
    dd.add_argument("--max-shards", type=int, default=None, help=argparse.SUPPRESS)
    add_model_args(dd)
    dd.set_defaults(func=cmd_distill_data)

    df = sub.add_parser("distill-features", help="run the frozen target over a corpus once (resumable)")
    df.add_argument("--data", required=True, help="corpus directory written by distill-data")
    df.add_argument("--out", required=True, help="features directory (manifest.json + shards/)")
    df.add_argument("--topk", type=int, default=32, help="target log-probs kept per position")
    df.add_argument("--batch-tokens", type=int, default=4096, help="padded tokens per target forward")
    df.add_argument("--max-shards", type=int, default=None, help=argparse.SUPPRESS)
    add_model_args(df)
    df.set_defaults(func=cmd_distill_features)

    tr = sub.add_parser("train", help="distil a drafter from the frozen target (runs under torchrun too)")
    tr.add_argument("--data", required=True, help="corpus directory written by distill-data")
    tr.add_argument("--out", required=True, help="run directory: checkpoint/, log.csv, loss.png")
    tr.add_argument("--resume", action="store_true", help="continue exactly from out/checkpoint")
    for name, typ, default, hlp in [
        ("steps", int, 1000, "optimizer steps"),
        ("lr", float, 1e-3, "peak learning rate (AdamW)"),
        ("min_lr_ratio", float, 0.1, "final lr / peak lr (cosine)"),
        ("warmup", int, 50, "warm-up steps"),
        ("weight_decay", float, 0.0, ""),
        ("grad_accum", int, 1, "micro-batches per step"),
        ("clip", float, 1.0, "gradient-norm clip"),
        ("tokens_per_batch", int, 2048, "padded tokens per micro-batch"),
        ("max_len", int, 512, "tokens per sample"),
        ("num_steps", int, 4, "drafted positions trained (N)"),
        ("ce_weight", float, 0.0, "weight of the CE term next to KL"),
        ("kd_weight", float, 1.0, "weight of the KL term (0 with --ce-weight 1: plain CE on the corpus)"),
        ("features", str, None, "precomputed target features (distill-features): no target forward"),
        ("draft_vocab_size", int, 0, "> 0: propose only the V' most frequent response tokens"),
        ("init_drafter", str, None, "warm start from this drafter directory (same architecture; keeps its V')"),
        ("exit_dim", int, None, "ResBlock width (default: the target's hidden size)"),
        ("num_draft_layers", int, 1, "ResBlocks"),
        ("rnn_formula", str, "apple", "apple | trtllm"),
        ("hidden_scale", float, 1.0, "init scale of the hidden-state half of input_proj"),
        ("state_scale", float, 0.1, "init scale of the RNN-state half of input_proj"),
        ("eval_every", int, 100, ""),
        ("eval_batches", int, 8, ""),
        ("eval_every_nth_sample", int, 50, "held-out split"),
        ("save_every", int, 100, ""),
        ("seed", int, 0, ""),
    ]:
        tr.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=default, help=hlp or None)
    tr.add_argument(
        "--own-lm-head",
        dest="lm_head_from_target",
        action="store_false",
        help="train a separate vocab projection instead of borrowing the target's LM head",
    )
    tr.add_argument("--no-autocast", dest="autocast", action="store_false", help="train in float32")
    add_model_args(tr)
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval-drafter", help="teacher-forced drafter accuracy on the answers in a `run --json` file")
    ev.add_argument("results", help="JSONL written by `run --json` (its token_ids are the target's answers)")
    ev.add_argument("--prompts-file", required=True, help="the prompts of that run")
    ev.add_argument("--raw", action="store_true")
    ev.add_argument("--drafter", default=None, help="drafter directory (default: the shipped one)")
    ev.add_argument("--num-steps", type=int, default=4, help="drafted positions evaluated")
    ev.add_argument("--use-ar", action="store_true", help="also use the --mode ar lines of a --compare-ar file")
    add_model_args(ev)
    ev.set_defaults(func=cmd_eval_drafter)

    ex = sub.add_parser("export-drafter", help="copy a trained drafter into a shippable directory (e.g. bf16)")
    ex.add_argument("src", help="drafter directory (RUN/best or RUN/checkpoint/drafter)")
    ex.add_argument("dst", help="output directory, e.g. trtllm_redrafter/assets/drafters/<alias>")
    ex.add_argument("--dtype", default="bfloat16", choices=list(DTYPES))
    ex.add_argument("--provenance", nargs="*", default=[], help="files copied beside it (run.json, log.csv, ...)")
    ex.add_argument("--overwrite", action="store_true")
    ex.set_defaults(func=cmd_export_drafter)

    sm = sub.add_parser("summarize", help="summarise `run --json` result files")
    sm.add_argument("results", nargs="+")
    sm.add_argument("--json", action="store_true")
    sm.add_argument("--by-category", metavar="QUESTIONS", help="question.jsonl whose line i is prompt i: per category")
    sm.set_defaults(func=cmd_summarize)

    add_bench_parsers(sub)  # prepare-dataset, bench (docs/benchmarks.md)
    add_trtllm_parsers(sub)  # convert, build (docs/trtllm.md)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RedrafterError as exc:
        print(f"trtllm-redrafter: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
