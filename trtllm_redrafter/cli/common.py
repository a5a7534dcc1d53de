"""Arguments and helpers shared by the command groups: model and decode flags, prompts, stats lines."""

from __future__ import annotations

import argparse
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import read_prompts_file
from trtllm_redrafter.models import DEFAULT_MODEL, DTYPES
from trtllm_redrafter.runtime.decode import DecodeConfig


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"HF model directory or alias (default {DEFAULT_MODEL})")
    p.add_argument("--dtype", default="bfloat16", choices=list(DTYPES), help="target and drafter dtype")


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu, cuda (under torchrun: cuda:LOCAL_RANK) or cuda:N",
    )


def add_decode_args(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    add_device_arg(p)
    p.add_argument("--drafter", default=None, help="drafter directory (default: the shipped one, else a fresh init)")
    p.add_argument(
        "--num-beams",
        type=int,
        default=None,
        help=f"beam width nb (default {DecodeConfig.num_beams}; --backend trtllm: the engine's)",
    )
    p.add_argument(
        "--draft-len",
        type=int,
        default=None,
        help=f"drafted tokens per beam, beam length = draft-len + 1 (default {DecodeConfig.draft_len}; "
        "--backend trtllm: the engine's)",
    )
    p.add_argument(
        "--lookup-ngram",
        type=int,
        default=DecodeConfig.lookup_ngram,
        help="> 0: also verify one beam copied from the context after the last N..min tokens (docs/lookup.md); 0 = off",
    )
    p.add_argument("--lookup-min-ngram", type=int, default=DecodeConfig.lookup_min_ngram)
    p.add_argument("--lookup-len", type=int, default=DecodeConfig.lookup_len, help="lookup beam tokens (0 = draft-len)")
    p.add_argument(
        "--kernels",
        choices=["torch", "ops"],
        default=DecodeConfig.kernels,
        help="packing and acceptance: torch (the reference) or ops (torch.ops.redrafter, the CUDA kernels' code)",
    )
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--mode", choices=["redrafter", "ar"], default="redrafter", help="ar = plain greedy, same model")
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy; > 0 = exact speculative sampling")
    p.add_argument("--top-k", type=int, default=0, help="sampling: keep the k most likely tokens (0 = off)")
    p.add_argument("--top-p", type=float, default=1.0, help="sampling: nucleus mass")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--drafter-seed", type=int, default=0, help="seed of a freshly initialised drafter")


def beam_shape_given(args: argparse.Namespace) -> frozenset[str]:
    """The beam-shape fields set on the command line (the others default, or come from an engine)."""
    return frozenset(name for name in ("num_beams", "draft_len") if getattr(args, name, None) is not None)


def decode_config(args: argparse.Namespace):
    cfg = DecodeConfig(
        num_beams=DecodeConfig.num_beams if args.num_beams is None else args.num_beams,
        draft_len=DecodeConfig.draft_len if args.draft_len is None else args.draft_len,
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
        kernels=args.kernels,
    )
    cfg.validate()  # bad settings fail before the model is loaded
    return cfg


def read_prompts(args: argparse.Namespace) -> list[str | list[dict]]:
    """The one prompt, or the prompts of --prompts-file (exactly one of the two)."""
    if (args.prompt is None) == (args.prompts_file is None):
        raise RedrafterError("give a prompt or --prompts-file, not both and not neither")
    return [args.prompt] if args.prompt is not None else read_prompts_file(Path(args.prompts_file))


def format_stats(stats: dict) -> str:
    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    return (
        f"[{stats['new_tokens']} tokens in {stats['steps']} steps | tokens/step {f(stats['tokens_per_step'], '.2f')} | "
        f"decode {f(stats['decode_tokens_per_s'], '.1f')} tok/s | TTFT {stats['time_to_first_token_s']:.2f}s | "
        f"verified/step {f(stats['mean_verified_per_step'], '.1f')} of nb*bl={stats['nb_x_bl']}]"
    )


def default_data_dir() -> str:
    """shared/data beside the project (../shared/data from the repo root), else ./shared/data."""
    here = Path(__file__).resolve().parents[3] / "shared" / "data"
    return str(here if here.is_dir() else Path("shared/data"))
