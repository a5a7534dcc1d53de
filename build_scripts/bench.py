#!/usr/bin/env python3
"""Benchmark ReDrafter against other decoders: ``trtllm-redrafter bench`` as a script (same options).

    python build_scripts/bench.py --dataset data.jsonl --out OUT [--methods hf,redrafter,...] [--sweep]

Make the dataset first with ``trtllm-redrafter prepare-dataset --out data.jsonl --limit 20``.
Exit status 0 done, 2 bad input. Method description and metrics: docs/benchmarks.md.
"""

import sys

from trtllm_redrafter.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
