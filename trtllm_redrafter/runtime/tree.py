"""Dynamic tree attention: pack beams into one deduplicated prefix tree.

Beam search returns ``draft_tokens [bs, nb, bl]``; column 0 of every beam is the same token, the
one the target already chose, so every beam starts at the tree's root. Beams often share a
prefix; the target needs to see each distinct prefix only once. Packing turns the beams into:

    tokens          [bs, n]            packed, deduplicated tokens (n = max generation length)
    gen_lengths     [bs]               number of real packed tokens in each row
    draft_indices   [bs, nb, bl]       packed index of beam b's token at depth j
    position_offsets[bs, n]            depth of each packed token (0 = root)
    mask            [bs, n, n] bool    mask[p, q]: packed token q is an ancestor of p, or p itself
    packed_mask     [bs, n, ceil(n/32)] int32: bit (q % 32) of word (q // 32) is mask[p, q]
    valid           [bs, n] bool       False on the padding after gen_lengths

Packing order (TensorRT-LLM's explicit-draft-tokens order): walk beams in order and, within a
beam, depths in order; a (beam, depth) token gets a new packed slot when no earlier beam shares
its prefix up to that depth. So packed index 0 is the root, and every node precedes its children.

Worked example (docs/tree_attention.md, mirrored in tests/test_tree.py and tests/test_accept.py):

    beams  b0: [7, 3, 5]     packed tokens  [7, 3, 5, 4, 9, 2]
           b1: [7, 3, 4]     draft_indices  b0: [0, 1, 2]  b1: [0, 1, 3]  b2: [0, 4, 5]
           b2: [7, 9, 2]     offsets        [0, 1, 2, 2, 1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PAD = -1  # a beam's tail past its own length (reference-only; see pack_beams)


@dataclass
class Tree:
    tokens: torch.Tensor  # [bs, n] int64
    gen_lengths: torch.Tensor  # [bs] int64
    draft_indices: torch.Tensor  # [bs, nb, bl] int64
    position_offsets: torch.Tensor  # [bs, n] int64
    mask: torch.Tensor  # [bs, n, n] bool
    packed_mask: torch.Tensor  # [bs, n, ceil(n / 32)] int32
    valid: torch.Tensor  # [bs, n] bool


def prefix_match_indices(draft_tokens: torch.Tensor) -> torch.Tensor:
    """[bs, nb, bl] -> [bs, nb, bl]: the first beam whose prefix up to depth j equals beam b's."""
    same = draft_tokens[:, :, None, :] == draft_tokens[:, None, :, :]  # [bs, nb(b), nb(b'), bl]
    same_prefix = same.long().cumprod(dim=-1).bool()  # prefixes equal up to and including depth j
    return same_prefix.long().argmax(dim=2)  # first True over b' (b' = b is always True)


def pack_mask_bits(mask: torch.Tensor) -> torch.Tensor:
    """bool [..., n] -> int32 [..., ceil(n/32)], bit (q % 32) of word (q // 32) set iff mask[..., q]."""
    n = mask.shape[-1]
    words = (n + 31) // 32
    padded = torch.zeros(*mask.shape[:-1], words * 32, dtype=torch.int64, device=mask.device)
    padded[..., :n] = mask.long()
    weights = torch.tensor([1 << i for i in range(32)], dtype=torch.int64, device=mask.device)  # [32]
    packed = (padded.view(*mask.shape[:-1], words, 32) * weights).sum(-1)  # unsigned value in int64
    packed = torch.where(packed >= 1 << 31, packed - (1 << 32), packed)  # reinterpret as int32
    return packed.to(torch.int32)


def unpack_mask_bits(packed: torch.Tensor, n: int) -> torch.Tensor:
    """int32 [..., words] -> bool [..., n]; inverse of ``pack_mask_bits``."""
    bits = (packed.long()[..., None] >> torch.arange(32, device=packed.device)) & 1  # [..., words, 32]
    return bits.flatten(-2)[..., :n].bool()


