#!/usr/bin/env python3
"""Time one decode step's packing plus acceptance: the torch reference against torch.ops.redrafter.

    python build_scripts/bench_kernels.py [--repeats 50] [--device cpu] [--out results.json]

For each shape (bs, nb, bl, V) it draws random beams and target logits once, then alternates the
two paths call by call (``--kernels torch``: tree.pack_beams + argmax + accept.accept_greedy;
``--kernels ops``: runtime/kernels.py over the custom ops), each timed with perf_counter around
the whole step, after warm-up calls. Prints a table of medians with the interquartile range and
the median of the per-pair ratios, and writes the raw times as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trtllm_redrafter.ops import torch_ops  # noqa: E402
from trtllm_redrafter.runtime import kernels  # noqa: E402
from trtllm_redrafter.runtime.accept import accept_greedy  # noqa: E402
from trtllm_redrafter.runtime.tree import pack_beams  # noqa: E402

SHAPES = [(1, 2, 3, 49152), (1, 4, 5, 49152), (4, 8, 5, 49152), (8, 8, 5, 128256)]


def step_torch(beams: torch.Tensor, logits: torch.Tensor):
    tree = pack_beams(beams)
    return accept_greedy(logits[:, : tree.tokens.shape[1]].argmax(-1), beams, tree.draft_indices)


def step_ops(beams: torch.Tensor, logits: torch.Tensor):
    tree = kernels.pack_beams(beams)
    return kernels.accept_greedy(logits[:, : tree.tokens.shape[1]], beams, tree)


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4)
    return q[0], statistics.median(xs), q[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch_ops.load()
    gen = torch.Generator().manual_seed(0)
    rows = []
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print("| bs | nb | bl | V | torch µs median [IQR] | ops µs median [IQR] | ops / torch (median of pairs) |")
    print("|---|---|---|---|---|---|---|")
    for bs, nb, bl, vocab in SHAPES:
        beams = torch.randint(0, 6, (bs, nb, bl), generator=gen)
        beams[:, :, 0] = beams[:, :1, 0]
        logits = torch.randn(bs, nb * (bl - 1) + 1, vocab, generator=gen)
        logits[..., :6] += 4  # the beams' tokens lead, so acceptance walks the tree
        assert torch.equal(step_torch(beams, logits).accepted_tokens, step_ops(beams, logits).accepted_tokens)
        times: dict[str, list[float]] = {"torch": [], "ops": []}
        for i in range(args.warmup + args.repeats):
            for name, fn in (("torch", step_torch), ("ops", step_ops))[:: 1 if i % 2 else -1]:
                t0 = time.perf_counter()
                fn(beams, logits)
                elapsed = time.perf_counter() - t0
                if i >= args.warmup:
                    times[name].append(elapsed * 1e6)
        ratio = statistics.median(o / t for o, t in zip(times["ops"], times["torch"]))
        (t1, tm, t3), (o1, om, o3) = quartiles(times["torch"]), quartiles(times["ops"])
        cells = [bs, nb, bl, vocab, f"{tm:.0f} [{t1:.0f}–{t3:.0f}]", f"{om:.0f} [{o1:.0f}–{o3:.0f}]", f"{ratio:.2f}"]
        print("| " + " | ".join(map(str, cells)) + " |")
        rows.append({"shape": [bs, nb, bl, vocab], "times_us": times, "ratio_median": ratio})
    if args.out:
        args.out.write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
