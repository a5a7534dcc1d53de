"""Tree packing: golden examples (docs/tree_attention.md) and properties on random beams."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trtllm_redrafter.runtime.tree import (
    pack_beams,
    pack_mask_bits,
    prefix_match_indices,
    unpack_mask_bits,
    unpack_per_beam,
)


def test_golden_three_beams():
    """The worked example of docs/tree_attention.md, section 1."""
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]])
    tree = pack_beams(beams)
    assert tree.tokens.tolist() == [[7, 3, 5, 4, 9, 2]]
    assert tree.gen_lengths.tolist() == [6]
    assert tree.draft_indices.tolist() == [[[0, 1, 2], [0, 1, 3], [0, 4, 5]]]
    assert tree.position_offsets.tolist() == [[0, 1, 2, 2, 1, 2]]
    assert tree.mask[0].int().tolist() == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 0, 1, 0, 0],
        [1, 0, 0, 0, 1, 0],
        [1, 0, 0, 0, 1, 1],
    ]
    assert tree.packed_mask[0, :, 0].tolist() == [1, 3, 7, 11, 17, 49]


def test_golden_trtllm_beams2tree_example():
    """The example of TensorRT-LLM's test_beams2tree.py (docs/tree_attention.md, section 2)."""
    beams = torch.tensor([[[91, 92, 93, 95], [91, 92, 94, 96], [91, 92, 93, 97]]])
    tree = pack_beams(beams)
    assert tree.tokens.tolist() == [[91, 92, 93, 95, 94, 96, 97]]
    assert tree.draft_indices.tolist() == [[[0, 1, 2, 3], [0, 1, 4, 5], [0, 1, 2, 6]]]
    assert tree.position_offsets.tolist() == [[0, 1, 2, 3, 2, 3, 3]]


def test_golden_batch_of_different_lengths():
    """Row 0: all beams identical (n=3). Row 1: beams distinct after the root (n=1+2*2=5)."""
    beams = torch.tensor([[[1, 2, 3], [1, 2, 3]], [[4, 5, 6], [4, 7, 8]]])
    tree = pack_beams(beams)
    assert tree.gen_lengths.tolist() == [3, 5]
    assert tree.tokens.tolist() == [[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]]
    assert tree.valid.tolist() == [[True, True, True, False, False], [True] * 5]
    assert tree.draft_indices[0].tolist() == [[0, 1, 2], [0, 1, 2]]
    # padding rows see only themselves, real rows never see padding
    assert tree.mask[0, 3].tolist() == [False, False, False, True, False]
    assert not tree.mask[0, :3, 3:].any()


def test_mask_bits_use_all_32_bits_of_a_word():
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[0, 31] = True
    mask[0, 32] = True
    packed = pack_mask_bits(mask)
    assert packed.dtype == torch.int32 and packed.shape == (1, 2)
    assert packed.tolist() == [[-(1 << 31), 1]]  # bit 31 is the int32 sign bit
    assert torch.equal(unpack_mask_bits(packed, 40), mask)


@st.composite
def beam_batches(draw):
    bs = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 6))
    bl = draw(st.integers(1, 6))
    vocab = draw(st.integers(1, 4))  # a small vocabulary makes shared prefixes common
    flat = draw(st.lists(st.integers(0, vocab - 1), min_size=bs * nb * bl, max_size=bs * nb * bl))
    beams = torch.tensor(flat, dtype=torch.long).view(bs, nb, bl)
    beams[:, :, 0] = beams[:, :1, 0]  # column 0 is the shared root
    return beams


@settings(max_examples=300, deadline=None)
@given(beam_batches())
def test_tree_properties(beams):
    bs, nb, bl = beams.shape
    tree = pack_beams(beams)
    n = tree.tokens.shape[1]
    # every beam is rebuilt exactly from the packed tokens and draft_indices
    assert torch.equal(unpack_per_beam(tree.tokens, tree.draft_indices), beams)
    # the root is packed first, and a parent always precedes its child
    assert (tree.draft_indices[:, :, 0] == 0).all()
    assert (tree.draft_indices[:, :, 1:] > tree.draft_indices[:, :, :-1]).all()
    # offsets equal depth
    depth = torch.arange(bl).expand(bs, nb, bl)
    assert torch.equal(unpack_per_beam(tree.position_offsets, tree.draft_indices), depth)
    # packed nodes are exactly the distinct prefixes
    for b in range(bs):
        prefixes = {tuple(beams[b, i, : j + 1].tolist()) for i in range(nb) for j in range(bl)}
        assert int(tree.gen_lengths[b]) == len(prefixes)
        # mask equals the ancestor relation on real nodes: q is a prefix of p
        g = int(tree.gen_lengths[b])
        node_prefix = {}
        for i in range(nb):
            for j in range(bl):
                node_prefix[int(tree.draft_indices[b, i, j])] = tuple(beams[b, i, : j + 1].tolist())
        for p in range(g):
            for q in range(g):
                expect = node_prefix[p][: len(node_prefix[q])] == node_prefix[q]
                assert bool(tree.mask[b, p, q]) == expect
        assert not tree.mask[b, :g, g:].any()
    # bit-packing round-trips and has ceil(n/32) words
    assert tree.packed_mask.shape == (bs, n, (n + 31) // 32)
    assert torch.equal(unpack_mask_bits(tree.packed_mask, n), tree.mask)


@settings(max_examples=100, deadline=None)
@given(beam_batches())
def test_prefix_match_is_first_equal_prefix(beams):
    first = prefix_match_indices(beams)
    bs, nb, bl = beams.shape
    for b in range(bs):
        for i in range(nb):
            for j in range(bl):
                expect = next(k for k in range(nb) if torch.equal(beams[b, k, : j + 1], beams[b, i, : j + 1]))
                assert int(first[b, i, j]) == expect
