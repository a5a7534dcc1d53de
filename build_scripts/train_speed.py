"""Training speed, positions per second, of two code trees side by side in one run.

    python build_scripts/train_speed.py --trees /tmp/old,. --data CORPUS --features FEATURES \\
        --steps 6 --rounds 3 -- --tokens-per-batch 4096 --draft-vocab-size 8192 --own-lm-head ...

Each round runs every tree once, in turn (A B A B ...), in a fresh process that imports
``trtllm_redrafter`` from that tree, sets the run up with the tree's own ``load_data`` and
``build_optimisation``, and times each ``optimisation_step`` with ``perf_counter`` (the setup,
checkpoints and evaluation are outside the timer). A "position" is one trained (i, k) pair, the
step's ``positions``. The first step of each process is a warm-up and is not counted. The table
gives, per tree, the median positions/s over all counted steps with the minimum and maximum,
and the ratio of the medians to the first tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
from dataclasses import fields
import torch
from trtllm_redrafter.cli import build_parser
from trtllm_redrafter.training.batches import EpochBatches
from trtllm_redrafter.training.checkpoint import Progress
from trtllm_redrafter.training.settings import TrainSettings
from trtllm_redrafter.training import train as T

torch.set_num_threads(int(sys.argv[2]))
args = build_parser().parse_args(["train", *json.loads(sys.argv[1])])
settings = TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings) if hasattr(args, f.name)})
data = T.load_data(settings, 1)
opt = T.build_optimisation(settings, data, 1)
loader, progress = EpochBatches(data.train_batches, settings.seed, 0, 1), Progress()
rows = []
for _ in range(settings.steps):
    t0 = time.perf_counter()
    stats = T.optimisation_step(opt, data, settings, loader, progress)
    rows.append({"seconds": time.perf_counter() - t0, "positions": stats["positions"]})
    progress.step += 1
print("ROWS " + json.dumps(rows))
"""


def run_tree(tree: Path, argv: list[str], threads: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(argv), str(threads)], env=env, capture_output=True, text=True
    )
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith("ROWS ")]
    if res.returncode != 0 or not rows:
        sys.exit(f"train_speed: the run in {tree} failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(rows[-1][5:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", required=True, help="comma-separated source trees; the first is the baseline")
    ap.add_argument("--data", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per process (the first is warm-up)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write every timed step here")
    ap.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: more train options")
    args = ap.parse_args()
    trees = [Path(t) for t in args.trees.split(",")]
    extra = [a for a in args.train_args if a != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--data", args.data, "--features", args.features, "--out", tmp, "--steps", str(args.steps)] + extra
        steps: dict[str, list[dict]] = {str(t): [] for t in trees}
        for r in range(args.rounds):
            for t in trees:
                rows = run_tree(t, argv, args.threads)
                steps[str(t)] += rows[1:]
                print(f"round {r + 1} {t}: " + " ".join(f"{x['positions'] / x['seconds']:.0f}" for x in rows[1:]))
    rate = {t: [x["positions"] / x["seconds"] for x in rows] for t, rows in steps.items()}
    base = statistics.median(rate[str(trees[0])])
    print("\n| tree | steps timed | positions/s median | min | max | vs first |")
    print("|---|---|---|---|---|---|")
    for t, r in rate.items():
        med = statistics.median(r)
        print(f"| {t} | {len(r)} | {med:.0f} | {min(r):.0f} | {max(r):.0f} | {med / base:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"argv": argv, "steps": steps}, indent=1))


if __name__ == "__main__":
    main()
