"""One engine step of ``network.ReDrafterMixin.redrafter_step`` on CPU, through the functional stand-in.

The plugins are replaced by the reference functions they implement (``tree.pack_beams``,
``accept.accept_greedy`` on the logits the plugin contract says it reads), so this checks the
network's own wiring: the context / generation split of the flat rows, the row offsets the
acceptance plugin reads, the drafter context taken at the accepted slot, the per-request order
(context requests first), and the beams drafted from there. The expected values come from the
reference alone, on the padded [bs, n, V] layout of ``HFTarget.verify``.
"""

from __future__ import annotations

import types

import pytest
import torch
from test_trtllm_graph_ops import fake_trtllm, load_reference_weights, make_head, random_beams  # noqa: F401
from torch import nn

from trtllm_redrafter.runtime.accept import accept_greedy
from trtllm_redrafter.runtime.beam_search import beam_search
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.runtime.tree import pack_beams

V, H, NB, DL = 40, 16, 3, 3
BL = DL + 1
CAP = NB * DL + 1


def fake_plugins(calls: dict) -> types.SimpleNamespace:
    """The plugin wrappers, computed by the reference (and recording what they were given)."""
    from trtllm_redrafter.ops.plugins import GreedyAcceptance, PackedBeams

    def greedy_accept(logits_flat, row_offsets, draft_tokens, draft_indices, gen_lengths, nb, bl, max_batch_size):
        calls["greedy"] = (row_offsets.clone(), max_batch_size)
        n = draft_indices.shape[1] * (bl - 1) + 1
        slots = row_offsets[:, None].long() + torch.arange(n)  # slot j of request b: row offsets[b] + j
        argmax = logits_flat[slots.clamp(max=logits_flat.shape[0] - 1)].argmax(-1)  # [bs_gen, n]
        argmax = torch.where(torch.arange(n) < gen_lengths[:, None], argmax, -1)
        acc = accept_greedy(argmax, draft_tokens.long(), draft_indices.long())
        fields = ("num_accepted_tokens", "accepted_beam_index", "next_token", "hidden_index")
        return GreedyAcceptance(
            *(getattr(acc, f).to(torch.int32) for f in fields),
            acc.path_indices.to(torch.int32),
            acc.accepted_tokens.to(torch.int32),
        )

    def pack(beams, position_ids_base, nb, bl):
        tree = pack_beams(beams.long())
        n = tree.tokens.shape[1]

        def pad(x, value=0):
            out = torch.full((x.shape[0], CAP, *x.shape[2:]), value, dtype=torch.int32)
            out[:, :n] = x
            return out

        words = -(-CAP // 32)
        mask = torch.zeros(x_bs := beams.shape[0], CAP, words, dtype=torch.int32)
        mask[:, :n, : tree.packed_mask.shape[-1]] = tree.packed_mask
        offsets = pad(tree.position_offsets)
        assert x_bs == position_ids_base.shape[0]
        return PackedBeams(
            pad(tree.tokens),
            tree.gen_lengths.to(torch.int32),
            tree.draft_indices.to(torch.int32),
            offsets,
            mask,
            offsets + position_ids_base[:, None],
        )

    return types.SimpleNamespace(greedy_accept=greedy_accept, pack_beams=pack)


@pytest.fixture
def step(fake_trtllm, monkeypatch):  # noqa: F811
    from trtllm_redrafter.trtllm import network

    calls: dict = {}
    monkeypatch.setattr(network, "plugins", fake_plugins(calls))
    drafter = init_drafter(DrafterConfig(V, H, exit_dim=H, num_draft_layers=1), seed=9).double()
    head = make_head(
        hidden_size=H, exit_dim=H, num_layers=1, vocab_size=V, is_rnn=True, rnn_formula="apple", own_lm_head=True
    )
    load_reference_weights(head, drafter)
    embed = nn.Embedding(V, H).double()
    model = object.__new__(type("Model", (network.ReDrafterMixin,), {}))
    model.__dict__.update(
        num_beams=NB,
        draft_len=DL,
        beam_length=BL,
        greedy_search=True,
        drafter=head,
        vocab_size=V,
        transformer=types.SimpleNamespace(vocab_embedding=embed),
        lm_head=None,
        borrows_lm_head=False,
        draft_vocab_size=0,
        dtype="float32",
        max_batch_size=8,
    )
    return model, drafter, embed, calls


def test_one_step_mirrors_the_reference(step):
    """bs = 3: one context request, then two generation requests verifying last step's trees."""
    from trtllm_redrafter.trtllm import engine_io

    model, drafter, embed, calls = step
    gen = torch.Generator().manual_seed(3)
    old_beams = random_beams(2, NB, BL, vocab=5, seed=4)  # shared prefixes: trees shorter than n_cap
    old = pack_beams(old_beams)
    n = old.tokens.shape[1]
    lengths = old.gen_lengths.to(torch.int32)  # [2]
    logits = torch.randn(2, n, V, generator=gen, dtype=torch.float64)
    for b, beam in ((0, 1), (1, 2)):  # make the target agree with two drafts of one beam per request
        for j in range(2):
            logits[b, old.draft_indices[b, beam, j], old_beams[b, beam, j + 1]] += 50.0
    hidden = torch.randn(2, n, H, generator=gen, dtype=torch.float64)
    ctx_logits, ctx_hidden = torch.randn(1, V, dtype=torch.float64), torch.randn(1, H, dtype=torch.float64)
    flat_logits = torch.cat([ctx_logits, logits[old.valid]])  # the step's rows, the runtime's order
    flat_hidden = torch.cat([ctx_hidden, hidden[old.valid]])
    base = torch.tensor([7, 30, 41], dtype=torch.int32)
    inputs = dict(
        zip(
            engine_io.INPUT_NAMES,
            (
                torch.tensor([0, 1, 1], dtype=torch.int32),  # device_request_types: 1 = generation
                old_beams.to(torch.int32),
                old.draft_indices.to(torch.int32),
                torch.zeros(2, NB, DL, V),
                torch.ones(3),
                torch.zeros(3),
                torch.zeros(2, NB, DL),
                base,
            ),
        )
    )
    with torch.no_grad():
        out = model.redrafter_step(flat_logits, flat_hidden, lengths, inputs)

    # the reference, on the padded layout
    argmax = torch.where(old.valid, logits.argmax(-1), -1)
    acc = accept_greedy(argmax, old_beams, old.draft_indices)
    assert acc.num_accepted_tokens.tolist() == [3, 3]  # the test exercises real acceptance
    assert calls["greedy"][0].tolist() == [1, 1 + int(lengths[0])] and calls["greedy"][1] == 8
    root = torch.cat([ctx_logits.argmax(-1), acc.next_token])
    context = torch.cat([ctx_hidden, hidden[torch.arange(2), acc.hidden_index]])
    want = beam_search(drafter, embed, context, root, NB, DL)
    tree = pack_beams(want.draft_tokens)
    num_accepted = torch.cat([torch.ones(1, dtype=torch.long), acc.num_accepted_tokens])

    assert out["num_accepted_tokens"].tolist() == num_accepted.tolist()
    assert out["accepted_beam_index"].tolist() == [0, *acc.accepted_beam_index.tolist()]
    assert torch.equal(out["next_draft_tokens"].long(), want.draft_tokens)
    assert int(out["max_gen_token"]) == tree.tokens.shape[1]
    assert out["next_spec_decoding_generation_lengths"].tolist() == tree.gen_lengths.tolist()
    assert out["next_flat_tokens"].tolist() == tree.tokens[tree.valid].tolist()
    assert torch.equal(out["spec_decoding_mask"], tree.mask)
    positions = tree.position_offsets + (base.long() + num_accepted)[:, None]
    assert out["packed_position_ids"].tolist() == positions[tree.valid].tolist()
    assert set(out) == set(engine_io.OUTPUT_NAMES)
