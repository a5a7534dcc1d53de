"""ReDrafter -> TensorRT-LLM PyTorch-backend encodings (trtllm/pytorch_backend.py, docs/pytorch_backend.md).

Checked against our own packing (runtime/tree.py pack_beams) and greedy acceptance (runtime/accept.py),
through torch mirrors of the upstream dynamic-tree kernels. Nothing here runs TensorRT-LLM.
"""

from __future__ import annotations

import pytest
import torch

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.accept import accept_greedy
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.runtime.tree import pack_beams
from trtllm_redrafter.trtllm.pytorch_backend import (
    accepted_draft_indices,
    beams_to_dynamic_tree,
    build_dynamic_tree_reference,
    d2t_to_draft_vocab,
    draft_vocab_to_d2t,
    relocation_from_beams,
    verify_dynamic_tree_greedy_reference,
)

# ---- helpers ----------------------------------------------------------------------------------------


def random_beams(bs: int, nb: int, bl: int, seed: int) -> torch.Tensor:
    """[bs, nb, bl]: a 3-token vocabulary forces shared prefixes; some beams are exact copies."""
    gen = torch.Generator().manual_seed(seed)
    beams = torch.randint(0, 3, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = torch.randint(10, 20, (bs, 1), generator=gen)  # one root per row
    if nb > 1:  # duplicate beams: copy a random earlier beam over a later one
        src = torch.randint(0, nb - 1, (bs,), generator=gen)
        beams[torch.arange(bs), -1] = beams[torch.arange(bs), src]
    return beams


def build(beams: torch.Tensor):
    tree = beams_to_dynamic_tree(beams)
    built = build_dynamic_tree_reference(tree.parent_list, tree.selected_index, tree.top_k, tree.depth)
    return tree, built


def built_paths(tokens: torch.Tensor, parent: torch.Tensor, valid: torch.Tensor) -> dict[tuple[int, ...], int]:
    """One row: root-to-node token path -> tree position, over the valid positions."""
    paths = {}
    for i in torch.nonzero(valid).flatten().tolist():
        path, cur = [], i
        while cur >= 0:
            path.append(int(tokens[cur]))
            cur = int(parent[cur])
        assert tuple(reversed(path)) not in paths, "two tree positions share a token path"
        paths[tuple(reversed(path))] = i
    return paths


def packed_paths(packed, row: int) -> dict[tuple[int, ...], int]:
    """One row of pack_beams: root-to-node token path -> packed slot (ancestors from its mask, by depth)."""
    paths = {}
    for q in range(int(packed.gen_lengths[row])):
        anc = torch.nonzero(packed.mask[row, q]).flatten()
        anc = anc[packed.position_offsets[row, anc].argsort()]
        paths[tuple(packed.tokens[row, anc].tolist())] = q
    return paths


def target_argmax(beams: torch.Tensor, packed, seed: int) -> torch.Tensor:
    """[bs, n]: the target's argmax at every packed token. Row 0 follows its last beam to the end (full
    acceptance); other rows follow a child's token with probability 0.7, else a token no beam drafted."""
    gen = torch.Generator().manual_seed(seed)
    bs, nb, bl = beams.shape
    n = packed.tokens.shape[1]
    out = torch.full((bs, n), 99, dtype=torch.long)
    idx = packed.draft_indices
    for r in range(bs):
        for b in torch.randperm(nb, generator=gen).tolist():
            for j in range(bl - 1):
                if r == 0 or float(torch.rand((), generator=gen)) < 0.7:
                    out[r, idx[r, b, j]] = beams[r, b, j + 1]
        if r == 0:
            out[0, idx[0, -1, :-1]] = beams[0, -1, 1:]  # last beam wins every depth
    return out


# ---- (a) the dynamic tree equals pack_beams' tree ---------------------------------------------------


@pytest.mark.parametrize("nb", range(1, 9))
@pytest.mark.parametrize("bl", range(2, 7))
def test_dynamic_tree_has_the_packed_tree_paths(nb: int, bl: int) -> None:
    beams = random_beams(3, nb, bl, seed=100 * nb + bl)
    tree, built = build(beams)
    packed = pack_beams(beams)
    n = nb * (bl - 1) + 1
    assert tree.tokens.shape == (3, n) and tree.selected_index.shape == (3, n - 1)
    assert tree.parent_list.shape == (3, nb * (bl - 2) + 1)
    assert (built.parent[:, 1:] >= 0).all(), "a node without a parent (the kernel would drop it)"
    assert (built.parent[:, 1:] < torch.arange(1, n)).all(), "parents precede children"
    assert (tree.valid.sum(1) == packed.gen_lengths).all()
    for r in range(3):
        v = tree.valid[r]
        got = built_paths(tree.tokens[r], built.parent[r], v)
        want = packed_paths(packed, r)
        assert set(got) == set(want)
        for path, i in got.items():  # the packed_index map sends each position to the same node
            assert int(tree.packed_index[r, i]) == want[path]
        pi = tree.packed_index[r, v]
        assert torch.equal(built.positions[r, v], packed.position_offsets[r, pi])
        assert torch.equal(built.mask[r][v][:, v], packed.mask[r][pi][:, pi])
        # padding twins: copies of position 1 (token, parent, depth), seeing only the root and themselves
        assert (tree.tokens[r, ~v] == tree.tokens[r, 1]).all()
        assert (built.parent[r, ~v] == 0).all() and (built.positions[r, ~v] == 1).all()
        assert (built.mask[r, ~v].sum(1) == 2).all()
    # every beam position maps to its pack_beams slot, and carries its own token
    assert torch.equal(tree.packed_index.gather(1, tree.tree_position.flatten(1)).view_as(beams), packed.draft_indices)
    assert torch.equal(tree.tokens.gather(1, tree.tree_position.flatten(1)).view_as(beams), beams)


def test_history_indices_are_distinct_sorted_and_in_the_history_buffer() -> None:
    for seed in range(20):
        beams = random_beams(4, 5, 5, seed)
        tree = beams_to_dynamic_tree(beams)
        k, d = tree.top_k, tree.depth
        for r in range(4):
            h = tree.selected_index[r, tree.valid[r, 1:]]
            assert torch.equal(h, h.unique())  # unique() sorts: distinct and increasing
            assert int(h.max()) < k + k * k * (d - 1)  # the upstream history buffer's width


def test_children_are_linked_in_tree_position_order() -> None:
    """The kernel inserts children at the list head from the last position down: first child = smallest."""
    beams = random_beams(2, 6, 4, seed=7)
    tree, built = build(beams)
    for r in range(2):
        for p in range(tree.tokens.shape[1]):
            walk, c = [], int(built.retrieve_next_token[r, p])
            while c >= 0:
                walk.append(c)
                c = int(built.retrieve_next_sibling[r, c])
            assert walk == torch.nonzero(built.parent[r] == p).flatten().tolist()


def test_reference_drops_an_orphan_like_the_kernel() -> None:
    """A hand-made EAGLE-style input (K=2, depth 2) whose last node names an unused parentList slot:
    the kernel finds no parent, leaves it out of every child list and stops its ancestor walk."""
    parent_list = torch.tensor([[-1, 0, -1]])  # slot 1 at depth 1 unused
    selected = torch.tensor([[0, 2, 4]])  # h=0 (depth 1, slot 0); h=2: parent slot 0; h=4: parent slot 1
    built = build_dynamic_tree_reference(parent_list, selected, top_k=2, depth=2)
    assert built.parent.tolist() == [[-1, 0, 1, -2]]
    assert built.positions.tolist() == [[0, 1, 2, 1]]
    assert built.retrieve_next_token.tolist() == [[1, 2, -1, -1]]
    assert built.retrieve_next_sibling.tolist() == [[-1, -1, -1, -1]]
    assert built.mask[0, 3].tolist() == [True, False, False, True]


def test_reference_bounds_a_cyclic_walk_like_the_kernel() -> None:
    """A node whose parentList entry names itself: the kernel's walk stops after depth + 1 nodes."""
    parent_list = torch.tensor([[-1, 2, -1]])  # h=2 has parent bucket 1, whose entry is h=2 again
    built = build_dynamic_tree_reference(parent_list, torch.tensor([[2, 0]]), top_k=2, depth=2)
    assert built.parent.tolist() == [[-1, 1, 0]]
    assert built.positions.tolist() == [[0, 3, 1]]
    assert built.retrieve_next_token.tolist() == [[2, 1, -1]]


@pytest.mark.parametrize(
    "beams, message",
    [
        (torch.zeros(2, 3), "must be a"),
        (torch.zeros(1, 2, 3), "integer"),
        (torch.zeros(1, 2, 1, dtype=torch.long), "bl >= 2"),
        (torch.tensor([[[1, 2], [1, -1]]]), "negative"),
        (torch.tensor([[[1, 2], [3, 2]]]), "same root"),
        (torch.zeros(1, 32, 34, dtype=torch.long), "exceed 1024"),
    ],
)
def test_bad_beams_are_refused(beams: torch.Tensor, message: str) -> None:
    with pytest.raises(RedrafterError, match=message):
        beams_to_dynamic_tree(beams)


# ---- (b) greedy verification equals runtime/accept.py --------------------------------------------


@pytest.mark.parametrize("nb", [1, 2, 4, 8])
@pytest.mark.parametrize("bl", [2, 3, 5, 6])
def test_greedy_verification_accepts_what_accept_greedy_accepts(nb: int, bl: int) -> None:
    lengths = []
    for seed in range(6):
        beams = random_beams(4, nb, bl, seed=1000 * seed + 10 * nb + bl)
        tree, built = build(beams)
        packed = pack_beams(beams)
        argmax = target_argmax(beams, packed, seed)  # [bs, n]
        # the target's prediction at each tree position; a twin repeats position 1 (same token, context)
        where = torch.where(tree.valid, tree.packed_index, tree.packed_index[:, 1:2])
        predict = argmax.gather(1, where)  # [bs, N]
        ours = accept_greedy(argmax, beams, packed.draft_indices)
        index, num, token = verify_dynamic_tree_greedy_reference(
            tree.tokens, built.retrieve_next_token, built.retrieve_next_sibling, predict, tree.depth
        )
        assert torch.equal(num + 1, ours.num_accepted_tokens)
        for r in range(4):
            k = int(ours.num_accepted_tokens[r])
            assert token[r, :k].tolist() == ours.accepted_tokens[r, :k].tolist()
            assert (token[r, k:] == 0).all() and (index[r, k:] == 0).all()
        # the last accepted position is the node the drafter continues from (hidden_index)
        last = index.gather(1, num[:, None])[:, 0]
        assert torch.equal(tree.packed_index.gather(1, last[:, None])[:, 0], ours.hidden_index)
        # KV relocation gets the same draft slots from either side
        assert torch.equal(
            relocation_from_beams(tree, ours.accepted_beam_index, ours.num_accepted_tokens),
            accepted_draft_indices(index, num),
        )
        lengths += ours.num_accepted_tokens.tolist()
    assert max(lengths) == bl  # the oracle row accepts everything: the comparison is not vacuous
    assert min(lengths) < bl or bl == 2 or nb == 1


# ---- (c) draft vocabulary -> d2t ------------------------------------------------------------------


@pytest.mark.parametrize("sort", [True, False])
def test_d2t_maps_every_draft_id_to_its_base_token(sort: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    table = torch.randperm(1000, generator=gen)[:64].to(torch.int32)
    if sort:
        table = table.sort().values
    d2t = draft_vocab_to_d2t(table, vocab_size=1000)
    assert d2t.dtype == torch.int32 and d2t.shape == (64,)
    draft_ids = torch.randint(0, 64, (5, 7), generator=gen)
    assert torch.equal(draft_ids + d2t[draft_ids].long(), table[draft_ids].long())  # eagle3.py's mapping
    assert torch.equal(d2t_to_draft_vocab(d2t), table)


def test_d2t_of_the_drafter_docstring_example_and_identity() -> None:
    assert draft_vocab_to_d2t([13, 7, 42]).tolist() == [13, 6, 40]
    assert draft_vocab_to_d2t(torch.arange(5)).tolist() == [0] * 5


def test_d2t_agrees_with_the_drafter_table() -> None:
    drafter = init_drafter(DrafterConfig(vocab_size=96, hidden_size=8, exit_dim=8, draft_vocab_size=24), seed=1)
    d2t = draft_vocab_to_d2t(drafter.draft_vocab, vocab_size=96)
    ids = torch.arange(24)
    assert torch.equal(drafter.to_target_ids(ids), ids + d2t.long())


@pytest.mark.parametrize(
    "table, vocab, message",
    [
        ([3, 5, 3], None, "repeats 1"),
        ([0, -1], None, r"\[0, "),
        ([0, 96], 96, r"\[0, 96\)"),
        ([], None, "non-empty"),
        ([[1, 2]], None, "1-D"),
        (torch.tensor([1.0, 2.0]), None, "integer"),
    ],
)
def test_bad_draft_vocab_is_refused(table, vocab: int | None, message: str) -> None:
    with pytest.raises(RedrafterError, match=message):
        draft_vocab_to_d2t(table, vocab_size=vocab)


# ---- (d) the worked example of docs/pytorch_backend.md -----------------------------------------------


def test_golden_worked_example() -> None:
    """docs/pytorch_backend.md, "Worked example": the beams of docs/tree_attention.md, K=3, D=2, N=7."""
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]])
    tree, built = build(beams)
    assert tree.parent_list.tolist() == [[-1, 0, 1, -1]]
    assert tree.selected_index.tolist() == [[0, 1, 3, 4, 8, 0]]
    assert tree.tokens.tolist() == [[7, 3, 9, 5, 4, 2, 3]]
    assert tree.packed_index.tolist() == [[0, 1, 4, 2, 3, 5, -1]]
    assert tree.tree_position.tolist() == [[[0, 1, 3], [0, 1, 4], [0, 2, 5]]]
    assert built.parent.tolist() == [[-1, 0, 0, 1, 1, 2, 0]]
    assert built.positions.tolist() == [[0, 1, 1, 2, 2, 2, 1]]
    assert built.retrieve_next_token.tolist() == [[1, 3, 5, -1, -1, -1, -1]]
    assert built.retrieve_next_sibling.tolist() == [[-1, 2, 6, 4, -1, -1, -1]]
    # the target predicts 3 after the root, 4 after "7 3", 8 after "7 3 4" (other positions: 0)
    predict = torch.tensor([[3, 4, 0, 0, 8, 0, 4]])
    index, num, token = verify_dynamic_tree_greedy_reference(
        tree.tokens, built.retrieve_next_token, built.retrieve_next_sibling, predict, tree.depth
    )
    assert index.tolist() == [[0, 1, 4]] and num.tolist() == [2] and token.tolist() == [[3, 4, 8]]
    assert accepted_draft_indices(index, num).tolist() == [[0, 3]]
    packed = pack_beams(beams)
    ours = accept_greedy(torch.tensor([[3, 4, 0, 8, 0, 0]]), beams, packed.draft_indices)
    assert ours.accepted_beam_index.tolist() == [1] and ours.num_accepted_tokens.tolist() == [3]
    assert ours.accepted_tokens.tolist() == [[3, 4, 8]]
