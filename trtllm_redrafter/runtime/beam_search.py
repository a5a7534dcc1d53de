"""Beam search over the recurrent drafter.

TensorRT-LLM's convention: a beam has length ``bl = draft_len + 1``; column 0 is the token the
target already chose (the tree's root), columns 1..bl-1 are drafted.

    draft_tokens  [bs, nb, bl]          int64
    draft_logp    [bs, nb, bl-1, V']    float32 drafter log-probs along each beam, over the head's
                                        rows (V' = V unless the drafter has a reduced draft vocabulary)

All beams start from one live beam (scores [0, -inf, ...]), so the first drafted step takes the
top ``nb`` distinct tokens; each later step keeps the top ``nb`` of nb·V extensions by total
log-probability. Everything is vectorised over batch and beams.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trtllm_redrafter.runtime.drafter import Drafter


@dataclass
class Beams:
    draft_tokens: torch.Tensor  # [bs, nb, bl]
    draft_logp: torch.Tensor | None  # [bs, nb, bl-1, V'] when requested
    scores: torch.Tensor  # [bs, nb] total log-probability of each beam


@torch.no_grad()
def beam_search(
    drafter: Drafter,
    embed,  # tokens [...] -> embeddings [..., H]: the target's frozen input embedding
    hidden: torch.Tensor,  # [bs, H] target hidden state at the last accepted token
    root: torch.Tensor,  # [bs] the token the target chose next
    num_beams: int,
    draft_len: int,
    return_logp: bool = False,
) -> Beams:
    bs, _ = hidden.shape
    nb = num_beams
    tokens = root[:, None, None].expand(bs, nb, 1)  # [bs, nb, 1]
    scores = torch.full((bs, nb), float("-inf"), device=hidden.device)
    scores[:, 0] = 0.0  # one live beam at the start
    ctx = hidden[:, None, :].expand(bs, nb, -1)  # [bs, nb, H]
    state = None  # s_0 = 0
    logps: list[torch.Tensor] = []
    for _ in range(draft_len):
        state = drafter.next_state(state, embed(tokens[:, :, -1]))  # [bs, nb, H]
        logp = torch.log_softmax(drafter(ctx, state).float(), dim=-1)  # [bs, nb, V']
        vocab = logp.shape[-1]
        total = (scores[:, :, None] + logp).reshape(bs, nb * vocab)  # [bs, nb*V']
        scores, flat = total.topk(nb, dim=-1)  # [bs, nb]
        parent = flat // vocab  # [bs, nb]
        token = drafter.to_target_ids(flat % vocab)  # [bs, nb] target token ids
        tokens = torch.cat([tokens.gather(1, parent[:, :, None].expand_as(tokens)), token[:, :, None]], dim=-1)
        state = state.gather(1, parent[:, :, None].expand_as(state))
        if return_logp:
            logps = [lp.gather(1, parent[:, :, None].expand_as(lp)) for lp in logps]
            logps.append(logp.gather(1, parent[:, :, None].expand_as(logp)))
    draft_logp = torch.stack(logps, dim=2) if return_logp and logps else None
    return Beams(draft_tokens=tokens, draft_logp=draft_logp, scores=scores)
