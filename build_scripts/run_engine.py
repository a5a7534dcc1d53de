#!/usr/bin/env python3
"""Run prompts through a built ReDrafter engine with TensorRT-LLM's runtime (ModelRunnerCpp).

    python build_scripts/run_engine.py --engine OUT/engine "Why is the sky blue?" [--max-new-tokens 128]

Prints the answer, then one JSON line with the same ``stats`` keys as ``trtllm-redrafter run --json``.
Prompts go through the base model's chat template unless --raw. The engine fixes nb, draft length
and greedy/sampling; they are read from its config. Exit status 2 for bad input or a missing runtime.
"""

import argparse
import json
import sys

from trtllm_redrafter.errors import RedrafterError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompts", nargs="+")
    p.add_argument("--engine", required=True, help="engine directory (OUT/engine of build)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.0, help="sampling engines only")
    p.add_argument("--raw", action="store_true", help="no chat template")
    p.add_argument("--plugin-lib", default=None)
    args = p.parse_args(argv)
    try:
        from trtllm_redrafter.api import encode_prompt
        from trtllm_redrafter.runtime.decode import DecodeConfig
        from trtllm_redrafter.trtllm.runtime import engine_config, engine_tokenizer, run_trtllm

        built = engine_config(args.engine)
        tokenizer = engine_tokenizer(args.engine)  # the base model the engine was built from
        prompts = [encode_prompt(tokenizer, text, args.raw) for text in args.prompts]
        cfg = DecodeConfig(
            num_beams=built["redrafter_num_beams"],
            draft_len=built["redrafter_draft_len_per_beam"],
            max_new_tokens=args.max_new_tokens,
        )
        if args.temperature > 0:
            cfg.temperature = args.temperature
        for result in run_trtllm(args.engine, prompts, cfg, plugin_library=args.plugin_lib):
            print(result["text"])
            print(json.dumps(result["stats"]), file=sys.stderr)
    except RedrafterError as exc:
        print(f"run_engine: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
