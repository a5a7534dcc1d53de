"""ReDrafter on TensorRT-LLM's PyTorch backend: the encodings a one-model worker hands to upstream ops.

Pure torch; nothing here imports ``tensorrt_llm``. See docs/pytorch_backend.md for the plan, the
upstream sources (file @ commit) and the worked example that tests/test_pytorch_backend.py mirrors.

1. ``beams_to_dynamic_tree``: ReDrafter beams -> the input of TensorRT-LLM's ``build_dynamic_tree_op``
   (``cpp/tensorrt_llm/kernels/speculativeDecoding/dynamicTreeKernels.cu``, ``buildDynamicTreeKernel``).
   That op takes EAGLE-2's "history" encoding of a tree with at most K children per node and depth D:

       history index h of a node    depth 1:  h = c                          (c < K: its slot at depth 1)
                                    depth d:  h = K + (d-2)·K² + p·K + c     (p: its parent's slot at d-1)
       parentList [bs, K·(D-1)+1]   parentList[0] = -1 (root); parentList[1 + (d-1)·K + s] = h of the
                                    node with slot s at depth d (1 <= d < D)
       selectedIndex [bs, N-1]      h of the node at tree position i+1 (position 0 is the root)

   The kernel finds a node's parent as ``parentList[h // K]`` (0 = the root), then the first
   position whose selectedIndex equals it. ReDrafter maps onto it with K = nb, D = bl - 1 and
   N = nb·(bl-1) + 1 (the static bound, the upstream ``tokens_per_gen_step``): at most nb distinct
   nodes per depth, each the slot of its first beam (beam order, as ``runtime/tree.py::pack_beams``).
   Real nodes are sorted by h, as EAGLE's ``torch.sort`` of its top-k leaves them (depth-major,
   so parents precede children); a row with fewer distinct nodes is padded with h = 0, a twin of
   position 1 (beam 0's first draft) that carries its token, so greedy verification, which tries
   siblings in position order, never prefers the twin.

2. ``draft_vocab_to_d2t``: our int32 ``draft_vocab`` (draft id -> base token id) -> EAGLE-3's ``d2t``
   offsets, ``target_id = draft_id + d2t[draft_id]`` (``eagle3.py`` ``draft_decoder``).

Torch mirrors of what the upstream greedy ops compute from those inputs, for CPU tests:
``build_dynamic_tree_reference`` (buildDynamicTreeKernel), ``verify_dynamic_tree_greedy_reference``
(verifyDynamicTreeGreedyKernel) and ``accepted_draft_indices`` (the ``accepted_draft_tokens_indices``
that ``update_kv_cache_draft_token_location_2d`` relocates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.tree import prefix_match_indices

_UNUSED = torch.iinfo(torch.int64).max  # sort key of a beam position that opens no node
_MAX_TREE = 1024  # build_dynamic_tree_op launches one thread per tree token (dynamicTreeOp.cpp's TORCH_CHECK)


@dataclass
class DynamicTree:
    parent_list: torch.Tensor  # [bs, K*(D-1)+1] int64: build_dynamic_tree_op's parentList (-1 = unused)
    selected_index: torch.Tensor  # [bs, N-1] int64: its selectedIndex, tree positions 1..N-1
    tokens: torch.Tensor  # [bs, N] int64: token at each tree position, root first (candidates / input ids)
    tree_position: torch.Tensor  # [bs, nb, bl] int64: tree position of beam b's token at depth j
    packed_index: torch.Tensor  # [bs, N] int64: pack_beams slot of each tree position, -1 on padding
    valid: torch.Tensor  # [bs, N] bool: False on the padding twins
    top_k: int  # K = nb (dynamic_tree_max_topK)
    depth: int  # D = bl - 1 (max_draft_len)


def _check_beams(draft_tokens: torch.Tensor) -> None:
    if not isinstance(draft_tokens, torch.Tensor) or draft_tokens.dim() != 3:
        raise RedrafterError("beams_to_dynamic_tree: draft_tokens must be a [bs, nb, bl] tensor")
    if draft_tokens.dtype.is_floating_point or draft_tokens.dtype.is_complex or draft_tokens.dtype == torch.bool:
        raise RedrafterError(f"beams_to_dynamic_tree: draft_tokens must be integer token ids, got {draft_tokens.dtype}")
    bs, nb, bl = draft_tokens.shape
    if bs == 0 or nb == 0 or bl < 2:
        raise RedrafterError(f"beams_to_dynamic_tree: need bs, nb >= 1 and bl >= 2 (a drafted token), got {bs, nb, bl}")
    if nb * (bl - 1) + 1 > _MAX_TREE:
        raise RedrafterError(f"beams_to_dynamic_tree: nb*(bl-1)+1 = {nb * (bl - 1) + 1} tree tokens exceed {_MAX_TREE}")
    if bool((draft_tokens < 0).any()):
        raise RedrafterError("beams_to_dynamic_tree: negative token ids (PAD beams) have no dynamic-tree encoding")
    if not bool((draft_tokens[:, :, 0] == draft_tokens[:, :1, 0]).all()):
        raise RedrafterError("beams_to_dynamic_tree: every beam of a row must start with the same root token")


def _node_slots(draft_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """first, is_new, slot, all [bs, nb, bl]: a node's slot is its rank among its depth's nodes, in beam order."""
    nb = draft_tokens.shape[1]
    first = prefix_match_indices(draft_tokens)  # first beam sharing beam b's prefix up to depth j
    is_new = first == torch.arange(nb, device=draft_tokens.device)[None, :, None]  # (b, j) opens a node
    slot_of_new = is_new.long().cumsum(1) - 1  # [bs, nb, bl]
    return first, is_new, slot_of_new.gather(1, first)  # every (b, j) takes its node's slot


def _history_indices(slot: torch.Tensor, k: int) -> torch.Tensor:
    """slot [bs, nb, bl] -> h [bs, nb, D] of the node beam b reaches at depth j = 1..D."""
    bl = slot.shape[-1]
    d = torch.arange(1, bl, device=slot.device)  # [D] depth
    parent, own = slot[:, :, :-1], slot[:, :, 1:]  # slots at depth j-1 and j
    deep = k + (d - 2) * k * k + parent * k + own  # depth >= 2
    return torch.where(d == 1, own, deep)


def _parent_list(hist: torch.Tensor, slot: torch.Tensor, k: int) -> torch.Tensor:
    """[bs, K*(D-1)+1]: entry 1 + (d-1)K + s holds h of the node with slot s at depth d < D."""
    bs, nb, depth = hist.shape
    out = torch.full((bs, k * (depth - 1) + 1), -1, dtype=torch.int64, device=hist.device)
    d = torch.arange(1, depth, device=hist.device)  # [D-1]
    at = 1 + (d - 1) * k + slot[:, :, 1:depth]  # [bs, nb, D-1]; duplicates write the same h
    return out.scatter_(1, at.reshape(bs, -1), hist[:, :, : depth - 1].reshape(bs, -1))


def beams_to_dynamic_tree(draft_tokens: torch.Tensor) -> DynamicTree:
    """ReDrafter beams [bs, nb, bl] (root first) -> build_dynamic_tree_op's encoding (module docstring)."""
    _check_beams(draft_tokens)
    bs, nb, bl = draft_tokens.shape
    k, depth, dev = nb, bl - 1, draft_tokens.device
    m = nb * depth  # N - 1 draft positions
    first, is_new, slot = _node_slots(draft_tokens)
    hist = _history_indices(slot, k)  # [bs, nb, D]

    # tree order: the distinct nodes sorted by h, then padding twins (h = 0, the token of position 1)
    key = torch.where(is_new[:, :, 1:], hist, _UNUSED).reshape(bs, m)
    key, order = key.sort(dim=1)  # order: flat (b, j-1) index of each sorted entry
    real = key != _UNUSED  # [bs, m]
    drafts = draft_tokens[:, :, 1:].reshape(bs, m).long().gather(1, order)
    drafts = torch.where(real, drafts, drafts[:, :1])
    root = draft_tokens[:, :1, 0].long()  # [bs, 1]

    # pack_beams slot of each tree position (its order: beam-major, new nodes only)
    packed_slot = is_new.reshape(bs, nb * bl).long().cumsum(1) - 1  # [bs, nb*bl]
    origin = (order // depth) * bl + order % depth + 1  # flat (b, j) in the [nb, bl] grid
    packed = torch.where(real, packed_slot.gather(1, origin), -1)

    # tree position of every (b, j): 1 + sorted rank of its node's first occurrence
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(m, device=dev).expand(bs, m))
    j = torch.arange(1, bl, device=dev)[None, None, :]
    owner = first[:, :, 1:] * depth + j - 1  # [bs, nb, D] flat (owner beam, j-1)
    pos = 1 + rank.gather(1, owner.reshape(bs, m)).reshape(bs, nb, depth)
    zero = torch.zeros(bs, 1, dtype=torch.int64, device=dev)
    return DynamicTree(
        parent_list=_parent_list(hist, slot, k),
        selected_index=torch.where(real, key, 0),
        tokens=torch.cat([root, drafts], dim=1),
        tree_position=torch.cat([zero[:, :, None].expand(bs, nb, 1), pos], dim=2),
        packed_index=torch.cat([zero, packed], dim=1),
        valid=torch.cat([torch.ones_like(real[:, :1]), real], dim=1),
        top_k=k,
        depth=depth,
    )


