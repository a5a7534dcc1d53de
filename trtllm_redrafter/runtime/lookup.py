"""A context-lookup candidate: one extra beam copied from the text so far.

Dynamic tree attention verifies any set of candidate beams in one forward, and both acceptance
rules (greedy, and exact sampling, which never reads draft probabilities) hold for any
deterministic candidates. So besides the drafter's ``nb`` beams, a step can verify one more beam
that costs nothing to propose: the continuation of the latest earlier occurrence of the last
``n`` tokens (prompt-lookup / n-gram decoding). It pays when the answer copies from the prompt
(translation, RAG, summarisation) or repeats itself; where the drafter already proposes the
same prefix, packing shares the nodes.

    history  [bs, L]   prompt + emitted tokens per row, left-padded with -1; the last column is
                       the root (the token the target chose, not yet verified in the cache)
    beam     [bs, bl]  root followed by draft_len copied tokens
    found    [bs]      False where no n-gram matched (with_lookup_beam then repeats beam 0)

Matching, for n = max_ngram down to min_ngram (longest wins): the tail history[L-n:] is compared
with every earlier window history[p:p+n], p + n < L. The latest match ends at e = p + n; its
continuation is history[e + (i mod d)] for i = 0..draft_len-1, with period d = L - e. Where the
continuation runs past the end, the text is continued periodically: a loop "a b a b" continues
with "a b", as the target would if it keeps repeating.

Worked example (docs/lookup.md, mirrored in tests/test_lookup.py):

    history  [5, 6, 7, 8, 5, 6]   n = 2: tail (5, 6) also at p = 0, e = 2, d = 4
    draft_len 3 -> beam [6, 7, 8, 5]
"""

from __future__ import annotations

import torch

from trtllm_redrafter.runtime.tree import PAD


def lookup_beam(
    history: torch.Tensor,  # [bs, L] int64, left-padded with PAD
    draft_len: int,
    max_ngram: int = 3,
    min_ngram: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(beam [bs, draft_len + 1], found [bs]); beam[:, 0] is the root history[:, -1]."""
    bs, length = history.shape
    best_end = torch.full((bs,), -1, dtype=torch.long, device=history.device)  # match end e, -1 = none yet
    for n in range(max_ngram, min_ngram - 1, -1):
        if length <= n:
            continue
        tail = history[:, length - n :]  # [bs, n]
        windows = history[:, : length - 1].unfold(1, n, 1)  # [bs, L-n, n]: windows ending before L
        hit = (windows == tail[:, None, :]).all(-1) & (tail != PAD).all(-1, keepdim=True)  # [bs, L-n]
        ends = torch.arange(n, length, device=history.device)[None, :].expand(bs, -1)  # [bs, L-n]: end e of each window
        latest = torch.where(hit, ends, -1).amax(-1)  # [bs]
        best_end = torch.where(best_end < 0, latest, best_end)  # a longer n-gram already won
    found = best_end >= 0
    end = best_end.clamp(min=1)  # [bs]
    period = length - end  # [bs] >= 1
    offsets = torch.arange(draft_len, device=history.device)[None, :] % period[:, None]  # [bs, draft_len]
    copied = history.gather(1, (end[:, None] + offsets).clamp(max=length - 1))  # [bs, draft_len]
    beam = torch.cat([history[:, -1:], copied], dim=1)  # [bs, bl]
    return beam, found


def with_lookup_beam(
    draft_tokens: torch.Tensor, history: torch.Tensor, max_ngram: int, min_ngram: int, length: int = 0
) -> torch.Tensor:
    """Append the lookup beam to the drafter's beams: [bs, nb, dl+1] -> [bs, nb + 1, bl].

    ``length`` (0 = the drafter's draft_len) is the lookup beam's draft length. When the two differ,
    bl = 1 + the longer one and the shorter beams end in PAD, which packing turns into no node
    (tree.py), so a long lookup beam costs only its own tokens. Rows without a match repeat beam 0,
    which packing folds into beam 0's nodes at no cost."""
    bs, nb, dl1 = draft_tokens.shape
    length = length or dl1 - 1
    bl = max(dl1, length + 1)
    beam, found = lookup_beam(history, length, max_ngram, min_ngram)  # [bs, length+1], [bs]
    drafts = torch.cat([draft_tokens, draft_tokens.new_full((bs, nb, bl - dl1), PAD)], dim=2)  # [bs, nb, bl]
    beam = torch.cat([beam, beam.new_full((bs, bl - length - 1), PAD)], dim=1)  # [bs, bl]
    extra = torch.where(found[:, None], beam, drafts[:, 0])  # [bs, bl]
    return torch.cat([drafts, extra[:, None, :]], dim=1)
