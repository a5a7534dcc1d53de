"""How a grown draft vocabulary's new head rows should start (issue 17, lever 2).

    python docs/results/distill/s8/grow_init.py > docs/results/distill/s8/grow_init.txt

The shipped drafter (V' = 8,192) is grown to 16,384 the way ``train --init-drafter`` does
(``warm_start``), and its new rows are then set to the target's rows times each scale. Each
variant is scored by the held-out evaluation of a training run (8 batches of 1,024 tokens of the
session-7 chat corpus's features). Top-1 and the single-beam estimate compare across V' (a target
argmax outside V' is a miss); the KL does not, because the target's top 32 are renormalised over V'.
"""

from __future__ import annotations

import torch

from trtllm_redrafter.training import train as T
from trtllm_redrafter.training.evaluate import evaluate
from trtllm_redrafter.training.settings import TrainSettings

DRAFTER = "trtllm_redrafter/assets/drafters/smollm2-135m-instruct"
RUN = dict(
    model="smollm2-135m-instruct",
    data="data/distill/smollm2-135m-instruct-chat",
    features="runs/features/chat-bf16corpus",
    out="/tmp/grow_init",
    init_drafter=DRAFTER,
    tokens_per_batch=1024,
    lm_head_from_target=False,
    num_draft_layers=2,
    hidden_scale=0.1,
    state_scale=1.0,
    autocast=False,
    eval_batches=8,
)
KEYS = ("eval_top1_pos1", "eval_top1_pos2", "eval_tokens_per_step_est", "eval_kl")


def score(v: int, scales: tuple[float, ...]) -> None:
    settings = TrainSettings(**RUN, draft_vocab_size=v)
    data = T.load_data(settings, 1)
    drafter = T.build_optimisation(settings, data, 1).drafter
    head = drafter.lm_head[-1].weight  # [V', H]
    new = torch.ones(head.shape[0], dtype=torch.bool)
    new[torch.searchsorted(drafter.draft_vocab, data.init.draft_vocab)] = False
    target_rows = data.target.get_output_embeddings().weight.detach().float()[drafter.draft_vocab.long()]
    for scale in scales:
        with torch.no_grad():
            head[new] = scale * target_rows[new]
        m = evaluate(drafter, data.target, data.eval_batches, settings, 0, data.t2d)
        label = f"new rows x {scale}" if new.any() else "shipped"
        print(f"| {v} | {label} | " + " | ".join(f"{m[k]:.4f}" for k in KEYS) + " |", flush=True)


if __name__ == "__main__":
    print("| V' | new rows | top-1 pos 1 | top-1 pos 2 | tokens/step est. | KL (over V') |")
    print("|---|---|---|---|---|---|")
    score(8192, (1.0,))
    score(16384, (1.0, 0.5, 0.25, 0.0))
