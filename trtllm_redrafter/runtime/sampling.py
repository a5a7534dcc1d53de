"""Exact speculative sampling over a beam-drafted prefix tree.

The distribution to preserve is the target's next-token distribution after HF's sampling warps,
applied in HF's order (temperature, then top-k, then top-p), exactly as
``generate(do_sample=True, temperature=..., top_k=..., top_p=...)`` samples it (``warp_logits``).

The rule (``accept_sampling``), for every row at once, walking the tree from the root:

    node = root; residual r = P(. | context, node)
    for each child x of node, in beam order:           (children: distinct next tokens of the beams)
        accept x with probability r(x)                  u < r(x),  u = rand_data_validation[beam, depth]
        on rejection: r(x) = 0, renormalise r           (rejection without replacement)
    if a child x was accepted: node = x, r = P(. | context, path to x), repeat
    else: sample the next token from r                  inverse CDF with rand_data_sample
    at a leaf: sample the bonus token from P(. | path)  likewise

Why it is exact. Beam search is deterministic, so the children of a node are a fixed list
c_1..c_m given the context. Testing them in order as above is the same as drawing y ~ P and
asking "is y = c_1? is y = c_2? ...": P(accept c_1) = P(c_1); given rejection, y ~ P restricted
to V \\ {c_1}, so P(accept c_2 | c_1 rejected) = P(c_2) / (1 - P(c_1)); and so on, and when all
are rejected the residual sample is y ~ P restricted to V \\ {c_1..c_m}. Every token therefore
leaves the node with probability exactly P(y). By induction over the depth, every emitted
sequence has exactly the target's probability. The drafter's probabilities never enter, so
ordering or pruning children by them cannot bias anything; ``draft_probs`` is not needed.

In closed form, child i (after children 1..i-1 were rejected) is accepted iff

    u_i * (1 - sum_{j<i} P(c_j)) < P(c_i)

so one node's test is a cumulative sum over its children, not a sequential loop.

Worked example (docs/sampling.md, mirrored in tests/test_sampling.py):
P(. | root) = {a: 0.5, b: 0.3, c: 0.2}, children [b, a]:
    P(accept b) = 0.3; P(accept a) = 0.7 * (0.5 / 0.7) = 0.5; P(sample from {c}) = 0.2.
"""

from __future__ import annotations

import torch

from trtllm_redrafter.runtime.accept import Acceptance, make_acceptance
from trtllm_redrafter.runtime.tree import PAD


def warp_logits(logits: torch.Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """HF's sampling warps, in HF's order; masked entries become -inf. logits [..., V] float."""
    logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1)  # ascending, as HF
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cum <= (1 - top_p)
        remove_sorted[..., -1] = False  # keep at least one token
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def sample_from(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sample: probs [B, V] (need not be normalised), u [B] in [0, 1) -> [B]."""
    cdf = probs.cumsum(-1)
    target = u * cdf[:, -1]
    idx = (cdf <= target[:, None]).sum(-1)  # first index whose cdf exceeds u * total
    return idx.clamp(max=probs.shape[-1] - 1)


def accept_sampling(
    probs: torch.Tensor,  # [bs, n, V] warped target probabilities at every packed token
    draft_tokens: torch.Tensor,  # [bs, nb, bl]
    draft_indices: torch.Tensor,  # [bs, nb, bl]
    rand_validation: torch.Tensor,  # [bs, nb, bl-1] uniforms: rand_data_validation
    rand_sample: torch.Tensor,  # [bs] uniforms: rand_data_sample
) -> Acceptance:
    bs, nb, bl = draft_tokens.shape
    dev = draft_tokens.device
    rows = torch.arange(bs, device=dev)
    node = torch.zeros(bs, dtype=torch.long, device=dev)  # packed index of the current node (root)
    beam = torch.zeros(bs, dtype=torch.long, device=dev)  # lowest beam through the accepted path
    depth = torch.zeros(bs, dtype=torch.long, device=dev)  # accepted drafts so far
    active = torch.ones(bs, dtype=torch.bool, device=dev)  # still walking
    next_token = torch.zeros(bs, dtype=torch.long, device=dev)
    beam_ids = torch.arange(nb, device=dev)
    for j in range(bl - 1):
        p_node = probs[rows, node]  # [bs, V]
        # children of the node: beams through it whose depth-(j+1) token opens a new node
        through = draft_indices[:, :, j] == node[:, None]  # [bs, nb]
        child_node = draft_indices[:, :, j + 1]  # [bs, nb]
        first_owner = (child_node[:, :, None] == child_node[:, None, :]).long().argmax(-1)  # [bs, nb]
        x = draft_tokens[:, :, j + 1]  # [bs, nb]
        # one entry per distinct child; a PAD (a beam shorter than bl, tree.py) is no child
        is_child = through & (first_owner == beam_ids[None, :]) & (x != PAD)
        x = x.clamp(min=0)
        p_x = p_node.gather(1, x) * is_child  # [bs, nb]
        prior = p_x.cumsum(-1) - p_x  # mass of the earlier children
        u = rand_validation[:, :, j]
        accept = is_child & (u * (1 - prior) < p_x)  # [bs, nb]
        any_accept = accept.any(-1) & active
        chosen = accept.long().argmax(-1)  # first accepted child (beam order)
        # rejected everywhere: sample from the residual without the children
        rejected = active & ~any_accept
        child_mask = torch.zeros_like(p_node).scatter_reduce(1, x, is_child.to(p_node.dtype), reduce="amax")
        residual = p_node * (1 - child_mask)  # [bs, V]
        has_mass = residual.sum(-1) > 0  # False only through rounding when children held all mass
        fallback = sample_from(p_node, rand_sample)
        next_token = torch.where(
            rejected, torch.where(has_mass, sample_from(residual, rand_sample), fallback), next_token
        )
        # accepted: step down to the child
        node = torch.where(any_accept, child_node[rows, chosen], node)
        beam = torch.where(any_accept, chosen, beam)
        depth = depth + any_accept.long()
        active = any_accept
    # rows that reached a leaf sample the bonus token from the leaf's distribution
    leaf_token = sample_from(probs[rows, node], rand_sample)
    next_token = torch.where(active, leaf_token, next_token)

    return make_acceptance(draft_tokens, draft_indices, beam, depth + 1, next_token)