# ---- torch mirrors of the upstream greedy ops (CPU tests; what the kernels compute) ---------------


@dataclass
class BuiltTree:
    parent: torch.Tensor  # [bs, N] int64: parent position; -1 for the root, -2 where none is found
    positions: torch.Tensor  # [bs, N] int64: depth (the op's ``positions`` output)
    mask: torch.Tensor  # [bs, N, N] bool: the op's tree_mask (QLEN_ONLY): ancestors, self and the root
    retrieve_next_token: torch.Tensor  # [bs, N] int64: first child, -1 = none
    retrieve_next_sibling: torch.Tensor  # [bs, N] int64: next sibling, -1 = none


def _parents(parent_list: torch.Tensor, selected_index: torch.Tensor, k: int) -> torch.Tensor:
    """[bs, N]: the kernel's parent search (first position whose selectedIndex is parentList[h // K])."""
    width = parent_list.shape[1]
    bucket = selected_index // k  # [bs, N-1]; 0 = child of the root
    if bool((selected_index < 0).any()) or bool((bucket >= width).any()):
        raise RedrafterError(f"selected_index must lie in [0, {k * width}) for parentList width {width}")
    wanted = parent_list.gather(1, bucket)  # [bs, N-1] h of each node's parent
    hit = selected_index[:, None, :] == wanted[:, :, None]  # [bs, N-1 (node), N-1 (candidate)]
    parent = torch.where(hit.any(-1), hit.long().argmax(-1) + 1, -2)
    parent = torch.where(bucket == 0, 0, parent)
    return torch.cat([torch.full_like(parent[:, :1], -1), parent], dim=1)


