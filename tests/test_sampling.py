"""Exact speculative sampling: worked example, HF warps, and distribution tests with a power check.

The distribution tests compare, by a chi-square test at significance ALPHA, the joint distribution
of the first 3 sampled tokens (thousands of rows decoded in one batch) with the exact
distribution computed from the tiny target's own warped probabilities. Seeds are fixed, so every
test is deterministic. The power check runs the same test on a deliberately biased rule.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
import torch
from exact_sampling import PROMPT, L, V, chi_square_pvalue, exact_joint, tiny_target, warped_probs

from trtllm_redrafter.runtime import decode
from trtllm_redrafter.runtime.accept import Acceptance
from trtllm_redrafter.runtime.decode import DecodeConfig, Decoder
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.runtime.sampling import accept_sampling, warp_logits
from trtllm_redrafter.runtime.target import HFTarget
from trtllm_redrafter.runtime.tree import pack_beams

SAMPLES = 4000
ALPHA = 1e-3


# ---- worked example (docs/sampling.md) ------------------------------------------------------
def example(u_b, u_a, u_sample) -> Acceptance:
    """Root 0 with P(. | root) = {a: .5, b: .3, c: .2}; children in beam order: b, then a.
    One row per (u_b, u_a, u_sample) triple."""
    a, b = 1, 2
    u_b, u_a, u_sample = (torch.as_tensor(x, dtype=torch.float32).reshape(-1) for x in (u_b, u_a, u_sample))
    n = u_b.shape[0]
    beams = torch.tensor([[0, b], [0, a]]).expand(n, 2, 2)
    tree = pack_beams(beams)  # packed [0, b, a]
    probs = torch.zeros(n, 3, 4)
    probs[:, 0] = torch.tensor([0.0, 0.5, 0.3, 0.2])
    probs[:, 1] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # after b: always c
    probs[:, 2] = torch.tensor([0.0, 0.0, 1.0, 0.0])  # after a: always b
    rand_validation = torch.stack([u_b, u_a], dim=1)[:, :, None]  # [n, nb, bl-1]
    return accept_sampling(probs, beams, tree.draft_indices, rand_validation, u_sample)


def test_worked_example():
    acc = example(0.29, 0.9, 0.5)  # 0.29 < 0.3: b accepted, bonus from P(. | b) = c
    assert acc.num_accepted_tokens.tolist() == [2] and acc.accepted_tokens[0, :2].tolist() == [2, 3]
    assert acc.accepted_beam_index.tolist() == [0] and acc.hidden_index.tolist() == [1]
    acc = example(0.31, 0.70, 0.5)  # b rejected; a: 0.70 * 0.7 = 0.49 < 0.5 accepted
    assert acc.accepted_tokens[0, :2].tolist() == [1, 2] and acc.accepted_beam_index.tolist() == [1]
    acc = example(0.31, 0.72, 0.99)  # both rejected: the residual is {c: 1}
    assert acc.num_accepted_tokens.tolist() == [1] and acc.next_token.tolist() == [3]


def test_worked_example_probabilities():
    """Over a fine grid of (u_b, u_a), the first token is b, a, c with probabilities .3, .5, .2."""
    grid = (torch.arange(1000) + 0.5) / 1000
    u_b, u_a = torch.meshgrid(grid, grid, indexing="ij")
    acc = example(u_b.flatten(), u_a.flatten(), torch.full((grid.numel() ** 2,), 0.5))
    first = acc.accepted_tokens[:, 0]
    assert (first == 2).float().mean().item() == pytest.approx(0.3, abs=1e-3)
    assert (first == 1).float().mean().item() == pytest.approx(0.5, abs=1e-3)
    assert (first == 3).float().mean().item() == pytest.approx(0.2, abs=1e-3)


# ---- warps equal HF's ------------------------------------------------------------------------
@pytest.mark.parametrize("temperature, top_k, top_p", [(0.7, 0, 1.0), (1.0, 5, 1.0), (1.3, 0, 0.8), (0.5, 7, 0.6)])
def test_warps_match_hf(temperature, top_k, top_p):
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    gen_cfg = GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k or None, top_p=top_p)
    processors = model._get_logits_processor(
        generation_config=gen_cfg,
        input_ids_seq_length=1,
        encoder_input_ids=None,
        prefix_allowed_tokens_fn=None,
        logits_processor=None,
    )
    torch.manual_seed(0)
    logits = torch.randn(6, 50) * 3
    ours = torch.softmax(warp_logits(logits, temperature, top_k, top_p), -1)
    theirs = torch.softmax(processors(torch.zeros(6, 1, dtype=torch.long), logits.clone()), -1)
    torch.testing.assert_close(ours, theirs)


# ---- distribution tests ----------------------------------------------------------------------
class TableProposer:
    """Deterministic drafts from the target itself: 'good' takes its most likely tokens, 'bad' its
    least likely. The context is found by matching the drafter's hidden state (exact in float64)."""

    def __init__(self, model, cfg: DecodeConfig, kind: str) -> None:
        self.model, self.cfg, self.kind = model, cfg, kind
        self.contexts = [list(p) for n in range(L) for p in itertools.product(range(V), repeat=n)]
        with torch.no_grad():
            h = model.get_decoder()(
                input_ids=torch.tensor([PROMPT + c + [0] * (L - 1 - len(c)) for c in self.contexts])
            )
        self.keys = torch.stack([h.last_hidden_state[i, len(PROMPT) + len(c) - 1] for i, c in enumerate(self.contexts)])
        self.cache: dict[tuple[int, ...], list[list[int]]] = {}

    def beams_for(self, context: list[int], nb: int, dl: int) -> list[list[int]]:
        key = (tuple(context), nb, dl)
        if key not in self.cache:
            probs = warped_probs(self.model, [PROMPT + context], self.cfg)[0]
            order = probs.argsort(descending=self.kind == "good").tolist()
            beams = []
            for b in range(nb):
                seq, ctx = [order[b % V]], context + [order[b % V]]
                while len(seq) < dl:
                    p = warped_probs(self.model, [PROMPT + ctx], self.cfg)[0]
                    tok = int(p.argmax()) if self.kind == "good" else int(p.argmin())
                    seq.append(tok)
                    ctx = ctx + [tok]
                beams.append(seq)
            self.cache[key] = beams
        return self.cache[key]

    def __call__(self, hidden, root, nb, dl):
        where = torch.cdist(hidden.double(), self.keys.double()).argmin(-1).tolist()
        out = torch.zeros(hidden.shape[0], nb, dl + 1, dtype=torch.long)
        for r, (w, g) in enumerate(zip(where, root.tolist())):
            context = self.contexts[w] + [g]
            for b, beam in enumerate(self.beams_for(context, nb, dl)):
                out[r, b] = torch.tensor([g] + beam)
        return out


