"""``summarize``, ``prepare-dataset`` and ``bench``: measure decoders (docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trtllm_redrafter.cli.common import add_device_arg, add_model_args, default_data_dir
from trtllm_redrafter.runtime.decode import DecodeConfig


def cmd_summarize(args: argparse.Namespace) -> int:
    from trtllm_redrafter.bench.summary import markdown, summarize_file

    rows = [summarize_file(Path(p)) for p in args.results]
    print(json.dumps(rows, indent=2) if args.json else markdown(rows))
    if args.by_category:
        from trtllm_redrafter.bench.summary import by_category

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
    from trtllm_redrafter.bench.data import parse_tasks, prepare_dataset

    tasks = parse_tasks(args.tasks)
    summary = prepare_dataset(Path(args.data_dir), Path(args.out), args.model, tasks, args.limit, args.output_tokens)
    print(json.dumps(summary))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from trtllm_redrafter.bench.run import run_bench
    from trtllm_redrafter.bench.settings import BenchSettings, parse_list

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
        device=args.device,
        sweep=args.sweep,
        sweep_beams=parse_list(args.sweep_beams, "--sweep-beams"),
        sweep_draft_lens=parse_list(args.sweep_draft_lens, "--sweep-draft-lens"),
    )
    results = run_bench(settings)
    overall = results["summary"]["overall"]
    print(json.dumps({"out": args.out, "speedup_pooled": {m: s.get("speedup_pooled") for m, s in overall.items()}}))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``summarize``, ``prepare-dataset`` and ``bench``."""
    sm = sub.add_parser("summarize", help="summarise `run --json` result files")
    sm.add_argument("results", nargs="+")
    sm.add_argument("--json", action="store_true")
    sm.add_argument("--by-category", metavar="QUESTIONS", help="question.jsonl whose line i is prompt i: per category")
    sm.set_defaults(func=cmd_summarize)
    from trtllm_redrafter.bench.data import TASKS
    from trtllm_redrafter.bench.settings import METHODS

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
    add_device_arg(b)
    b.set_defaults(func=cmd_bench)
