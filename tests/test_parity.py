"""Greedy parity: ReDrafter output is token-identical to transformers generate(do_sample=False).

float64 on tiny random-weight Llama, Qwen2 and Mistral targets, batch 1 and 3, with a random
drafter (mostly rejected drafts) and an oracle proposer (long, partial and full acceptances).
"""

from __future__ import annotations

import pytest
import torch
from conftest import HIDDEN, VOCAB, OracleProposer, hf_greedy, tiny_model

from trtllm_redrafter.runtime.decode import DecodeConfig, Decoder
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.runtime.target import HFTarget

PROMPTS = [[5, 6, 7, 8, 9, 10], [3, 4], [11, 12, 13, 14, 15, 16, 17, 18, 19], [40, 41, 42]]
MAX_NEW = 48


def run(model, prompts, drafter=None, proposer=None, nb=4, dl=3, mode="redrafter", eos=(), lookup=3):
    """Decode with the default lookup beam on; ``lookup=0`` verifies the drafter's (oracle's) beams only."""
    cfg = DecodeConfig(
        num_beams=nb, draft_len=dl, max_new_tokens=MAX_NEW, mode=mode, eos_token_ids=tuple(eos), lookup_ngram=lookup
    )
    return Decoder(HFTarget(model), drafter, cfg, proposer=proposer).generate(prompts)


@pytest.mark.parametrize("bs", [1, 3])
@pytest.mark.parametrize("rnn_formula", ["apple", "trtllm"])
def test_random_drafter_matches_generate(arch, bs, rnn_formula):
    model = tiny_model(arch)
    prompts = PROMPTS[:bs]
    ref = hf_greedy(model, prompts, MAX_NEW)
    drafter = init_drafter(DrafterConfig(VOCAB, HIDDEN, exit_dim=48, rnn_formula=rnn_formula), seed=1).double()
    rows = run(model, prompts, drafter)
    assert [r.token_ids for r in rows] == ref
    assert all(r.steps > 0 for r in rows)


@pytest.mark.parametrize("bs", [1, 4])
@pytest.mark.parametrize("shape", [(4, 3), (1, 5), (6, 1), (3, 6)])
def test_oracle_proposer_matches_generate(arch, bs, shape):
    model = tiny_model(arch)
    prompts = PROMPTS[:bs]
    ref = hf_greedy(model, prompts, MAX_NEW)
    oracle = OracleProposer(model, prompts, ref, seed=sum(shape))
    nb, dl = shape
    rows = run(model, prompts, proposer=oracle, nb=nb, dl=dl, lookup=0)  # the oracle's beams alone
    assert [r.token_ids for r in rows] == ref
    # the oracle made long acceptances happen: fewer steps than tokens, full beams accepted
    accepted = [a for r in rows for a in r.accepted]
    assert max(accepted) == dl + 1
    assert sum(accepted) / len(accepted) > 1.0 + 0.25 * dl


def test_eos_stops_rows_independently(arch):
    model = tiny_model(arch)
    prompts = PROMPTS[:3]
    free = hf_greedy(model, prompts, MAX_NEW)
    eos = [free[0][10], free[2][30]]  # tokens that end rows 0 and 2 at different steps
    ref = hf_greedy(model, prompts, MAX_NEW, eos=eos)
    oracle = OracleProposer(model, prompts, free, seed=3)
    rows = run(model, prompts, proposer=oracle, eos=eos)
    assert [r.token_ids for r in rows] == ref
    assert rows[0].stop_reason == "eos" and len(rows[0].token_ids) < MAX_NEW


def test_ar_mode_matches_generate(arch):
    model = tiny_model(arch)
    ref = hf_greedy(model, PROMPTS, MAX_NEW)
    rows = run(model, PROMPTS, mode="ar")
    assert [r.token_ids for r in rows] == ref
    assert all(a == 1 for r in rows for a in r.accepted)


def test_cache_holds_exactly_the_accepted_path():
    """After decoding, the kept cache equals a fresh prefill of prompt + output (float64)."""
    model = tiny_model("llama")
    prompt = PROMPTS[0]
    ref = hf_greedy(model, [prompt], MAX_NEW)
    target = HFTarget(model)
    cfg = DecodeConfig(num_beams=4, draft_len=3, max_new_tokens=MAX_NEW)
    rows = Decoder(target, None, cfg, proposer=OracleProposer(model, [prompt], ref, seed=5)).generate([prompt])
    # every step keeps its root plus the accepted drafts; the last bonus is never verified
    longer = hf_greedy(model, [prompt], MAX_NEW + 8)[0]
    seq = prompt + longer[: sum(rows[0].accepted)]
    assert target.kv_valid.all() and target.kv_valid.shape[1] == len(seq)
    fresh = HFTarget(model)
    fresh.prefill(torch.tensor([seq]), torch.ones(1, len(seq), dtype=torch.bool))
    for kept, ref_layer in zip(target.cache.layers, fresh.cache.layers):
        torch.testing.assert_close(kept.keys, ref_layer.keys, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(kept.values, ref_layer.values, rtol=1e-10, atol=1e-10)
