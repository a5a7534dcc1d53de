#!/usr/bin/env python3
"""Build a ReDrafter engine: ``trtllm-redrafter build`` as a script (same options, same exit codes).

    python build_scripts/build_engine.py -o OUT [--model M] [--drafter D] [--dtype bfloat16] [--tp-size 1]
    python build_scripts/build_engine.py -o OUT --checkpoint CKPT      # skip the conversion

Writes OUT/checkpoint (TensorRT-LLM checkpoint) and OUT/engine. Exit status 0 built, 2 bad input,
3 TensorRT-LLM or GPU not available (the checkpoint is written). See docs/trtllm.md.
"""

import sys

from trtllm_redrafter.cli.engine import main

if __name__ == "__main__":
    sys.exit(main(["build", *sys.argv[1:]]))
