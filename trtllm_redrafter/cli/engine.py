"""``trtllm-redrafter convert`` and ``trtllm-redrafter build``.

    convert   HF base model + drafter -> TensorRT-LLM checkpoint (runs anywhere, CPU only)
    build     convert (or take --checkpoint), then build the engine with TensorRT-LLM

``add_parsers(subparsers)`` registers both on the main CLI's subparsers. Handlers raise
``RedrafterError`` for bad input (the CLI prints it and exits 2). Where TensorRT-LLM or a GPU is
missing, ``build`` stops after the checkpoint with a "TensorRT-LLM not available" message and exit
status 3 (``availability.EXIT_TRTLLM_UNAVAILABLE``); the checkpoint stays complete and usable.
``main(argv)`` runs these two commands alone (build_scripts/build_engine.py uses it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.models import DEFAULT_MODEL
from trtllm_redrafter.trtllm.availability import EXIT_TRTLLM_UNAVAILABLE, trtllm_status
from trtllm_redrafter.trtllm.checkpoint_config import CHECKPOINT_DTYPES, DEFAULT_NAMING, REDRAFTER_ARCHITECTURES


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"HF model directory or alias (default {DEFAULT_MODEL})")
    p.add_argument(
        "--drafter", default=None, help="drafter directory (Apple layout); default: the shipped one, else a fresh init"
    )
    p.add_argument("--dtype", default="bfloat16", choices=CHECKPOINT_DTYPES, help="checkpoint and engine dtype")
    p.add_argument("--tp-size", type=int, default=1, help="tensor-parallel ranks")
    p.add_argument("--num-beams", type=int, default=8, help="beam width nb, fixed in the engine")
    p.add_argument("--draft-len", type=int, default=4, help="drafted tokens per beam, fixed in the engine")
    p.add_argument("--sampling", action="store_true", help="a sampling engine (redrafter_greedy_search=false)")
    p.add_argument("--use-parallel-embedding", action="store_true", help="split the embedding over ranks by vocab")
    p.add_argument(
        "--naming",
        default=DEFAULT_NAMING,
        choices=list(REDRAFTER_ARCHITECTURES),
        help="ReDrafter architecture name in config.json: 1.1 for TensorRT-LLM 1.0-1.2.x (default), 0.20 for 0.20/0.21",
    )
    p.add_argument("--drafter-seed", type=int, default=0, help="seed of a freshly initialised drafter")
    p.add_argument("--overwrite", action="store_true", help="replace an existing, different checkpoint / engine")


def convert_settings(args: argparse.Namespace, output_dir: str | Path):
    from trtllm_redrafter.trtllm.convert import ConvertSettings

    return ConvertSettings(
        output_dir=output_dir,
        model=args.model,
        drafter=args.drafter,
        dtype=args.dtype,
        tp_size=args.tp_size,
        num_beams=args.num_beams,
        draft_len=args.draft_len,
        greedy=not args.sampling,
        use_parallel_embedding=args.use_parallel_embedding,
        naming=args.naming,
        seed=args.drafter_seed,
        overwrite=args.overwrite,
    )


def cmd_convert(args: argparse.Namespace) -> int:
    from trtllm_redrafter.trtllm.convert import convert_checkpoint

    result = convert_checkpoint(convert_settings(args, args.output_dir))
    print(json.dumps(_summary(result.output_dir, result.config, result.reused)))
    return 0


def _summary(path: Path, config: dict, reused: bool) -> dict:
    return {
        "checkpoint": str(path),
        "reused": reused,
        "architecture": config["architecture"],
        "base_model_architecture": config["base_model_architecture"],
        "dtype": config["dtype"],
        "tp_size": config["mapping"]["tp_size"],
        "redrafter_num_beams": config["redrafter_num_beams"],
        "redrafter_draft_len_per_beam": config["redrafter_draft_len_per_beam"],
        "redrafter_greedy_search": config["redrafter_greedy_search"],
    }


def cmd_build(args: argparse.Namespace) -> int:
    from trtllm_redrafter.trtllm.builder import BuildSettings, check_engine_dir, read_checkpoint_config
    from trtllm_redrafter.trtllm.convert import convert_checkpoint

    settings = BuildSettings(
        max_batch_size=args.max_batch_size,
        max_input_len=args.max_input_len,
        max_seq_len=args.max_seq_len,
        max_num_tokens=args.max_num_tokens,
        paged_kv_cache=not args.no_paged_kv_cache,
        plugin_library=args.plugin_lib,
    )
    settings.validate()
    out = Path(args.output_dir)
    engine_dir = out / "engine"
    check_engine_dir(engine_dir, args.overwrite)  # refuse before any work
    if args.checkpoint is not None:
        checkpoint = Path(args.checkpoint)
        config = read_checkpoint_config(checkpoint)
        print(json.dumps(_summary(checkpoint, config, reused=True)))
    else:
        result = convert_checkpoint(convert_settings(args, out / "checkpoint"))
        checkpoint = result.output_dir
        print(json.dumps(_summary(checkpoint, result.config, result.reused)))

    status = trtllm_status()
    if not status.available:
        print(
            f"trtllm-redrafter: {status.message}.\n"
            f"  The TensorRT-LLM checkpoint is complete at {checkpoint}; no engine was built.\n"
            f"  Build it where TensorRT-LLM and a GPU are present, e.g. in NVIDIA's container (docs/trtllm.md):\n"
            f"    trtllm-redrafter build --checkpoint {checkpoint} --output-dir {out}",
            file=sys.stderr,
        )
        return EXIT_TRTLLM_UNAVAILABLE
    from trtllm_redrafter.trtllm.builder import build_engines

    built = build_engines(checkpoint, engine_dir, settings, overwrite=args.overwrite)
    print(json.dumps({"engine": str(built), "trtllm": status.detail}))
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``convert`` and ``build`` on the main CLI's subparsers."""
    conv = subparsers.add_parser("convert", help="HF base model + drafter -> TensorRT-LLM checkpoint (CPU)")
    conv.add_argument("--output-dir", "-o", required=True, help="checkpoint directory to write")
    add_checkpoint_args(conv)
    conv.set_defaults(func=cmd_convert)

    build = subparsers.add_parser(
        "build", help="convert, then build the TensorRT-LLM engine (needs TensorRT-LLM and a GPU)"
    )
    build.add_argument("--output-dir", "-o", required=True, help="writes OUT/checkpoint and OUT/engine")
    build.add_argument("--checkpoint", default=None, help="use this existing checkpoint instead of converting")
    add_checkpoint_args(build)
    build.add_argument("--max-batch-size", type=int, default=8)
    build.add_argument("--max-input-len", type=int, default=1024)
    build.add_argument("--max-seq-len", type=int, default=2048, help="prompt + generated tokens")
    build.add_argument("--max-num-tokens", type=int, default=None)
    build.add_argument("--no-paged-kv-cache", action="store_true", help="contiguous KV cache instead of paged")
    build.add_argument("--plugin-lib", default=None, help="libtrtllm_redrafter_plugins.so (see ops/plugins.py)")
    build.set_defaults(func=cmd_build)


def main(argv: list[str] | None = None) -> int:
    """``convert`` / ``build`` on their own, with the main CLI's error handling."""
    parser = argparse.ArgumentParser(prog="trtllm-redrafter", description=__doc__)
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RedrafterError as exc:
        print(f"trtllm-redrafter: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
