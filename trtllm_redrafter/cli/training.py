"""``distill-data``, ``distill-features``, ``train``, ``eval-drafter`` and ``export-drafter``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trtllm_redrafter.cli.common import add_device_arg, add_model_args, default_data_dir, read_prompts
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.models import DTYPES
from trtllm_redrafter.training.split import HELDOUT_RULES


def parse_source_weights(text: str) -> tuple[tuple[str, float], ...]:
    """'sharegpt=4,alpaca=1' -> (('sharegpt', 4.0), ('alpaca', 1.0)); '' -> ()."""
    pairs = []
    for item in filter(None, text.split(",")):
        name, sep, weight = item.partition("=")
        try:
            pairs.append((name.strip(), float(weight)))
        except ValueError:
            sep = ""
        if not sep:
            raise RedrafterError(f"--source-weights takes name=weight pairs, got {item!r}")
    return tuple(pairs)


def cmd_distill_data(args: argparse.Namespace) -> int:
    from trtllm_redrafter.training.corpus import DistillSettings, build_corpus

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
        source_weights=parse_source_weights(args.source_weights),
    )
    if args.responses == "original":
        from trtllm_redrafter.training.corpus import build_original_corpus

        manifest = build_original_corpus(settings, Path(args.out), Path(args.data_dir))
    else:
        manifest = build_corpus(
            settings, Path(args.out), Path(args.data_dir), max_shards=args.max_shards, device=args.device
        )
    print(json.dumps({"out": args.out, **manifest.get("counts", {}), "planned": manifest.get("planned")}))
    return 0


def cmd_distill_features(args: argparse.Namespace) -> int:
    from trtllm_redrafter.training.features import build_features

    manifest = build_features(
        Path(args.data),
        Path(args.out),
        args.model,
        args.topk,
        args.batch_tokens,
        args.dtype,
        args.max_shards,
        device=args.device,
    )
    print(json.dumps({"out": args.out, **manifest.get("counts", {}), "mean_topk_mass": manifest.get("mean_topk_mass")}))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from trtllm_redrafter.training.settings import TrainSettings
    from trtllm_redrafter.training.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainSettings) if hasattr(args, f.name)}
    result = train(TrainSettings(**values), resume=args.resume)
    last = result["history"][-1] if result["history"] else {}
    print(json.dumps({"step": result["step"], **{k: v for k, v in last.items() if k != "step"}}))
    return 0


def cmd_export_drafter(args: argparse.Namespace) -> int:
    """Copy a trained drafter into a shippable directory in a smaller dtype, with its provenance."""
    import shutil

    import torch

    from trtllm_redrafter.models import parse_dtype
    from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig

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
    from trtllm_redrafter.devices import resolve_device
    from trtllm_redrafter.training.evaluate import teacher_forced_eval

    rd = ReDrafter.load(args.model, args.drafter, args.dtype, device=args.device)
    prompts = [rd.encode(p, args.raw) for p in read_prompts(argparse.Namespace(prompt=None, **vars(args)))]
    path = Path(args.results)
    if not path.is_file():
        raise RedrafterError(f"results file {path} not found")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("mode", "redrafter") != "ar" or args.use_ar]
    if any(r["index"] >= len(prompts) for r in rows):
        raise RedrafterError(f"{path} has more prompts than {args.prompts_file}")
    samples = [(prompts[r["index"]], r["token_ids"]) for r in rows]
    device = resolve_device(args.device)
    model = rd.model.to(device)
    drafter = rd.drafter.float().to(device)
    if drafter.config.lm_head_from_target:
        drafter.attach_target_head(model.get_output_embeddings().weight.float())
    out = teacher_forced_eval(drafter, model, samples, args.num_steps)
    print(json.dumps({"results": str(path), "drafter": rd.drafter_source, "samples": len(samples), **out}, indent=2))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the distillation commands (docs/distillation.md)."""
    dd = sub.add_parser("distill-data", help="build a self-distillation corpus (resumable)")
    dd.add_argument("--out", required=True, help="corpus directory (manifest.json + shards/)")
    dd.add_argument("--data-dir", default=default_data_dir(), help="shared/data with the training prompt sets")
    dd.add_argument(
        "--sources",
        default="sharegpt,alpaca,code_alpaca,gsm8k",
        help="comma-separated; also sharegpt_turns (later ShareGPT turns with their history)",
    )
    dd.add_argument(
        "--source-weights",
        default="",
        help="name=weight,...: draw the planned prompts by source in these proportions (default: plain shuffle)",
    )
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
    add_device_arg(dd)
    dd.set_defaults(func=cmd_distill_data)

    df = sub.add_parser("distill-features", help="run the frozen target over a corpus once (resumable)")
    df.add_argument("--data", required=True, help="corpus directory written by distill-data")
    df.add_argument("--out", required=True, help="features directory (manifest.json + shards/)")
    df.add_argument("--topk", type=int, default=32, help="target log-probs kept per position")
    df.add_argument("--batch-tokens", type=int, default=4096, help="padded tokens per target forward")
    df.add_argument("--max-shards", type=int, default=None, help=argparse.SUPPRESS)
    add_model_args(df)
    add_device_arg(df)
    df.set_defaults(func=cmd_distill_features)

    tr = sub.add_parser("train", help="distil a drafter from the frozen target (runs under torchrun too)")
    tr.add_argument(
        "--data",
        required=True,
        help="corpus directory written by distill-data; several, comma-separated, train together "
        "(--features then names one features directory per corpus, in the same order)",
    )
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
        ("eval_every_nth_sample", int, 50, "held-out split: 1 in N job ids (or prompts, --heldout-by prompt)"),
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
    tr.add_argument(
        "--heldout-by",
        choices=list(HELDOUT_RULES),
        default="job",
        help="job: every Nth job id (the old split; a prompt's other temperatures are trained on); "
        "prompt: whole prompts, in every corpus and temperature",
    )
    tr.add_argument("--no-autocast", dest="autocast", action="store_false", help="train in float32")
    tr.add_argument(
        "--online-target",
        action="store_true",
        help="run the frozen target in the loop, keep its top --online-topk (no feature files; docs/distillation.md)",
    )
    tr.add_argument("--online-topk", type=int, default=32, help="K of --online-target (distill-features --topk)")
    add_model_args(tr)
    add_device_arg(tr)
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval-drafter", help="teacher-forced drafter accuracy on the answers in a `run --json` file")
    ev.add_argument("results", help="JSONL written by `run --json` (its token_ids are the target's answers)")
    ev.add_argument("--prompts-file", required=True, help="the prompts of that run")
    ev.add_argument("--raw", action="store_true")
    ev.add_argument("--drafter", default=None, help="drafter directory (default: the shipped one)")
    ev.add_argument("--num-steps", type=int, default=4, help="drafted positions evaluated")
    ev.add_argument("--use-ar", action="store_true", help="also use the --mode ar lines of a --compare-ar file")
    add_model_args(ev)
    add_device_arg(ev)
    ev.set_defaults(func=cmd_eval_drafter)

    ex = sub.add_parser("export-drafter", help="copy a trained drafter into a shippable directory (e.g. bf16)")
    ex.add_argument("src", help="drafter directory (RUN/best or RUN/checkpoint/drafter)")
    ex.add_argument("dst", help="output directory, e.g. trtllm_redrafter/assets/drafters/<alias>")
    ex.add_argument("--dtype", default="bfloat16", choices=list(DTYPES))
    ex.add_argument("--provenance", nargs="*", default=[], help="files copied beside it (run.json, log.csv, ...)")
    ex.add_argument("--overwrite", action="store_true")
    ex.set_defaults(func=cmd_export_drafter)
