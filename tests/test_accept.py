"""Greedy acceptance: a worked example (docs/tree_attention.md, section 3) and edge cases."""

from __future__ import annotations

import torch

from trtllm_redrafter.runtime.accept import accept_greedy
from trtllm_redrafter.runtime.tree import pack_beams


def test_golden_acceptance():
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]])
    tree = pack_beams(beams)  # packed [7, 3, 5, 4, 9, 2]
    # target argmax after each packed token: after 7 -> 3, after 7,3 -> 4, after 7,3,4 -> 8, ...
    argmax = torch.tensor([[3, 4, 1, 8, 0, 0]])
    acc = accept_greedy(argmax, beams, tree.draft_indices)
    assert acc.accepted_beam_index.tolist() == [1]  # beam 1 (7, 3, 4) matches fully
    assert acc.num_accepted_tokens.tolist() == [3]  # drafts 3, 4 + bonus 8
    assert acc.next_token.tolist() == [8]
    assert acc.hidden_index.tolist() == [3]  # packed index of token 4
    assert acc.accepted_tokens[0, :3].tolist() == [3, 4, 8]
    assert acc.path_indices.tolist() == [[0, 1, 3]]


def test_nothing_accepted_gives_the_bonus_only():
    beams = torch.tensor([[[7, 3, 5], [7, 9, 2]]])
    tree = pack_beams(beams)
    argmax = torch.full((1, int(tree.gen_lengths[0])), 6)
    acc = accept_greedy(argmax, beams, tree.draft_indices)
    assert acc.num_accepted_tokens.tolist() == [1]
    assert acc.accepted_beam_index.tolist() == [0]
    assert acc.next_token.tolist() == [6] and acc.hidden_index.tolist() == [0]


def test_beam_length_one_and_batch_rows_differ():
    beams = torch.tensor([[[4]], [[5]]])
    tree = pack_beams(beams)
    acc = accept_greedy(torch.tensor([[9], [8]]), beams, tree.draft_indices)
    assert acc.num_accepted_tokens.tolist() == [1, 1]
    assert acc.next_token.tolist() == [9, 8]


def test_ties_pick_the_first_longest_beam():
    beams = torch.tensor([[[1, 2, 3], [1, 2, 4], [1, 5, 6]]])
    tree = pack_beams(beams)  # [1, 2, 3, 4, 5, 6]
    argmax = torch.tensor([[2, 7, 0, 0, 0, 0]])  # both beams 0 and 1 accept "2" only
    acc = accept_greedy(argmax, beams, tree.draft_indices)
    assert acc.accepted_beam_index.tolist() == [0] and acc.num_accepted_tokens.tolist() == [2]
    assert acc.next_token.tolist() == [7]
