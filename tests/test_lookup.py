"""The context-lookup beam: worked example, matching rules, history bookkeeping, and exactness
(greedy parity in float64 on three architectures; exact sampling is in test_sampling.py)."""

from __future__ import annotations

import pytest
import torch
from conftest import hf_greedy, tiny_model

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.decode import DecodeConfig, Decoder, append_right_aligned
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.runtime.lookup import PAD, lookup_beam, with_lookup_beam
from trtllm_redrafter.runtime.target import HFTarget


def test_worked_example():
    """docs/lookup.md: the tail (5, 6) occurred at the start; its continuation is copied."""
    beam, found = lookup_beam(torch.tensor([[5, 6, 7, 8, 5, 6]]), draft_len=3)
    assert beam.tolist() == [[6, 7, 8, 5]]
    assert found.tolist() == [True]


def test_longest_ngram_wins_over_a_later_shorter_match():
    # bigram (1, 2) occurs at the start -> continue with 3; unigram 2 also occurs later (-> 9)
    history = torch.tensor([[1, 2, 3, 4, 2, 9, 1, 2]])
    assert lookup_beam(history, 2, max_ngram=2, min_ngram=1)[0].tolist() == [[2, 3, 4]]
    # with unigrams only, the latest occurrence of 2 wins
    assert lookup_beam(history, 2, max_ngram=1, min_ngram=1)[0].tolist() == [[2, 9, 1]]


def test_a_loop_continues_periodically():
    beam, found = lookup_beam(torch.tensor([[7, 4, 5, 4, 5]]), draft_len=5, max_ngram=2, min_ngram=2)
    assert found.tolist() == [True]
    assert beam.tolist() == [[5, 4, 5, 4, 5, 4]]


def test_no_match_and_padding_never_match():
    history = torch.tensor([[PAD, PAD, 1, 2, 3], [PAD, PAD, PAD, PAD, 4]])
    beam, found = lookup_beam(history, draft_len=2, max_ngram=3, min_ngram=1)
    assert found.tolist() == [False, False]
    assert beam[:, 0].tolist() == [3, 4]  # the root stays in front
    # without a match the extra beam repeats beam 0, which packing folds away
    drafts = torch.tensor([[[3, 8, 9]], [[4, 1, 1]]])
    assert with_lookup_beam(drafts, history, 3, 1)[:, 1].tolist() == [[3, 8, 9], [4, 1, 1]]


def test_rows_match_independently():
    history = torch.tensor([[PAD, 1, 2, 1], [3, 4, 5, 6]])
    beam, found = lookup_beam(history, draft_len=1, max_ngram=2, min_ngram=1)
    assert found.tolist() == [True, False]
    assert beam[0].tolist() == [1, 2]


def test_append_keeps_rows_right_aligned():
    history = torch.tensor([[PAD, PAD, 1, 2], [PAD, 5, 6, 7]])
    tokens = torch.tensor([[3, 4, 0], [8, 0, 0]])
    out = append_right_aligned(history, tokens, torch.tensor([2, 1]))
    assert out.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]  # the all-PAD leading columns are dropped
    out = append_right_aligned(history, torch.tensor([[3, 0, 0], [8, 9, 10]]), torch.tensor([1, 3]))
    assert out.tolist() == [[PAD, PAD, PAD, 1, 2, 3], [5, 6, 7, 8, 9, 10]]


def test_settings_are_checked():
    with pytest.raises(RedrafterError, match="lookup"):
        DecodeConfig(lookup_ngram=2, lookup_min_ngram=3).validate()
    with pytest.raises(RedrafterError, match="lookup"):
        DecodeConfig(lookup_ngram=-1).validate()


PROMPTS = [[5, 6, 7, 5, 6, 7, 5, 6], [3, 4], [11, 12, 13, 11, 12, 13, 14, 15, 16]]


@pytest.mark.parametrize("bs", [1, 3])
def test_greedy_parity_with_the_lookup_beam(arch, bs):
    """float64: with the extra beam the output is still exactly HF greedy, and the lookup beam is
    accepted at least once (the tiny models repeat themselves)."""
    model = tiny_model(arch)
    prompts = PROMPTS[:bs]
    ref = hf_greedy(model, prompts, 48)
    drafter = init_drafter(DrafterConfig(96, 32, exit_dim=48), seed=1).double()
    cfg = DecodeConfig(num_beams=2, draft_len=3, max_new_tokens=48, lookup_ngram=3, lookup_min_ngram=1)
    plain_cfg = DecodeConfig(num_beams=2, draft_len=3, max_new_tokens=48, lookup_ngram=0)
    plain = Decoder(HFTarget(model), drafter, plain_cfg).generate(prompts)
    rows = Decoder(HFTarget(model), drafter, cfg).generate(prompts)
    assert [r.token_ids for r in rows] == ref
    assert sum(r.steps for r in rows) < sum(r.steps for r in plain)  # the lookup beam helped


