"""The distillation loss: the drafter unrolled N steps from every position, against the target.

For a batch x [B, T] with the target's hidden states h [B, T, H] and next-token distribution p:

    s_k[i]     = next_state(s_{k-1}[i], e(x[i + k]))         s_0 = 0; x[i+1] is the "root"
    q_k[i]     = softmax(drafter(h[i], s_k[i]))              predicts x[i + k + 1]
    loss_k[i]  = KL(p[i + k] || q_k[i])  (+ ce_weight * -log q_k[i](x[i + k + 1]))
    valid:  i >= prompt_len - 1 (the predicted tokens are response tokens) and i + k + 1 < len

The loss is the mean over valid (i, k); prompt tokens are never predicted. ``drafter_loss`` also
counts teacher-forced top-1 / top-k agreement with the target's argmax, which evaluation reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trtllm_redrafter.runtime.drafter import Drafter
from trtllm_redrafter.training.batches import SparseTarget


@dataclass
class LossOut:
    loss: torch.Tensor
    kl: torch.Tensor  # float64 scalars: the mean KL and CE terms, for logging (no host sync here)
    ce: torch.Tensor
    top1: torch.Tensor | None  # [N] agreement with the target argmax per draft position (sum); None without metrics
    topk: torch.Tensor | None  # [N]
    count: torch.Tensor  # [N] valid positions
    chain: torch.Tensor  # scalar: sum over chain-valid positions of leading top-1 agreements
    chain_count: torch.Tensor


class Unroll(nn.Module):
    """The drafter unrolled N steps from every position at once (teacher forcing).

    forward(hidden [B, T, H], emb [B, T, H]) -> N logits [B, T, V], where logits[k-1][:, i]
    predicts x[i + k + 1] from h[i] and the RNN state after reading e(x[i+1]) .. e(x[i+k]).
    One module call per training step, so DistributedDataParallel sees a single forward. A list,
    not a stacked tensor: the stack would copy N x B x T x V floats, and each depth indexed back
    out of it would cost a zero-filled tensor of that whole size in the backward pass.
    """

    def __init__(self, drafter: Drafter, num_steps: int) -> None:
        super().__init__()
        self.drafter = drafter
        self.num_steps = num_steps

    def forward(self, hidden: torch.Tensor, emb: torch.Tensor) -> list[torch.Tensor]:
        t = emb.shape[1]
        state = None
        out = []
        for k in range(1, self.num_steps + 1):
            shifted = torch.zeros_like(emb)  # e(x[i + k]) for every position i, zeros past the end
            shifted[:, : t - k] = emb[:, k:]
            state = self.drafter.next_state(state, shifted)  # [B, T, H]
            out.append(self.drafter(hidden, state).float())  # [B, T, V]
        return out


def target_to_draft(draft_vocab: torch.Tensor | None, vocab_size: int) -> torch.Tensor | None:
    """[V] map from a target token id to its draft id, -1 where the draft vocabulary lacks it."""
    if draft_vocab is None:
        return None
    t2d = torch.full((vocab_size,), -1, dtype=torch.long, device=draft_vocab.device)
    t2d[draft_vocab.long()] = torch.arange(draft_vocab.numel(), device=draft_vocab.device)
    return t2d


def drafter_loss(
    unroll: nn.Module,
    embed: nn.Module,
    hidden: torch.Tensor,  # [B, T, H]
    target_logp: torch.Tensor | SparseTarget,  # [B, T, V] log-probs, or the top K of them
    ids: torch.Tensor,  # [B, T]
    lengths: torch.Tensor,  # [B]
    prompt_lens: torch.Tensor,  # [B]
    num_steps: int,
    ce_weight: float = 0.0,
    topk: int = 5,
    kd_weight: float = 1.0,
    t2d: torch.Tensor | None = None,  # [V] target id -> draft id (-1: absent); None = full vocabulary
    metrics: bool = True,  # False: the loss terms and counts only (a training step)
) -> LossOut:
    """Mean over valid (i, k) of kd_weight * KL(p || q) + ce_weight * CE(x[i+k+1]).

    With a reduced draft vocabulary the drafter's q lives on V' tokens; p is renormalised over
    them (tokens it lacks can never be drafted), and a target argmax outside V' counts as a miss.
    """
    b, t, _ = hidden.shape
    dev = hidden.device
    pos = torch.arange(t, device=dev)[None, :]  # [1, T]
    with torch.no_grad():
        emb = embed(ids).float()  # [B, T, H]
        if isinstance(target_logp, SparseTarget):
            p_ids, p_logp_all = target_logp.ids, target_logp.logp  # [B, T, K]
        else:
            p_logp_all = target_logp  # [B, T, V]
            p_ids = None
        if t2d is not None:
            if p_ids is None:  # dense: keep the draft vocabulary's columns, argmax from the full row
                argmax_d = t2d[target_logp.argmax(-1)]  # [B, T]
                p_logp_all = target_logp[..., (t2d >= 0).nonzero()[:, 0]]  # [B, T, V'] in draft-id order
            else:
                p_ids = t2d[p_ids]  # [B, T, K] draft ids, -1 = absent
                argmax_d = p_ids[..., 0]
        else:
            argmax_d = p_ids[..., 0] if p_ids is not None else target_logp.argmax(-1)
        if p_ids is not None:  # renormalise the kept entries
            p_logp_all = torch.log_softmax(p_logp_all.masked_fill(p_ids < 0, float("-inf")), dim=-1)
        elif t2d is not None:
            p_logp_all = torch.log_softmax(p_logp_all, dim=-1)
        labels = t2d[ids] if t2d is not None else ids  # [B, T] draft ids of the tokens (-1 = absent)
    all_logits = unroll(hidden, emb)  # N x [B, T, V']
    total = hidden.new_zeros((), dtype=torch.float32)
    n_total = torch.zeros((), dtype=torch.long, device=dev)
    kl_sum = torch.zeros((), dtype=torch.float64, device=dev)
    ce_sum = torch.zeros((), dtype=torch.float64, device=dev)
    top1, topk_hits, counts = [], [], []
    agree_chain = torch.ones(b, t, dtype=torch.bool, device=dev)
    chain_valid = torch.ones(b, t, dtype=torch.bool, device=dev)
    chain_sum = torch.zeros((), dtype=torch.long, device=dev)
    for k in range(1, num_steps + 1):
        logits = all_logits[k - 1]  # [B, T, V'] predicts x[i + k + 1]
        valid = (pos >= prompt_lens[:, None] - 1) & (pos + k + 1 < lengths[:, None])  # [B, T]
        # every position is computed and the invalid ones are masked: no data-dependent shape, so
        # no host sync (a nonzero() per depth would stall a GPU four times per micro-batch)
        q = torch.log_softmax(logits.float(), dim=-1)  # [B, T, V']

        def shifted(x: torch.Tensor, fill: float | int, k: int = k) -> torch.Tensor:
            out = torch.full_like(x, fill)
            out[:, : t - k] = x[:, k:]  # the target's view of x[i + k + 1] sits at position i + k
            return out

        p_k = shifted(p_logp_all, float("-inf"))  # [B, T, V'] or [B, T, K]
        # a row whose whole top K lies outside V' is NaN after the renormalisation: it carries no KD
        # signal. Zero p and log p there *before* the product, so no NaN reaches the gradient either
        # (a where() after the product would still multiply its NaN branch's gradient by zero).
        p_exp = p_k.exp()
        has_p = (p_exp > 0) & valid[..., None]  # False for -inf, NaN and invalid positions
        p = torch.where(has_p, p_exp, 0.0)
        log_p = torch.where(has_p, p_k, 0.0)
        q_ref = q.gather(-1, shifted(p_ids, 0).clamp(min=0)) if p_ids is not None else q  # [B, T, K|V']
        kl = (p * (log_p - torch.where(has_p, q_ref, 0.0))).sum(-1)  # [B, T], 0 where invalid
        loss_k = kd_weight * kl.sum()
        kl_sum += kl.detach().sum().double()
        if ce_weight > 0:
            nxt = torch.full_like(labels, -1)
            nxt[:, : t - k - 1] = labels[:, k + 1 :]
            use = (nxt >= 0) & valid  # [B, T]
            ce = -torch.where(use, q.gather(-1, nxt.clamp(min=0)[..., None])[..., 0], 0.0)  # [B, T]
            loss_k = loss_k + ce_weight * ce.sum()
            ce_sum += ce.detach().sum().double()
        total = total + loss_k
        n_total += valid.sum()
        counts.append(valid.sum())
        if not metrics:  # a training step reads only the loss: skip the argmax and top-k over V'
            continue
        with torch.no_grad():
            tgt = shifted(argmax_d, -1)  # [B, T] the target's greedy token, as a draft id
            hit = (logits.argmax(-1) == tgt) & (tgt >= 0)
            in_topk = (logits.topk(min(topk, logits.shape[-1]), dim=-1).indices == tgt[..., None]).any(-1) & (tgt >= 0)
            top1.append((hit & valid).sum())
            topk_hits.append((in_topk & valid).sum())
            agree_chain &= hit
            chain_valid &= valid
            chain_sum = chain_sum + (agree_chain & chain_valid).sum()
    n = n_total.clamp(min=1)
    return LossOut(
        loss=total / n,
        kl=kl_sum / n,
        ce=ce_sum / n,
        top1=torch.stack(top1) if metrics else None,
        topk=torch.stack(topk_hits) if metrics else None,
        count=torch.stack(counts),
        chain=chain_sum,
        chain_count=chain_valid.sum() if metrics else torch.zeros((), dtype=torch.long, device=dev),
    )
