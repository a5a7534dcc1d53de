"""Greedy acceptance over the verified tree.

The target has scored every packed token in one forward. Its argmax at beam b, depth j is its
own choice for depth j+1. A beam's drafts are accepted while they equal that chain:

    pred         [bs, nb, bl]   target argmax at each beam position (gathered via draft_indices)
    match        [bs, nb, bl-1] draft_tokens[:, :, 1:] == pred[:, :, :-1]
    accept_len   [bs, nb]       1 + number of leading matches          (1..bl)

The best beam is the first with the longest accepted prefix. Outputs follow TensorRT-LLM's
explicit-draft-tokens contract:

    num_accepted_tokens [bs]  accepted drafts + 1 (the bonus token the target adds)
    accepted_beam_index [bs]
    next_token          [bs]  the bonus: target argmax after the last accepted token (next root)
    hidden_index        [bs]  packed index of the last accepted token; the drafter continues from
                              the target's hidden state there

Tokens emitted this step: draft_tokens[best, 1:num_accepted_tokens] followed by next_token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trtllm_redrafter.runtime.tree import unpack_per_beam


@dataclass
class Acceptance:
    num_accepted_tokens: torch.Tensor  # [bs]
    accepted_beam_index: torch.Tensor  # [bs]
    next_token: torch.Tensor  # [bs]
    hidden_index: torch.Tensor  # [bs]
    accepted_tokens: torch.Tensor  # [bs, bl]: draft_tokens[best, 1:n] + next_token, then padding
    path_indices: torch.Tensor  # [bs, bl]: packed indices of the accepted path (root first)


def make_acceptance(
    draft_tokens: torch.Tensor,
    draft_indices: torch.Tensor,
    beam: torch.Tensor,
    num: torch.Tensor,
    next_token: torch.Tensor,
) -> Acceptance:
    """Contract outputs from the chosen beam [bs], num_accepted_tokens [bs] and the next token [bs]."""
    rows = torch.arange(draft_tokens.shape[0], device=draft_tokens.device)
    beam_tokens = draft_tokens[rows, beam]  # [bs, bl]
    path = draft_indices[rows, beam]  # [bs, bl]
    # accepted drafts shifted left by one, with the next token written at position num-1
    accepted = torch.cat([beam_tokens[:, 1:], beam_tokens[:, :1]], dim=1)  # [bs, bl]
    accepted.scatter_(1, (num - 1)[:, None], next_token[:, None])
    return Acceptance(
        num_accepted_tokens=num,
        accepted_beam_index=beam,
        next_token=next_token,
        hidden_index=path.gather(1, (num - 1)[:, None])[:, 0],
        accepted_tokens=accepted,
        path_indices=path,
    )


def accept_greedy(packed_argmax: torch.Tensor, draft_tokens: torch.Tensor, draft_indices: torch.Tensor) -> Acceptance:
    """packed_argmax [bs, n]: the target's argmax at every packed token."""
    pred = unpack_per_beam(packed_argmax, draft_indices)  # [bs, nb, bl]
    match = draft_tokens[:, :, 1:] == pred[:, :, :-1]  # [bs, nb, bl-1]
    accept_len = 1 + match.long().cumprod(-1).sum(-1)  # [bs, nb]
    best = accept_len.argmax(-1)  # [bs] first beam with the longest prefix
    num = accept_len.gather(1, best[:, None])[:, 0]  # [bs]
    next_token = pred[torch.arange(pred.shape[0], device=pred.device), best].gather(1, (num - 1)[:, None])[:, 0]  # [bs]
    return make_acceptance(draft_tokens, draft_indices, best, num, next_token)