def build_dynamic_tree_reference(
    parent_list: torch.Tensor, selected_index: torch.Tensor, top_k: int, depth: int
) -> BuiltTree:
    """What buildDynamicTreeKernel writes for these inputs (a node without a found parent is left
    out of the child lists and its ancestor walk stops there, as in the kernel)."""
    parent = _parents(parent_list.long(), selected_index.long(), top_k)  # [bs, N]
    bs, n = parent.shape
    dev = parent.device
    cur = torch.arange(n, device=dev).expand(bs, n)
    alive = cur != 0  # the root row sees only itself
    positions = torch.zeros(bs, n, dtype=torch.int64, device=dev)
    mask = torch.zeros(bs, n, n, dtype=torch.bool, device=dev)
    mask[:, :, 0] = True  # every row sees the root
    for _ in range(depth + 1):  # the kernel walks at most depth + 1 nodes up
        mask.scatter_(2, torch.where(alive, cur, 0)[..., None], True)
        positions += alive.long()
        up = parent.gather(1, cur)
        alive = alive & (up > 0)
        cur = torch.where(alive, up, 0)

    linked = parent >= 0  # [bs, N]; the root and orphans are in no child list
    idx = torch.arange(n, device=dev)
    child = linked[:, None, :] & (parent[:, None, :] == idx[None, :, None])  # [bs, p, i]: i is a child of p
    later = linked[:, :, None] & linked[:, None, :] & (parent[:, :, None] == parent[:, None, :])
    later &= idx[None, None, :] > idx[None, :, None]  # [bs, i, j]: j is a later sibling of i
    return BuiltTree(
        parent=parent,
        positions=positions,
        mask=mask,
        retrieve_next_token=torch.where(child.any(-1), child.long().argmax(-1), -1),
        retrieve_next_sibling=torch.where(later.any(-1), later.long().argmax(-1), -1),
    )