def test_worked_example_packed_with_the_drafter_beams():
    """docs/lookup.md, step 2: the lookup beam shares the root and the token 7 with beam 0, so the
    tree grows by one node (8), not by a whole beam."""
    from trtllm_redrafter.runtime.tree import pack_beams

    history = torch.tensor([[5, 6, 7, 8, 5, 6]])
    drafts = torch.tensor([[[6, 7, 9], [6, 3, 4]]])
    beams = with_lookup_beam(drafts, history, max_ngram=3, min_ngram=2)
    assert beams.tolist() == [[[6, 7, 9], [6, 3, 4], [6, 7, 8]]]
    tree = pack_beams(beams)
    assert tree.tokens.tolist() == [[6, 7, 9, 3, 4, 8]]
    assert tree.draft_indices.tolist() == [[[0, 1, 2], [0, 3, 4], [0, 1, 5]]]
    assert tree.position_offsets.tolist() == [[0, 1, 2, 1, 2, 2]]


def test_a_longer_lookup_beam_pads_the_drafter_beams():
    """docs/lookup.md, step 3: lookup_len 4 with draft_len 1. The drafter's beams end in PAD, which
    opens no node: the tree holds the drafter's tokens plus the lookup beam's own, nothing more."""
    from trtllm_redrafter.runtime.accept import accept_greedy
    from trtllm_redrafter.runtime.tree import pack_beams

    history = torch.tensor([[5, 6, 7, 8, 9, 5, 6]])
    drafts = torch.tensor([[[6, 7], [6, 2]]])
    beams = with_lookup_beam(drafts, history, max_ngram=2, min_ngram=2, length=4)
    assert beams.tolist() == [[[6, 7, PAD, PAD, PAD], [6, 2, PAD, PAD, PAD], [6, 7, 8, 9, 5]]]
    tree = pack_beams(beams)
    assert tree.tokens.tolist() == [[6, 7, 2, 8, 9, 5]]
    assert tree.draft_indices.tolist() == [[[0, 1, 1, 1, 1], [0, 2, 2, 2, 2], [0, 1, 3, 4, 5]]]
    assert tree.position_offsets.tolist() == [[0, 1, 1, 2, 3, 4]]
    assert tree.mask[0, 5].tolist() == [True, True, False, True, True, True]  # 5 sees 6 7 8 9 and itself
    assert tree.mask[0, 2].tolist() == [True, False, True, False, False, False]
    # the target continues 7 8 9 5 -> the lookup beam is accepted whole, plus the bonus token 1
    argmax = torch.tensor([[7, 8, 3, 9, 5, 1]])  # the target's argmax at each packed token
    acc = accept_greedy(argmax, beams, tree.draft_indices)
    assert acc.num_accepted_tokens.tolist() == [5] and acc.accepted_beam_index.tolist() == [2]
    assert acc.accepted_tokens.tolist() == [[7, 8, 9, 5, 1]]
    # if the target continues 7 then 4, beam 0 wins with one draft: a PAD never matches
    acc = accept_greedy(torch.tensor([[7, 4, 3, 0, 0, 0]]), beams, tree.draft_indices)
    assert acc.num_accepted_tokens.tolist() == [2] and acc.next_token.tolist() == [4]


@pytest.mark.parametrize("dl, lookup_len", [(1, 4), (3, 1)])
def test_greedy_parity_with_a_lookup_beam_of_another_length(arch, dl, lookup_len):
    model = tiny_model(arch)
    ref = hf_greedy(model, PROMPTS, 48)
    drafter = init_drafter(DrafterConfig(96, 32, exit_dim=48), seed=1).double()
    cfg = DecodeConfig(num_beams=2, draft_len=dl, max_new_tokens=48, lookup_ngram=3, lookup_len=lookup_len)
    rows = Decoder(HFTarget(model), drafter, cfg).generate(PROMPTS)
    assert [r.token_ids for r in rows] == ref
    if lookup_len > dl:  # the long lookup beam was accepted whole at least once
        assert max(a for r in rows for a in r.accepted) == lookup_len + 1