def pack_beams(draft_tokens: torch.Tensor) -> Tree:
    """Deduplicate beams [bs, nb, bl] into a packed prefix tree (see the module docstring).

    Reference-only extension: a beam may be shorter than bl, its tail filled with PAD (-1). A PAD
    opens no node; its draft_indices entry repeats the beam's last real node, so per-beam unpacking
    still works and a PAD never matches a target token (lookup.py uses this for a lookup beam longer
    than the drafter's)."""
    bs, nb, bl = draft_tokens.shape
    dev = draft_tokens.device
    real = draft_tokens != PAD  # [bs, nb, bl]: True up to each beam's length
    first = prefix_match_indices(draft_tokens)  # [bs, nb, bl]
    beam_ids = torch.arange(nb, device=dev)[None, :, None]
    is_new = (first == beam_ids) & real  # [bs, nb, bl]: this (beam, depth) opens a new node

    # packed slot of every new node, in beam-major then depth order
    flat_new = is_new.reshape(bs, nb * bl)  # [bs, nb*bl]
    slot = flat_new.long().cumsum(-1) - 1  # [bs, nb*bl]
    gen_lengths = flat_new.sum(-1)  # [bs]
    n = int(gen_lengths.max())  # the tree's width: the step's one host sync here

    # every (beam, depth) points at the slot of its first occurrence (beam `first`, same depth);
    # a PAD points at its beam's last real node
    depth_ids = torch.arange(bl, device=dev)[None, None, :]
    depth = torch.minimum(depth_ids, real.sum(-1, keepdim=True) - 1)  # [bs, nb, bl]
    owner = first.gather(2, depth)  # [bs, nb, bl]
    owner_flat = owner * bl + depth  # [bs, nb, bl] flat index of the owning node
    draft_indices = slot.gather(1, owner_flat.reshape(bs, -1)).reshape(bs, nb, bl)

    # scatter tokens and depths into their slots (padding slots keep token 0, depth 0; a PAD
    # rewrites its node's own token and depth, so it changes nothing)
    tokens = torch.zeros(bs, n, dtype=draft_tokens.dtype, device=dev)
    offsets = torch.zeros(bs, n, dtype=torch.long, device=dev)
    tokens.scatter_(1, draft_indices.reshape(bs, -1), draft_tokens.gather(2, depth).reshape(bs, -1))
    offsets.scatter_(1, draft_indices.reshape(bs, -1), depth.reshape(bs, -1))

    # ancestor relation: node draft_indices[b, j] sees draft_indices[b, k] for every k <= j
    rows = draft_indices[:, :, :, None].expand(bs, nb, bl, bl)  # [bs, nb, j, k]
    cols = draft_indices[:, :, None, :].expand(bs, nb, bl, bl)
    lower = torch.ones(bl, bl, dtype=torch.bool, device=dev).tril().expand(bs, nb, bl, bl)  # k <= j
    flat_pair = torch.where(lower, rows * n + cols, n * n).reshape(bs, -1)  # n*n = discard slot
    mask = torch.zeros(bs, n * n + 1, dtype=torch.bool, device=dev)
    mask.scatter_(1, flat_pair, True)
    mask = mask[:, : n * n].view(bs, n, n)
    valid = torch.arange(n, device=dev)[None, :] < gen_lengths[:, None]  # [bs, n]
    mask |= torch.eye(n, dtype=torch.bool, device=dev)[None] & ~valid[:, :, None]  # padding sees itself only

    return Tree(
        tokens=tokens,
        gen_lengths=gen_lengths,
        draft_indices=draft_indices,
        position_offsets=offsets,
        mask=mask,
        packed_mask=pack_mask_bits(mask),
        valid=valid,
    )


def unpack_per_beam(values: torch.Tensor, draft_indices: torch.Tensor) -> torch.Tensor:
    """Gather per-node values [bs, n, ...] into per-beam layout [bs, nb, bl, ...]."""
    bs, nb, bl = draft_indices.shape
    flat = draft_indices.reshape(bs, nb * bl)
    idx = flat.view(bs, nb * bl, *([1] * (values.dim() - 2))).expand(bs, nb * bl, *values.shape[2:])
    return values.gather(1, idx).view(bs, nb, bl, *values.shape[2:])
