"""Distinct prompts per distill-data corpus, the prompts each pair shares, and all of them together.

    python build_scripts/prompt_overlap.py data/distill/smollm2-135m-instruct \\
        data/distill/smollm2-135m-instruct-chat32 data/distill/smollm2-135m-instruct-chatg

A prompt is its token ids, as ``train`` loads the samples (``load_corpus``, untrimmed).
"""

from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

from trtllm_redrafter.models import resolve_model
from trtllm_redrafter.training.batches import load_corpus
from trtllm_redrafter.training.fingerprint import model_fingerprint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    args = ap.parse_args()
    fingerprint = model_fingerprint(resolve_model(args.model))
    prompts = {
        c.name: {tuple(s.tokens[: s.prompt_len]) for s in load_corpus(c, fingerprint, 1 << 30)} for c in args.corpora
    }
    for name, p in prompts.items():
        print(f"{name}: {len(p)} distinct prompts")
    for (a, pa), (b, pb) in combinations(prompts.items(), 2):
        print(f"{a} & {b}: {len(pa & pb)}")
    print(f"all together: {len(set().union(*prompts.values()))}")


if __name__ == "__main__":
    main()
