"""The shipped drafter and the session-9 run's best on that run's own held-out split (issue 17).

    python docs/results/distill/s9/heldout_compare.py > docs/results/distill/s9/heldout_compare.txt

The run's log only has held-out figures from step 50 on, so its starting point is scored here on
the same split: the run's data and settings (``runs/kd_s9/run.json``; every 50th sample of the
first 56 shards of the original corpus and the 32 of the float32 chat corpus), 8 held-out
batches of 4,096 tokens. Top-1 and the single-beam estimate compare across V' (a target argmax
outside V' is a miss); the KL does not (the target's top 32 are renormalised over V').
"""

from __future__ import annotations

from trtllm_redrafter.training import train as T
from trtllm_redrafter.training.evaluate import evaluate
from trtllm_redrafter.training.settings import TrainSettings

RUN = dict(
    model="smollm2-135m-instruct",
    data="data/distill/smollm2-135m-instruct,data/distill/smollm2-135m-instruct-chat32",
    features="runs/features/orig,runs/features/chat32",
    out="/tmp/heldout_compare",
    tokens_per_batch=4096,
    lm_head_from_target=False,
    num_draft_layers=2,
    hidden_scale=0.1,
    state_scale=1.0,
    autocast=False,
    eval_batches=8,
)
KEYS = ("eval_top1_pos1", "eval_top1_pos2", "eval_top1_pos3", "eval_top1_pos4", "eval_tokens_per_step_est")
DRAFTERS = {
    "shipped (session 4)": ("trtllm_redrafter/assets/drafters/smollm2-135m-instruct", 8192),
    "shipped grown to 16,384 (the run's step 0)": ("trtllm_redrafter/assets/drafters/smollm2-135m-instruct", 16384),
    "session 9, step 150 (runs/kd_s9/best)": ("runs/kd_s9/best", 16384),
}

if __name__ == "__main__":
    print("| drafter | V' | top-1 pos 1 | pos 2 | pos 3 | pos 4 | tokens/step est. |")
    print("|---|---|---|---|---|---|---|")
    for label, (path, v) in DRAFTERS.items():
        settings = TrainSettings(**RUN, init_drafter=path, draft_vocab_size=v)
        data = T.load_data(settings, 1)
        drafter = T.build_optimisation(settings, data, 1).drafter
        m = evaluate(drafter, data.target, data.eval_batches, settings, 0, data.t2d)
        print(f"| {label} | {v} | " + " | ".join(f"{m[k]:.4f}" for k in KEYS) + " |", flush=True)
