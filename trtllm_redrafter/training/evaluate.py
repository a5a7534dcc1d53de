"""Held-out and teacher-forced evaluation of a drafter: agreement with the target's argmax.

``evaluate`` reports, per draft position, top-1 / top-5 agreement and the KL on held-out batches,
and an estimate of tokens per step for a single greedy beam: 1 + E[number of leading positions
whose top-1 agrees], bonus included. ``teacher_forced_eval`` does the same on (prompt, response)
pairs, e.g. the target's own greedy answers to evaluation prompts (``eval-drafter``).
"""

from __future__ import annotations

import torch

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import Drafter
from trtllm_redrafter.training.batches import Sample, batch_inputs
from trtllm_redrafter.training.loss import Unroll, drafter_loss, target_to_draft
from trtllm_redrafter.training.settings import TrainSettings


@torch.no_grad()
def evaluate(
    drafter: Drafter,
    target,
    batches: list[list[Sample]],
    settings: TrainSettings,
    pad_id: int,
    t2d: torch.Tensor | None = None,
) -> dict:
    drafter.eval()
    embed = target.get_input_embeddings()
    device = embed.weight.device
    online_topk = settings.online_topk if settings.online_target else 0
    n = settings.num_steps
    top1 = torch.zeros(n, dtype=torch.long)
    topk = torch.zeros(n, dtype=torch.long)
    count = torch.zeros(n, dtype=torch.long)
    chain = chain_count = 0
    kl_sum, kl_n = 0.0, 0
    for batch in batches:
        hidden, logp, ids, lengths, plens = batch_inputs(target, batch, pad_id, device, online_topk)
        res = drafter_loss(Unroll(drafter, n), embed, hidden, logp, ids, lengths, plens, n, t2d=t2d)
        top1 += res.top1.cpu()
        topk += res.topk.cpu()
        count += res.count.cpu()
        chain += int(res.chain)
        chain_count += int(res.chain_count)
        kl_sum += float(res.kl) * int(res.count.sum())
        kl_n += int(res.count.sum())
    drafter.train()
    if not batches or int(count.sum()) == 0:
        return {}
    out = {"eval_kl": kl_sum / max(kl_n, 1), "eval_tokens_per_step_est": 1 + chain / max(chain_count, 1)}
    for k in range(n):
        out[f"eval_top1_pos{k + 1}"] = int(top1[k]) / max(int(count[k]), 1)
        out[f"eval_top5_pos{k + 1}"] = int(topk[k]) / max(int(count[k]), 1)
    return out


@torch.no_grad()
def teacher_forced_eval(drafter: Drafter, target, samples: list[tuple[list[int], list[int]]], num_steps: int) -> dict:
    """Per-position top-1/top-5 agreement with the target's argmax on (prompt, response) pairs,
    e.g. the target's own greedy answers to evaluation prompts (``eval-drafter``)."""
    draft_vocab = drafter.draft_vocab if drafter.config.draft_vocab_size else None
    t2d = target_to_draft(draft_vocab, drafter.config.vocab_size)
    batches = [[Sample(p + r, len(p), i)] for i, (p, r) in enumerate(samples) if len(r) >= 2]
    if not batches:
        raise RedrafterError("no response with at least 2 tokens to evaluate on")
    settings = TrainSettings(model="", data="", out="", num_steps=num_steps)
    out = evaluate(drafter, target, batches, settings, pad_id=0, t2d=t2d)
    if t2d is not None:  # how many answer tokens the draft vocabulary could have proposed at all
        answers = torch.tensor([t for _, r in samples for t in r], dtype=torch.long, device=t2d.device)
        out["draft_vocab_coverage"] = float((t2d[answers] >= 0).float().mean())
    return out
