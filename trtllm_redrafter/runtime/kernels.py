"""Steps 2 and 4 of a decode step through the torch custom ops (``Decoder(kernels="ops")``).

Each function is a drop-in for its reference: ``pack_beams`` for ``tree.pack_beams``,
``accept_greedy`` for ``accept.accept_greedy(logits.argmax(-1), ...)`` and ``accept_sampling``
for ``sampling.accept_sampling``. The ops (``ops/torch_ops.py``) run the kernels' own code and
return int32 tensors over n_cap = nb * (bl - 1) + 1 slots; these wrappers cut the tree to its
widest row and widen to int64, so every later step sees exactly the reference's tensors. Beams
may end early in PAD (a lookup beam of another length than the drafter's): the packing kernel
opens no slot for a PAD, as ``tree.pack_beams`` (plugins/kernels/pack_beams.h).
"""

from __future__ import annotations

import torch

from trtllm_redrafter.ops import torch_ops
from trtllm_redrafter.runtime.accept import Acceptance
from trtllm_redrafter.runtime.tree import Tree, unpack_mask_bits


def pack_beams(draft_tokens: torch.Tensor) -> Tree:
    """``tree.pack_beams`` through ``torch.ops.redrafter.pack_beams``: draft_tokens [bs, nb, bl]."""
    torch_ops.load()
    bs = draft_tokens.shape[0]
    base = torch.zeros(bs, dtype=torch.int32, device=draft_tokens.device)
    tokens, gen, indices, offsets, packed, _ = torch.ops.redrafter.pack_beams(draft_tokens.int().contiguous(), base)
    n = int(gen.max())  # the reference's width: the widest row
    valid = torch.arange(n, device=gen.device)[None, :] < gen[:, None]  # [bs, n]
    words = (n + 31) // 32
    packed = packed[:, :n, :words].contiguous()  # [bs, n, ceil(n/32)]: the words past n are zero
    return Tree(
        tokens=tokens[:, :n].long(),
        gen_lengths=gen.long(),
        draft_indices=indices.long(),
        position_offsets=offsets[:, :n].long(),
        mask=unpack_mask_bits(packed, n),
        packed_mask=packed,
        valid=valid,
    )


def _acceptance(out: tuple[torch.Tensor, ...]) -> Acceptance:
    num, beam, nxt, hidden, path, accepted = (t.long() for t in out)
    return Acceptance(num, beam, nxt, hidden, accepted_tokens=accepted, path_indices=path)


def accept_greedy(logits: torch.Tensor, draft_tokens: torch.Tensor, tree: Tree) -> Acceptance:
    """``accept.accept_greedy(logits.argmax(-1), ...)`` through ``torch.ops.redrafter.greedy_accept``."""
    torch_ops.load()
    args = (draft_tokens.int().contiguous(), tree.draft_indices.int().contiguous(), tree.gen_lengths.int())
    return _acceptance(torch.ops.redrafter.greedy_accept(logits.contiguous(), *args))


def accept_sampling(
    probs: torch.Tensor,
    draft_tokens: torch.Tensor,
    tree: Tree,
    rand_validation: torch.Tensor,
    rand_sample: torch.Tensor,
) -> Acceptance:
    """``sampling.accept_sampling`` through ``torch.ops.redrafter.sampling_accept``, the same uniforms."""
    torch_ops.load()
    args = (draft_tokens.int().contiguous(), tree.draft_indices.int().contiguous(), tree.gen_lengths.int())
    uniforms = (rand_validation.float().contiguous(), rand_sample.float().contiguous())
    return _acceptance(torch.ops.redrafter.sampling_accept(probs.float().contiguous(), *args, *uniforms))