def sample_counts(model, cfg: DecodeConfig, proposer=None, drafter=None) -> dict:
    rows = Decoder(HFTarget(model), drafter, cfg, proposer=proposer).generate([PROMPT] * SAMPLES)
    counts: dict[tuple[int, ...], int] = {}
    for r in rows:
        key = tuple(r.token_ids[:L])
        counts[key] = counts.get(key, 0) + 1
    sample_counts.tokens_per_step = sum(sum(r.accepted) for r in rows) / sum(r.steps for r in rows)
    return counts


CASES = [  # (drafter kind, nb, draft_len, temperature, top_k, top_p)
    ("good", 3, 2, 1.0, 0, 1.0),
    ("good", 1, 3, 0.5, 0, 1.0),
    ("good", 4, 1, 1.5, 0, 1.0),
    ("bad", 3, 2, 1.0, 0, 1.0),
    ("bad", 2, 2, 1.5, 0, 1.0),
    ("random", 4, 2, 1.0, 0, 1.0),
    ("random", 2, 3, 0.5, 0, 1.0),
    ("good", 3, 2, 1.0, 4, 1.0),
    ("bad", 3, 2, 1.0, 4, 1.0),
    ("good", 3, 2, 1.0, 0, 0.8),
    ("random", 3, 2, 1.5, 0, 0.8),
]


@pytest.fixture(scope="module")
def target():
    return tiny_target()


@pytest.mark.parametrize("kind, nb, dl, temperature, top_k, top_p", CASES)
def test_distribution_is_exact(target, kind, nb, dl, temperature, top_k, top_p):
    cfg = DecodeConfig(
        num_beams=nb, draft_len=dl, max_new_tokens=L, temperature=temperature, top_k=top_k, top_p=top_p, seed=1234
    )
    if kind == "random":
        drafter = init_drafter(DrafterConfig(V, 32, exit_dim=32), seed=3).double()
        counts = sample_counts(target, cfg, drafter=drafter)
    else:
        counts = sample_counts(target, cfg, proposer=TableProposer(target, cfg, kind))
    p = chi_square_pvalue(counts, exact_joint(target, cfg), SAMPLES)
    tps = sample_counts.tokens_per_step
    print(
        f"[{kind} nb={nb} dl={dl} T={temperature} top_k={top_k} top_p={top_p}] chi-square p = {p:.3f}, "
        f"tokens/step {tps:.2f}"
    )
    assert p > ALPHA, f"chi-square p = {p:.2e}"
    if kind == "good":  # the tree walk is really exercised: drafts get accepted
        assert tps > 1.3


