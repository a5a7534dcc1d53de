"""Training speed, positions per second, of code trees or settings side by side in one run.

    python build_scripts/train_speed.py --run old=/tmp/old --run new=. --data CORPUS --features FEATURES \\
        --steps 6 --rounds 3 -- --tokens-per-batch 4096 --draft-vocab-size 8192 --own-lm-head ...
    python build_scripts/train_speed.py --run bf16=. --run "fp32=.:--no-autocast" ...

A ``--run NAME=TREE[:TRAIN ARGS]`` is a source tree, and train options of its own after a colon.
Each round runs every one once, in turn (A B A B ...), in a fresh process that imports
``trtllm_redrafter`` from that tree, sets the run up with the tree's own ``load_data`` and
``build_optimisation``, and times each ``optimisation_step`` with ``perf_counter`` (the setup,
checkpoints and evaluation are outside the timer). A "position" is one trained (i, k) pair, the
step's ``positions``. The first step of each process is a warm-up and is not counted. The table
gives, per run, the median positions/s over all counted steps with the minimum and maximum,
and the ratio of the medians to the first run's. ``--profile`` also runs ``torch.profiler`` over
each process's last step and prints, per run, its operators by their own CPU time.
``--env NAME:KEY=VALUE`` sets an environment variable in that run's processes only, e.g. a
memory allocator:

    python build_scripts/train_speed.py --run glibc=. --run jemalloc=. \
        --env jemalloc:LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ...
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])  # this tree's package, ahead of the working directory and the installed one
from dataclasses import fields
import torch
from trtllm_redrafter.cli import build_parser
from trtllm_redrafter.training.batches import EpochBatches
from trtllm_redrafter.training.checkpoint import Progress
from trtllm_redrafter.training.settings import TrainSettings
from trtllm_redrafter.training import train as T

torch.set_num_threads(int(sys.argv[2]))
args = build_parser().parse_args(["train", *json.loads(sys.argv[1])])
# as cmd_train builds them, written out so that trees from before this script run too
settings = TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings) if hasattr(args, f.name)})
data = T.load_data(settings, 1)
opt = T.build_optimisation(settings, data, 1)
loader, progress = EpochBatches(data.train_batches, settings.seed, 0, 1), Progress()
rows, table = [], ""
for i in range(settings.steps):
    profiling = sys.argv[4] == "1" and i == settings.steps - 1
    if profiling:
        from torch.profiler import ProfilerActivity, profile
        prof = profile(activities=[ProfilerActivity.CPU]).__enter__()
    t0 = time.perf_counter()
    stats = T.optimisation_step(opt, data, settings, loader, progress)
    rows.append({"seconds": time.perf_counter() - t0, "positions": stats["positions"]})
    if profiling:
        prof.__exit__(None, None, None)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    progress.step += 1
import trtllm_redrafter
print("ROWS " + json.dumps({"module": trtllm_redrafter.__file__, "rows": rows, "profile": table}))
"""


def run_tree(tree: Path, argv: list[str], threads: int, profile: bool = False, env: dict | None = None) -> dict:
    """One process: {"rows": each step's seconds and positions, "profile": its last step's table or ""}."""
    res = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(argv), str(threads), str(tree.resolve()), str(int(profile))],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith("ROWS ")]
    if res.returncode != 0 or not rows:
        sys.exit(f"train_speed: the run in {tree} failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
    out = json.loads(rows[-1][5:])
    if not Path(out["module"]).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"train_speed: {tree} ran the package from {out['module']}, not its own")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, help="NAME=TREE[:TRAIN ARGS]; the first is the baseline")
    ap.add_argument("--data", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per process (the first is warm-up)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write every timed step here")
    ap.add_argument("--profile", action="store_true", help="profile each process's last step")
    ap.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE, set in that run's processes")
    ap.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: more train options")
    args = ap.parse_args()
    runs = {}
    for spec in args.run:
        name, _, rest = spec.partition("=")
        tree, _, own = rest.partition(":")
        runs[name] = (Path(tree), shlex.split(own))
    envs: dict[str, dict[str, str]] = {name: {} for name in runs}
    for spec in args.env:
        name, _, assign = spec.partition(":")
        key, eq, value = assign.partition("=")
        if name not in runs or not key or not eq:
            sys.exit(f"train_speed: --env {spec!r} is not NAME:KEY=VALUE for one of the runs {sorted(runs)}")
        envs[name][key] = value
    extra = [a for a in args.train_args if a != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--data", args.data, "--features", args.features, "--out", tmp, "--steps", str(args.steps)] + extra
        steps: dict[str, list[dict]] = {name: [] for name in runs}
        profiles: dict[str, str] = {}
        for r in range(args.rounds):
            for name, (tree, own) in runs.items():
                out = run_tree(tree, argv + own, args.threads, args.profile, envs[name])
                rows, profiles[name] = out["rows"], out["profile"]
                steps[name] += rows[1:]
                print(f"round {r + 1} {name}: " + " ".join(f"{x['positions'] / x['seconds']:.0f}" for x in rows[1:]))
    rate = {name: [x["positions"] / x["seconds"] for x in rows] for name, rows in steps.items()}
    base = statistics.median(rate[next(iter(runs))])
    print("\n| run | steps timed | positions/s median | min | max | vs first |")
    print("|---|---|---|---|---|---|")
    for name, r in rate.items():
        med = statistics.median(r)
        print(f"| {name} | {len(r)} | {med:.0f} | {min(r):.0f} | {max(r):.0f} | {med / base:.2f}x |")
    for name, table in profiles.items():
        if table:
            print(f"\n{name}, its last step (round {args.rounds}):\n{table}")
    if args.json:
        record = {"argv": argv, "runs": {n: [str(t), own, envs[n]] for n, (t, own) in runs.items()}, "steps": steps}
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
