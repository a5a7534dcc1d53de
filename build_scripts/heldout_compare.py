"""Drafters scored on one training run's own held-out split: its starting point against its best.

    python build_scripts/heldout_compare.py runs/kd_s11 \\
        --drafter "shipped=trtllm_redrafter/assets/drafters/smollm2-135m-instruct" --drafter "best=runs/kd_s11/best"

A run's log has held-out figures only from its first evaluation on, so a warm start's starting
point is scored here on the same split: the run's data and settings (``RUN/run.json``), its held-out
rule and its ``eval_batches``, with each drafter loaded as ``--init-drafter`` at the run's V' (a
drafter with a smaller V' is grown as ``train`` grows it). Top-1 and the single-beam estimate
compare across V' (a target argmax outside V' is a miss); the KL compares only at equal V'.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import fields
from pathlib import Path

from trtllm_redrafter.training import train as T
from trtllm_redrafter.training.evaluate import evaluate
from trtllm_redrafter.training.settings import TrainSettings

KEYS = ("eval_kl", "eval_top1_pos1", "eval_top1_pos2", "eval_top1_pos3", "eval_top1_pos4", "eval_tokens_per_step_est")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a train --out directory (its run.json)")
    ap.add_argument("--drafter", action="append", required=True, help="LABEL=DIRECTORY; repeat")
    args = ap.parse_args()
    saved = json.loads((args.run / "run.json").read_text())["settings"]
    known = {f.name for f in fields(TrainSettings)}
    print("| drafter | held-out KL | top-1 pos 1 | pos 2 | pos 3 | pos 4 | tokens/step est. |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.drafter:
            label, _, path = spec.partition("=")
            values = {k: v for k, v in saved.items() if k in known}
            settings = TrainSettings(**{**values, "out": tmp, "init_drafter": path, "device": "cpu"})
            data = T.load_data(settings, 1)
            drafter = T.build_optimisation(settings, data, 1).drafter
            m = evaluate(drafter, data.target, data.eval_batches, settings, 0, data.t2d)
            print(f"| {label} | " + " | ".join(f"{m[k]:.4f}" for k in KEYS) + " |", flush=True)


if __name__ == "__main__":
    main()