@pytest.mark.parametrize("lookup_len", [0, 3])
def test_distribution_is_exact_with_the_lookup_beam(target, lookup_len):
    """The context-lookup beam (lookup.py) is one more deterministic candidate: still exact."""
    cfg = DecodeConfig(
        num_beams=2,
        draft_len=2,
        max_new_tokens=L,
        temperature=1.0,
        seed=99,
        lookup_ngram=2,
        lookup_min_ngram=1,
        lookup_len=lookup_len,  # 3: longer than the drafter's beams, which end in PAD
    )
    drafter = init_drafter(DrafterConfig(V, 32, exit_dim=32), seed=3).double()
    counts = sample_counts(target, cfg, drafter=drafter)
    tps = sample_counts.tokens_per_step
    sample_counts(target, replace(cfg, lookup_ngram=0), drafter=drafter)
    p = chi_square_pvalue(counts, exact_joint(target, cfg), SAMPLES)
    print(f"[lookup beam] chi-square p = {p:.3f}, tokens/step {tps:.2f} (without: {sample_counts.tokens_per_step:.2f})")
    assert p > ALPHA, f"chi-square p = {p:.2e}"
    assert tps > sample_counts.tokens_per_step  # the extra beam was accepted


def first_beam_rule(probs, draft_tokens, draft_indices, rand_validation, rand_sample):
    """A biased rule (the power check): test only beam 0, and on rejection sample from the full
    target distribution instead of the residual, so drafted tokens are over-represented."""
    from trtllm_redrafter.runtime.sampling import sample_from

    bs, nb, bl = draft_tokens.shape
    rows = torch.arange(bs)
    p_beam = probs[rows[:, None], draft_indices[:, 0]]  # [bs, bl, V]
    x = draft_tokens[:, 0, 1:]
    p_x = p_beam[:, :-1].gather(-1, x[..., None])[..., 0]  # [bs, bl-1]
    ok = (rand_validation[:, 0] < p_x).long().cumprod(-1)
    n = ok.sum(-1)
    nxt = sample_from(p_beam[rows, n], rand_sample)
    acc = torch.cat([x, x[:, :1]], 1)
    acc.scatter_(1, n[:, None], nxt[:, None])
    return Acceptance(n + 1, torch.zeros_like(n), nxt, draft_indices[rows, 0, n], acc, draft_indices[:, 0])


def test_power_check_detects_a_biased_rule(target, monkeypatch):
    cfg = DecodeConfig(num_beams=3, draft_len=2, max_new_tokens=L, temperature=1.0, seed=1234, lookup_ngram=0)
    monkeypatch.setattr(decode, "accept_sampling", first_beam_rule)
    counts = sample_counts(target, cfg, proposer=TableProposer(target, cfg, "good"))
    p = chi_square_pvalue(counts, exact_joint(target, cfg), SAMPLES)
    print(f"[biased first-beam rule] chi-square p = {p:.2e}")
    assert p < ALPHA, f"the biased rule went undetected (p = {p:.3f})"


def test_seeded_runs_reproduce(target):
    drafter = init_drafter(DrafterConfig(V, 32, exit_dim=32), seed=3).double()
    prompts = [PROMPT] * 50

    def run(seed):
        cfg = DecodeConfig(num_beams=3, draft_len=2, max_new_tokens=10, temperature=1.0, seed=seed)
        return [r.token_ids for r in Decoder(HFTarget(target), drafter, cfg).generate(prompts)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_temperature_to_zero_is_greedy(target):
    drafter = init_drafter(DrafterConfig(V, 32, exit_dim=32), seed=3).double()
    prompts = [PROMPT, [1, 2], [9, 9, 9, 4]]
    greedy = Decoder(HFTarget(target), drafter, DecodeConfig(num_beams=3, draft_len=2, max_new_tokens=20)).generate(
        prompts
    )
    cold = Decoder(
        HFTarget(target), drafter, DecodeConfig(num_beams=3, draft_len=2, max_new_tokens=20, temperature=1e-4, seed=5)
    ).generate(prompts)
    assert [r.token_ids for r in cold] == [r.token_ids for r in greedy]


def test_chi_square_pvalue_sanity():
    expected = {(i,): 0.25 for i in range(4)}
    assert chi_square_pvalue({(0,): 250, (1,): 250, (2,): 250, (3,): 250}, expected, 1000) == pytest.approx(1.0)
    assert chi_square_pvalue({(0,): 400, (1,): 200, (2,): 200, (3,): 200}, expected, 1000) < 1e-6
    assert math.isfinite(chi_square_pvalue({(0,): 1000}, expected, 1000))
