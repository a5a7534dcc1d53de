"""torch.profiler over one training step (after one warm-up step), operators by their own CPU time.

    python docs/results/distill/s8/profile_step.py --data data/distill/smollm2-135m-instruct-chat \\
        --features runs/features/chat-bf16corpus --out /tmp/prof \\
        --init-drafter trtllm_redrafter/assets/drafters/smollm2-135m-instruct --tokens-per-batch 4096 \\
        --draft-vocab-size 8192 --own-lm-head --num-draft-layers 2 --hidden-scale 0.1 --state-scale 1.0 \\
        --no-autocast

Takes the ``train`` options. Session 8 ran it on 3c9320f (the intermediate code) and on the final code.
"""

from __future__ import annotations

import sys
from dataclasses import fields

from torch.profiler import ProfilerActivity, profile

from trtllm_redrafter.cli import build_parser
from trtllm_redrafter.training import train as T
from trtllm_redrafter.training.batches import EpochBatches
from trtllm_redrafter.training.checkpoint import Progress
from trtllm_redrafter.training.settings import TrainSettings

if __name__ == "__main__":
    args = build_parser().parse_args(["train", *sys.argv[1:]])
    settings = TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings) if hasattr(args, f.name)})
    data = T.load_data(settings, 1)
    opt = T.build_optimisation(settings, data, 1)
    loader, progress = EpochBatches(data.train_batches, settings.seed, 0, 1), Progress()
    T.optimisation_step(opt, data, settings, loader, progress)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        T.optimisation_step(opt, data, settings, loader, progress)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
