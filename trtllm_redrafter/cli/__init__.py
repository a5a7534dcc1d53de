"""Command line: ``trtllm-redrafter <command>``, one module per command group.

decode.py     run, chat, parity         generate with the reference runtime (or an engine); check exactness
training.py   distill-data, distill-features, train, eval-drafter, export-drafter   (docs/distillation.md)
bench.py      summarize, prepare-dataset, bench   measure decoders (docs/benchmarks.md)
engine.py     convert, build            TensorRT-LLM checkpoint and engine (docs/trtllm.md)
common.py     the flags and helpers they share

Every handler raises ``RedrafterError`` for bad input; ``main`` prints it as one ``error:`` line and
returns 2.
"""

from __future__ import annotations

import argparse
import sys

from trtllm_redrafter.cli import bench, decode, engine, training
from trtllm_redrafter.errors import RedrafterError

DESCRIPTION = """ReDrafter speculative decoding: an exact reference runtime, drafter distillation, TensorRT-LLM engines.

run, chat, parity                    generate with the reference backend (or an engine); check exactness
distill-data, distill-features, train, eval-drafter, export-drafter   train a drafter (docs/distillation.md)
summarize, prepare-dataset, bench    measure decoders (docs/benchmarks.md)
convert, build                       TensorRT-LLM checkpoint and engine (docs/trtllm.md)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trtllm-redrafter", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (decode, training, bench, engine):  # the order of `trtllm-redrafter --help`
        group.add_parsers(sub)
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