def verify_dynamic_tree_greedy_reference(
    candidates: torch.Tensor,
    next_token: torch.Tensor,
    next_sibling: torch.Tensor,
    target_predict: torch.Tensor,
    depth: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """verifyDynamicTreeGreedyKernel: from the root, take the first child (child-list order) whose
    candidate equals the target's prediction at the last accepted node, up to ``depth`` times.

    candidates, next_token, next_sibling, target_predict [bs, N] -> accept_index [bs, D+1] (tree
    positions, root first, 0 after the path), accept_token_num [bs] (accepted drafts) and
    accept_token [bs, D+1] (the target's predictions along the path: the drafts and the bonus)."""
    bs, n = candidates.shape
    rows = torch.arange(bs, device=candidates.device)
    last = torch.zeros(bs, dtype=torch.int64, device=candidates.device)
    done = torch.zeros(bs, dtype=torch.bool, device=candidates.device)
    accept_index = torch.zeros(bs, depth + 1, dtype=torch.int64, device=candidates.device)
    accept_token = torch.zeros_like(accept_index)
    accept_token[:, 0] = target_predict[rows, 0]
    accepted = torch.zeros_like(last)
    for j in range(1, depth + 1):
        want = target_predict[rows, last]
        cur, hit = next_token[rows, last], torch.full_like(last, -1)
        for _ in range(n):  # walk the child list
            look = ~done & (hit < 0) & (cur >= 0)
            match = look & (candidates[rows, cur.clamp(min=0)] == want)
            hit = torch.where(match, cur, hit)
            cur = torch.where(look & ~match, next_sibling[rows, cur.clamp(min=0)], cur)
        ok = ~done & (hit >= 0)
        accepted += ok.long()
        last = torch.where(ok, hit, last)
        accept_index[:, j] = torch.where(ok, hit, 0)
        accept_token[:, j] = torch.where(ok, target_predict[rows, last], 0)
        done |= ~ok
    return accept_index, accepted, accept_token


def accepted_draft_indices(accept_index: torch.Tensor, accept_token_num: torch.Tensor) -> torch.Tensor:
    """[bs, D] int32: the accepted drafts' tree positions - 1 (draft slots), -1 after the path: the
    ``accepted_draft_tokens_indices`` that update_kv_cache_draft_token_location_2d moves to slots 0..n-1."""
    steps = torch.arange(accept_index.shape[1] - 1, device=accept_index.device)
    return torch.where(steps < accept_token_num[:, None], accept_index[:, 1:] - 1, -1).to(torch.int32)


def relocation_from_beams(tree: DynamicTree, beam: torch.Tensor, num_accepted_tokens: torch.Tensor) -> torch.Tensor:
    """The same [bs, D] int32 from ReDrafter's acceptance (runtime/accept.py): the best beam [bs]
    and num_accepted_tokens [bs] (accepted drafts + 1)."""
    rows = torch.arange(beam.shape[0], device=beam.device)
    path = tree.tree_position[rows, beam]  # [bs, bl] tree positions, root first
    return accepted_draft_indices(path, num_accepted_tokens - 1)


# ---- draft vocabulary -> EAGLE-3 d2t ---------------------------------------------------------------


def draft_vocab_to_d2t(draft_vocab: torch.Tensor | Sequence[int], vocab_size: int | None = None) -> torch.Tensor:
    """draft_vocab [V'] (draft id -> base token id) -> d2t [V'] int32 with d2t[i] = draft_vocab[i] - i.

    Refused: not a 1-D integer table, empty, negative, >= vocab_size (when given), repeated ids."""
    table = draft_vocab if isinstance(draft_vocab, torch.Tensor) else torch.as_tensor(draft_vocab)
    if table.dim() != 1 or table.numel() == 0:
        raise RedrafterError(f"draft_vocab must be a non-empty 1-D table, got shape {tuple(table.shape)}")
    if table.dtype.is_floating_point or table.dtype.is_complex or table.dtype == torch.bool:
        raise RedrafterError(f"draft_vocab must hold integer token ids, got {table.dtype}")
    ids = table.long()
    lo, hi = int(ids.min()), int(ids.max())
    limit = vocab_size if vocab_size is not None else torch.iinfo(torch.int32).max + 1
    if lo < 0 or hi >= limit:
        raise RedrafterError(f"draft_vocab ids must lie in [0, {limit}), got min {lo}, max {hi}")
    if ids.unique().numel() != ids.numel():
        raise RedrafterError(f"draft_vocab repeats {ids.numel() - ids.unique().numel()} token id(s)")
    return (ids - torch.arange(ids.numel(), device=ids.device)).to(torch.int32)


def d2t_to_draft_vocab(d2t: torch.Tensor) -> torch.Tensor:
    """The inverse: draft_vocab[i] = i + d2t[i] (int32), what EAGLE-3's draft_decoder computes per draft id."""
    return (torch.arange(d2t.numel(), device=d2t.device) + d2t.long()).to(torch.int32)
