"""The sampling kernels (warp_softmax, sampling_accept) against the PyTorch reference (the oracle).

plugins/build_libs.py builds libredrafter_host.so with g++ into a temporary directory; its host
launchers run the CUDA kernels' own core functions in plain C++ loops. The oracle is
``trtllm_redrafter/runtime/sampling.py``:

* ``warp_softmax`` must equal ``torch.softmax(warp_logits(logits, 1 / inverted_temperature, top_k,
  top_p))`` to float tolerance, with the same masked tokens exactly. The masks are compared on every
  row except those where rounding may legitimately move the cut: a near-tie at the k-th value, a
  cumulative probability within about 1e-6 · (1 + max |y|) of ``1 - top_p``, or a tie across the top-p cut (documented:
  the kernel keeps the whole tied group). Such rows are counted, not compared.
* ``sampling_accept``, given the same probabilities and uniforms, must equal ``accept_sampling``
  element for element. Acceptance tests use the reference's own float operations and order, so
  they are compared exactly. The final inverse-CDF sample sums the row in parallel chunks (double),
  so it may differ only for rows whose target lies within 1e-6 (relative to the total) of a
  neighbouring cdf value (a float ulp is <= 1.2e-7 of it); such rows are counted, and
  ``test_accept_boundary_rows_are_rare`` asserts they are rare and that no other row differs.

Also here: the nvcc device compile of the two kernels for sm_80 and sm_90, and the
``trtllm_redrafter.ops.plugins`` helpers of the two new plugins against a stand-in TensorRT.
"""

from __future__ import annotations

import ctypes
import math
import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from plugin_helpers import (
    ACCEPT_FIELDS,
    DTYPE_CODES,
    I32,
    PLUGINS,
    PTR,
    TRT_DIR,
    cxx_constant,
    documented_outputs,
    install_fake_trt,
    load_build_libs,
    n_cap,
    ptr,
)

from trtllm_redrafter.ops import plugins
from trtllm_redrafter.runtime.accept import Acceptance
from trtllm_redrafter.runtime.sampling import accept_sampling, warp_logits
from trtllm_redrafter.runtime.tree import pack_beams

# Rows whose inverse-CDF target lies within SAMPLE_MARGIN (relative to the total) of a cdf value may
# draw a different token: cdf values and the total are float32 roundings of double sums, so a
# rounding difference moves them by about one float ulp (<= 1.2e-7 of the total).
SAMPLE_MARGIN = 1e-6
# Rows whose top-p cumulative probability lies within this of 1 - top_p are not mask-compared (plus
# 1e-6 per unit of max |y|: the reference divides by the temperature, the kernel multiplies by its
# inverse, and exp(y - max) moves by about |y| float ulps).
CUT_MARGIN = 1e-6

build_libs = load_build_libs()


def f32(x: float) -> float:
    """x rounded to float32 (the plugins' top_p attribute is a float32)."""
    return float(torch.tensor(x, dtype=torch.float32))


class SamplingKernels:
    """ctypes binding of redrafterWarpSoftmaxHost and redrafterSamplingAcceptHost."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        lib.redrafterWarpSoftmaxHost.argtypes = [PTR, I32, PTR, I32, I32, PTR, I32, I32, I32, I32, ctypes.c_float]
        lib.redrafterWarpSoftmaxHost.argtypes += [I32, PTR]
        lib.redrafterSamplingAcceptHost.argtypes = [PTR] * 6 + [I32] * 7 + [PTR] * 6
        lib.redrafterWarpSoftmaxHost.restype = I32
        lib.redrafterSamplingAcceptHost.restype = I32
        self.lib = lib

    def warp(
        self,
        logits: torch.Tensor,
        inv_temperature: torch.Tensor,
        gen_lengths: torch.Tensor,
        top_k: int = 0,
        top_p: float = 1.0,
        threads: int = 256,
    ) -> torch.Tensor:
        bs, slots, vocab = logits.shape
        gen32 = gen_lengths.to(torch.int32).contiguous()
        out = torch.full((bs, slots, vocab), -7.0)  # -7: catches elements left unwritten
        status = self.lib.redrafterWarpSoftmaxHost(
            ptr(logits),
            DTYPE_CODES[logits.dtype],
            ptr(inv_temperature),
            DTYPE_CODES[inv_temperature.dtype],
            inv_temperature.numel(),
            ptr(gen32),
            bs,
            slots,
            vocab,
            top_k,
            top_p,
            threads,
            ptr(out),
        )
        assert status == 0
        return out

    def accept(
        self,
        probs: torch.Tensor,
        beams: torch.Tensor,
        indices: torch.Tensor,
        gen_lengths: torch.Tensor,
        rand_validation: torch.Tensor,
        rand_sample: torch.Tensor,
        threads: int = 256,
    ) -> dict[str, torch.Tensor]:
        bs, slots, vocab = probs.shape
        _, nb, bl = beams.shape
        assert rand_validation.dtype == rand_sample.dtype and rand_validation.is_contiguous()
        tokens32 = beams.to(torch.int32).contiguous()
        indices32 = indices.to(torch.int32).contiguous()
        gen32 = gen_lengths.to(torch.int32).contiguous()
        shapes = [(bs,)] * 4 + [(bs, bl)] * 2
        out = {k: torch.full(s, -7, dtype=torch.int32) for k, s in zip(ACCEPT_FIELDS, shapes)}
        status = self.lib.redrafterSamplingAcceptHost(
            ptr(probs),
            ptr(tokens32),
            ptr(indices32),
            ptr(gen32),
            ptr(rand_validation),
            ptr(rand_sample),
            DTYPE_CODES[rand_sample.dtype],
            bs,
            slots,
            vocab,
            nb,
            bl,
            threads,
            *map(ptr, out.values()),
        )
        assert status == 0
        return out


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> SamplingKernels:
    return SamplingKernels(build_libs.build_host_library(tmp_path_factory.mktemp("redrafter_sampling_host")))


# ---------------------------------------------------------------------------------------------
# warp_softmax vs softmax(warp_logits(...))


def reference_probs(x: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    return torch.softmax(warp_logits(x.float(), temperature, top_k, top_p), dim=-1)


def warp_cut_flag(x: torch.Tensor, temperature: float, top_k: int, top_p: float) -> str | None:
    """Why the masks of this row may legitimately differ (None: they must be equal)."""
    y = warp_logits(x.float(), temperature)  # the reference's temperature-scaled logits
    vocab = y.shape[-1]
    if 0 < top_k < vocab:
        ranked = y.sort(descending=True).values
        kth, after = float(ranked[top_k - 1]), float(ranked[top_k])
        if kth != after and kth - after <= 1e-5 * (1 + abs(kth)):
            return "top-k near-tie"  # distinct values that rounding of y could merge or reorder
    if top_p < 1.0:
        q = reference_probs(x, temperature, top_k, 1.0)
        ascending = q.sort().values
        cum = ascending.cumsum(-1)
        cut = f32(1 - top_p)
        finite = y[torch.isfinite(y)]
        if float((cum - cut).abs().min()) < CUT_MARGIN * (1 + float(finite.abs().max())):
            return "top-p margin"
        last_removed = int((cum <= cut).sum()) - 1
        if 0 <= last_removed < vocab - 1 and ascending[last_removed] == ascending[last_removed + 1]:
            return "top-p tie"  # HF drops part of the tied group (sort order); the kernel keeps it
    return None


def group_rule_probs(x: torch.Tensor, temperature: float, top_k: int, top_p: float) -> tuple[torch.Tensor, float]:
    """The kernel's documented top-p rule, computed in float64 from the reference's probabilities:
    drop v when the mass of the kept tokens with y <= y_v (its tie group included) is <= 1 - top_p,
    never the largest. Returns the renormalised probabilities and the smallest distance of a group's
    cumulative mass from the cut."""
    q = reference_probs(x, temperature, top_k, 1.0).double()
    y = warp_logits(x.float(), temperature, top_k, 1.0)
    order = y.argsort()
    ascending = y[order]
    cum = q[order].cumsum(0)
    group_end = torch.searchsorted(ascending, ascending, right=True) - 1  # last index of each tie group
    mass = cum[group_end]
    cut = f32(1 - top_p)
    keep = torch.empty_like(q, dtype=torch.bool)
    keep[order] = (mass > cut) | (ascending == ascending[-1])
    keep &= q > 0
    kept = q * keep
    return (kept / kept.sum()).float(), float((mass - cut).abs().min())


def assert_warp_row_matches(got: torch.Tensor, x: torch.Tensor, inv: float, top_k: int, top_p: float) -> str:
    """Compare one real row. Returns "exact" (compared with the reference), "tie rule" (a tie across
    the top-p cut, compared with the documented rule instead) or "flagged" (masks not compared)."""
    temperature = 1.0 / inv
    ref = reference_probs(x, temperature, top_k, top_p)
    y = warp_logits(x.float(), temperature)
    scale = 1.0 + float(y[torch.isfinite(y)].abs().max())
    flag = warp_cut_flag(x, temperature, top_k, top_p)
    outcome = "exact"
    if flag == "top-p tie":
        ref, margin = group_rule_probs(x, temperature, top_k, top_p)
        outcome = "tie rule"
        if margin < CUT_MARGIN * scale:
            flag = "top-p margin"
    if flag not in (None, "top-p tie"):
        assert torch.isfinite(got).all() and float(got.sum()) == pytest.approx(1.0, abs=1e-5)
        return "flagged"
    kept = ref > 0
    assert torch.equal(got > 0, kept), "masked tokens differ"
    assert not got[~kept].any()
    # the reference divides by the temperature, the kernel multiplies by its inverse: y differs by
    # float rounding, which moves exp(y - max) by up to about |y| ulps
    rel = ((got - ref).abs() / ref)[kept]
    assert float(rel.max()) <= 5e-7 * scale, float(rel.max())
    if outcome == "exact":  # with the kernel's own y (a float32 multiply), only exp and the sums differ
        tight = reference_probs(x.float() * torch.tensor(inv, dtype=torch.float32), 1.0, top_k, top_p)
        if torch.equal(tight > 0, kept):
            assert float(((got - tight).abs() / tight)[kept].max()) <= 2e-6
    return outcome


def random_warp_logits(gen: torch.Generator, shape, dtype: torch.dtype, kind: str, offset: int) -> torch.Tensor:
    """'normal', 'levels' (few distinct values: ties everywhere) or 'neg_inf' (some -inf, never a
    whole row), stored `offset` elements into their buffer (every alignment)."""
    if kind == "levels":
        values = torch.randint(-2, 3, shape, generator=gen).float()
    else:
        values = torch.randn(shape, generator=gen) * 3
    if kind == "neg_inf":
        values[torch.rand(shape, generator=gen) < 0.3] = float("-inf")
        values[..., 0] = torch.randn(shape[:-1], generator=gen)
    numel = math.prod(shape)
    buffer = torch.zeros(offset + numel, dtype=dtype)
    logits = buffer[offset:].view(shape)
    logits.copy_(values.to(dtype))
    return logits


@st.composite
def warp_cases(draw):
    bs = draw(st.integers(1, 3))
    slots = draw(st.integers(1, 4))
    vocab = draw(st.integers(1, 300))
    dtype = draw(st.sampled_from(list(DTYPE_CODES)))
    kind = draw(st.sampled_from(["normal", "levels", "neg_inf"]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = random_warp_logits(gen, (bs, slots, vocab), dtype, kind, draw(st.integers(0, 7)))
    temp_dtype = draw(st.sampled_from(list(DTYPE_CODES)))
    count = draw(st.sampled_from([1, bs]))
    inv = (torch.rand(count, generator=gen) * 2 + 0.3).to(temp_dtype)
    top_k = draw(st.sampled_from([0, 1, vocab, vocab + 3]) | st.integers(1, max(1, vocab)))
    top_p = f32(draw(st.sampled_from([1.0]) | st.floats(0.05, 0.99)))
    gen_lengths = torch.randint(0, slots + 1, (bs,), generator=gen)
    threads = draw(st.sampled_from([1, 3, 256]))
    return logits, inv, gen_lengths, top_k, top_p, threads


WARP_COUNTS = {"exact": 0, "tie rule": 0, "flagged": 0}


@settings(max_examples=300, deadline=None)
@given(warp_cases())
def test_warp_matches_reference(host: SamplingKernels, case):
    logits, inv, gen_lengths, top_k, top_p, threads = case
    bs, slots, _ = logits.shape
    out = host.warp(logits, inv, gen_lengths, top_k, top_p, threads)
    for b in range(bs):
        inv_b = float(inv[0 if inv.numel() == 1 else b])
        for p in range(slots):
            if p >= int(gen_lengths[b]):
                assert not out[b, p].any()  # padding slots are zero
                continue
            WARP_COUNTS[assert_warp_row_matches(out[b, p], logits[b, p], inv_b, top_k, top_p)] += 1


def test_warp_flagged_rows_are_rare_without_ties(host: SamplingKernels):
    """Random (tie-free) fp32 logits: rows whose cut could move by rounding are at most 3%."""
    gen = torch.Generator().manual_seed(11)
    bs, slots, vocab = 16, 20, 400
    logits = torch.randn(bs, slots, vocab, generator=gen) * 3
    inv = torch.rand(bs, generator=gen) + 0.5
    flagged = 0
    for top_k, top_p in [(0, 0.9), (50, 0.8), (200, 0.5)]:
        out = host.warp(logits, inv, torch.full((bs,), slots), top_k, f32(top_p))
        for b in range(bs):
            for p in range(slots):
                outcome = assert_warp_row_matches(out[b, p], logits[b, p], float(inv[b]), top_k, f32(top_p))
                flagged += outcome == "flagged"
    rows = 3 * bs * slots
    assert flagged <= rows * 3 // 100, (flagged, rows)  # 8 of 960 here: a cut within ~2e-5 of 1 - top_p


def test_warp_bits_do_not_depend_on_the_thread_count(host: SamplingKernels):
    gen = torch.Generator().manual_seed(3)
    logits = random_warp_logits(gen, (2, 3, 517), torch.bfloat16, "levels", 3)
    inv = torch.tensor([0.7, 1.3])
    gen_lengths = torch.tensor([3, 2])
    for top_k, top_p in [(0, 1.0), (40, 1.0), (0, 0.6), (100, 0.9)]:
        first = host.warp(logits, inv, gen_lengths, top_k, f32(top_p), threads=256)
        for threads in (1, 2, 7, 255):
            again = host.warp(logits, inv, gen_lengths, top_k, f32(top_p), threads)
            assert torch.equal(again.view(torch.int32), first.view(torch.int32))


def test_warp_top_k_keeps_every_token_tied_with_the_kth(host: SamplingKernels):
    logits = torch.tensor([[[1.0, 3.0, 3.0, 0.0, 3.0, -0.0, 2.0]]])
    out = host.warp(logits, torch.tensor([1.0]), torch.tensor([1]), top_k=2)
    assert (out[0, 0] > 0).tolist() == [False, True, True, False, True, False, False]
    assert torch.equal(out[0, 0] > 0, reference_probs(logits[0, 0], 1.0, 2, 1.0) > 0)
    # -0.0 == +0.0: with top_k = 6 the 6th value is a zero, and both zeros are kept
    out = host.warp(logits, torch.tensor([1.0]), torch.tensor([1]), top_k=6)
    assert (out[0, 0] > 0).all()
    assert torch.equal(out[0, 0] > 0, reference_probs(logits[0, 0], 1.0, 6, 1.0) > 0)


def test_warp_top_p_tie_at_the_cut_keeps_the_group(host: SamplingKernels):
    """Documented difference: HF drops a sort-order-dependent part of a tied group at the cut."""
    logits = torch.zeros(1, 1, 4)
    out = host.warp(logits, torch.tensor([1.0]), torch.tensor([1]), top_p=f32(0.4))
    assert out[0, 0].tolist() == [0.25] * 4  # the kernel keeps the whole tie group
    assert int((reference_probs(logits[0, 0], 1.0, 0, f32(0.4)) > 0).sum()) == 2  # HF keeps two of the four
    assert warp_cut_flag(logits[0, 0], 1.0, 0, f32(0.4)) == "top-p tie"
    assert assert_warp_row_matches(out[0, 0], logits[0, 0], 1.0, 0, f32(0.4)) == "tie rule"


def test_warp_extremes(host: SamplingKernels):
    logits = torch.tensor([[[0.5, 2.0, -1.0, 1.0]]])
    one = torch.tensor([1.0])
    rows = torch.tensor([1])
    assert host.warp(logits, one, rows, top_k=1)[0, 0].tolist() == [0, 1, 0, 0]
    assert host.warp(logits, one, rows, top_p=f32(1e-7))[0, 0].tolist() == [0, 1, 0, 0]  # keeps the max only
    off = host.warp(logits, one, rows, top_k=4)  # top_k >= V: off
    assert torch.equal(off, host.warp(logits, one, rows, top_k=0))
    assert torch.allclose(off[0, 0], torch.softmax(logits[0, 0], -1), rtol=1e-6, atol=0)
    v1 = host.warp(torch.tensor([[[3.0]]]), one, rows, top_k=1, top_p=f32(0.3))
    assert v1.tolist() == [[[1.0]]]  # V = 1


def test_warp_global_and_per_row_temperature(host: SamplingKernels):
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 2, 50, generator=gen).to(torch.float16)
    rows = torch.tensor([2, 1, 2])
    for dtype in DTYPE_CODES:
        inv = torch.tensor([1.7], dtype=dtype)
        per_row = inv.expand(3).clone()
        assert torch.equal(host.warp(logits, inv, rows, 5, f32(0.9)), host.warp(logits, per_row, rows, 5, f32(0.9)))
    per_row = host.warp(logits, torch.tensor([0.5, 1.0, 2.0]), rows, 0, 1.0)
    for b, inv_b in enumerate([0.5, 1.0, 2.0]):
        for p in range(int(rows[b])):
            assert_warp_row_matches(per_row[b, p], logits[b, p], inv_b, 0, 1.0)


def test_warp_rejects_bad_arguments(host: SamplingKernels):
    lib = host.lib
    logits = torch.zeros(1, 1, 4)
    inv = torch.ones(2)
    rows = torch.ones(2, dtype=torch.int32)
    out = torch.full((2, 1, 4), 5.0)

    def status(bs=1, dtype=0, temp_dtype=0, count=1, vocab=4, top_k=0, top_p=1.0, threads=256):
        args = (ptr(logits), dtype, ptr(inv), temp_dtype, count, ptr(rows), bs, 1, vocab, top_k, top_p, threads)
        return lib.redrafterWarpSoftmaxHost(*args, ptr(out))

    assert status(dtype=3) == 2 and status(temp_dtype=-1) == 2
    assert status(vocab=0) == 1 and status(threads=0) == 1 and status(bs=0) == 1
    assert status(top_k=-1) == 5 and status(top_p=0.0) == 5 and status(top_p=1.5) == 5
    assert status(top_p=float("nan")) == 5 and status(bs=2, count=3) == 5
    assert status(vocab=1 << 22) == 3  # the fixed-point total would overflow
    assert (out == 5.0).all()  # nothing written


# ---------------------------------------------------------------------------------------------
# sampling_accept vs accept_sampling


def acceptance_dict(acc: Acceptance) -> dict[str, list]:
    return {k: getattr(acc, k).tolist() for k in ACCEPT_FIELDS}


def sampling_margins(
    probs: torch.Tensor, beams: torch.Tensor, indices: torch.Tensor, ref: Acceptance, rand_sample: torch.Tensor
) -> torch.Tensor:
    """Per row, how far (relative to the total) the reference's inverse-CDF target lies from the
    cdf values on either side of the token it drew: the distance a rounding difference in the sums
    would have to cover to change that token."""
    bs, nb, bl = beams.shape
    rows = torch.arange(bs)
    node, depth = ref.hidden_index.long(), ref.num_accepted_tokens.long() - 1
    p_node = probs[rows, node]  # [bs, V]
    vocab = p_node.shape[-1]
    rejected = depth < bl - 1
    through = indices.long().gather(2, depth[:, None, None].expand(bs, nb, 1))[..., 0] == node[:, None]
    child_tokens = beams.long().gather(2, (depth + 1).clamp(max=bl - 1)[:, None, None].expand(bs, nb, 1))[..., 0]
    is_child = through & rejected[:, None]
    child_tokens = torch.where(is_child, child_tokens, 0)  # (bl = 1: no children, tokens may exceed V)
    child_mask = torch.zeros_like(p_node).scatter_reduce(1, child_tokens, is_child.to(p_node.dtype), reduce="amax")
    residual = p_node * (1 - child_mask)
    drawn_from = torch.where((residual.sum(-1) > 0)[:, None], residual, p_node)
    cdf = drawn_from.cumsum(-1)
    total = cdf[:, -1]
    target = rand_sample.float() * total
    idx = (cdf <= target[:, None]).sum(-1)
    below = torch.where(idx > 0, cdf.gather(1, (idx - 1).clamp(min=0)[:, None])[:, 0], torch.zeros_like(total))
    at = cdf.gather(1, idx.clamp(max=vocab - 1)[:, None])[:, 0]
    above = torch.where(idx < vocab, at, torch.full_like(total, math.inf))
    gap = torch.minimum(target - below, above - target).double()
    return torch.where(total > 0, gap / total.double(), torch.zeros_like(gap))


def compare_acceptance(
    got: dict[str, torch.Tensor],
    probs: torch.Tensor,
    beams: torch.Tensor,
    indices: torch.Tensor,
    rand_validation: torch.Tensor,
    rand_sample: torch.Tensor,
) -> tuple[int, int]:
    """Assert the kernel equals the reference, except in the sampled token of boundary rows.
    Returns (rows that differ, rows near a boundary)."""
    ref = accept_sampling(probs, beams.long(), indices.long(), rand_validation.float(), rand_sample.float())
    margins = sampling_margins(probs, beams, indices, ref, rand_sample)
    near = margins < SAMPLE_MARGIN
    differ = torch.zeros(beams.shape[0], dtype=torch.bool)
    for k in ACCEPT_FIELDS:
        mismatch = got[k].long() != getattr(ref, k)
        differ |= mismatch if mismatch.dim() == 1 else mismatch.any(-1)
    for k in ("num_accepted_tokens", "accepted_beam_index", "hidden_index", "path_indices"):
        assert got[k].tolist() == getattr(ref, k).tolist(), k  # the walk itself is exact
    assert not (differ & ~near).any(), {k: (got[k].tolist(), getattr(ref, k).tolist()) for k in ACCEPT_FIELDS}
    return int(differ.sum()), int(near.sum())


def planted_logits(gen: torch.Generator, beams: torch.Tensor, indices: torch.Tensor, vocab: int, strength: float):
    """Random target logits [bs, n, V] in which each drafted child is boosted at its parent's slot,
    so that acceptance runs to varying depths."""
    bs, nb, bl = beams.shape
    n = int(indices.max()) + 1
    logits = torch.randn(bs, n, vocab, generator=gen) * 2
    for b in range(bs):
        for i in range(nb):
            for j in range(bl - 1):
                boost = strength * float(torch.rand(1, generator=gen))
                logits[b, indices[b, i, j], beams[b, i, j + 1]] += boost
    return logits


@st.composite
def sampling_cases(draw):
    bs = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 6))
    bl = draw(st.integers(1, 6))
    token_vocab = draw(st.integers(1, 5))  # small: shared prefixes are common
    flat = draw(st.lists(st.integers(0, token_vocab - 1), min_size=bs * nb * bl, max_size=bs * nb * bl))
    beams = torch.tensor(flat, dtype=torch.long).view(bs, nb, bl)
    beams[:, :, 0] = beams[:, :1, 0]
    tree = pack_beams(beams)
    n = tree.tokens.shape[1]
    vocab = draw(st.integers(token_vocab, 200))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = planted_logits(gen, beams, tree.draft_indices, vocab, draw(st.sampled_from([0.0, 3.0, 8.0])))
    temperature = draw(st.sampled_from([0.5, 1.0, 1.5]))
    top_k = draw(st.sampled_from([0, 1, 2, 3]))  # small top-k: children often hold all the mass
    top_p = draw(st.sampled_from([1.0, 0.7]))
    probs = torch.softmax(warp_logits(logits, temperature, top_k, top_p), dim=-1)
    slots = draw(st.sampled_from([n, n_cap(nb, bl), n_cap(nb, bl) + 2]))
    padded = torch.full((bs, slots, vocab), float("nan"))  # padding slots must never be read
    padded[:, :n] = probs
    rand_dtype = draw(st.sampled_from(list(DTYPE_CODES)))
    rand_validation = torch.rand(bs, nb, bl - 1, generator=gen).to(rand_dtype)
    rand_sample = torch.rand(bs, generator=gen).to(rand_dtype)
    threads = draw(st.sampled_from([1, 3, 256]))
    return padded, probs, beams, tree, rand_validation, rand_sample, threads


ACCEPT_COUNTS = {"rows": 0, "differ": 0, "near": 0}


@settings(max_examples=400, deadline=None)
@given(sampling_cases())
def test_accept_matches_reference(host: SamplingKernels, case):
    padded, probs, beams, tree, rand_validation, rand_sample, threads = case
    got = host.accept(padded, beams, tree.draft_indices, tree.gen_lengths, rand_validation, rand_sample, threads)
    differ, near = compare_acceptance(got, probs, beams, tree.draft_indices, rand_validation, rand_sample)
    ACCEPT_COUNTS["rows"] += beams.shape[0]
    ACCEPT_COUNTS["differ"] += differ
    ACCEPT_COUNTS["near"] += near


def test_accept_boundary_rows_are_rare(host: SamplingKernels):
    """2000 rows, V = 500: rows may differ only in the sampled token and only near a boundary;
    boundary rows are rare. A row is near a boundary with probability about 2 * SAMPLE_MARGIN / P(drawn
    token), about 0.1% here."""
    gen = torch.Generator().manual_seed(7)
    bs, nb, bl, vocab = 2000, 4, 4, 500
    beams = torch.randint(0, 3, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]
    tree = pack_beams(beams)
    probs = torch.softmax(planted_logits(gen, beams, tree.draft_indices, vocab, 6.0), dim=-1)
    rand_validation = torch.rand(bs, nb, bl - 1, generator=gen)
    rand_sample = torch.rand(bs, generator=gen)
    got = host.accept(probs, beams, tree.draft_indices, tree.gen_lengths, rand_validation, rand_sample)
    differ, near = compare_acceptance(got, probs, beams, tree.draft_indices, rand_validation, rand_sample)
    ACCEPT_COUNTS["rows"] += bs
    assert near <= bs // 200 and differ <= near, (differ, near)  # <= 0.5%
    assert 0 < int((got["num_accepted_tokens"] > 1).sum()) < bs  # acceptance lengths vary


def docs_example(u_b, u_a, u_sample):
    """docs/sampling.md: P(. | root) = {a: .5, b: .3, c: .2}; beam 0 drafted b, beam 1 drafted a."""
    a, b = 1, 2
    u_b, u_a, u_sample = (torch.as_tensor(x, dtype=torch.float32).reshape(-1) for x in (u_b, u_a, u_sample))
    rows = u_b.shape[0]
    beams = torch.tensor([[0, b], [0, a]]).expand(rows, 2, 2).contiguous()
    tree = pack_beams(beams)  # packed [0, b, a]
    probs = torch.zeros(rows, 3, 4)
    probs[:, 0] = torch.tensor([0.0, 0.5, 0.3, 0.2])
    probs[:, 1] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # after b: always c
    probs[:, 2] = torch.tensor([0.0, 0.0, 1.0, 0.0])  # after a: always b
    rand_validation = torch.stack([u_b, u_a], dim=1)[:, :, None].contiguous()
    return probs, beams, tree, rand_validation, u_sample


def test_accept_docs_worked_example(host: SamplingKernels):
    probs, beams, tree, rv, rs = docs_example([0.29, 0.31, 0.31], [0.9, 0.70, 0.72], [0.5, 0.5, 0.99])
    got = host.accept(probs, beams, tree.draft_indices, tree.gen_lengths, rv, rs)
    assert got["num_accepted_tokens"].tolist() == [2, 2, 1]
    assert got["accepted_beam_index"].tolist() == [0, 1, 0]
    assert got["accepted_tokens"].tolist() == [[2, 3], [1, 2], [3, 0]]  # b + bonus c; a + bonus b; c (+ padding)
    assert got["next_token"].tolist() == [3, 2, 3] and got["hidden_index"].tolist() == [1, 2, 0]
    compare_acceptance(got, probs, beams, tree.draft_indices, rv, rs)


def test_accept_docs_worked_example_frequencies(host: SamplingKernels):
    """Over a 400 x 400 grid of (u_b, u_a) the kernel equals the reference in every row, and the
    first token is b, a, c with frequencies 0.3, 0.5, 0.2."""
    grid = (torch.arange(400) + 0.5) / 400
    u_b, u_a = torch.meshgrid(grid, grid, indexing="ij")
    probs, beams, tree, rv, rs = docs_example(u_b.flatten(), u_a.flatten(), torch.full((grid.numel() ** 2,), 0.5))
    got = host.accept(probs, beams, tree.draft_indices, tree.gen_lengths, rv, rs)
    ref = accept_sampling(probs, beams, tree.draft_indices, rv, rs)
    assert {k: v.tolist() for k, v in got.items()} == acceptance_dict(ref)
    first = got["accepted_tokens"][:, 0]
    assert (first == 2).float().mean().item() == pytest.approx(0.3, abs=1e-2)
    assert (first == 1).float().mean().item() == pytest.approx(0.5, abs=1e-2)
    assert (first == 3).float().mean().item() == pytest.approx(0.2, abs=1e-2)


def one_hot_chain(choices: list[list[int]], vocab: int) -> torch.Tensor:
    """probs [bs, len(row), vocab] with all mass on choices[b][p] at slot p."""
    probs = torch.zeros(len(choices), len(choices[0]), vocab)
    for b, row in enumerate(choices):
        for p, token in enumerate(row):
            probs[b, p, token] = 1.0
    return probs


def run_case(host: SamplingKernels, probs, beams, rand_validation, rand_sample, gen_lengths=None) -> dict:
    tree = pack_beams(beams)
    gen_lengths = tree.gen_lengths if gen_lengths is None else gen_lengths
    got = host.accept(probs, beams, tree.draft_indices, gen_lengths, rand_validation, rand_sample)
    n = tree.tokens.shape[1]
    compare_acceptance(got, probs[:, :n], beams, tree.draft_indices, rand_validation, rand_sample)
    return {k: v.tolist() for k, v in got.items()}


def test_accept_one_beam(host: SamplingKernels):
    beams = torch.tensor([[[1, 2, 3, 4]], [[1, 2, 3, 4]]])
    probs = one_hot_chain([[2, 3, 4, 9], [2, 5, 4, 9]], vocab=10)  # row 1: the target wants 5, not 3
    got = run_case(host, probs, beams, torch.full((2, 1, 3), 0.5), torch.tensor([0.3, 0.3]))
    assert got["num_accepted_tokens"] == [4, 2] and got["next_token"] == [9, 5]
    assert got["accepted_tokens"] == [[2, 3, 4, 9], [2, 5, 4, 1]]  # the reference's padding after num


def test_accept_beam_length_one(host: SamplingKernels):
    beams = torch.tensor([[[4], [4]], [[5], [5]]])
    probs = torch.tensor([[[0.1, 0.2, 0.7]], [[0.5, 0.0, 0.5]]])
    got = run_case(host, probs, beams, torch.zeros(2, 2, 0), torch.tensor([0.25, 0.5]))
    assert got["num_accepted_tokens"] == [1, 1] and got["next_token"] == [1, 2]
    assert got["accepted_tokens"] == [[1], [2]] and got["hidden_index"] == [0, 0]


def test_accept_identical_beams_are_one_child(host: SamplingKernels):
    """Only the first beam of a shared node is tested: the duplicates' uniforms (0, which would
    accept) are never used."""
    beams = torch.tensor([[[1, 2, 3]] * 4])
    probs = torch.full((1, 3, 6), 0.1)
    probs[0, 0, 2] = 0.5
    rand_validation = torch.zeros(1, 4, 2)
    rand_validation[0, 0, 0] = 0.99  # beam 0 rejects token 2 at depth 1
    got = run_case(host, probs, beams, rand_validation, torch.tensor([0.5]))
    assert got["num_accepted_tokens"] == [1] and got["next_token"][0] != 2  # 2 is excluded from the residual


def test_accept_distinct_beams_closed_form(host: SamplingKernels):
    """17 beams distinct after the root: child i is accepted iff u_i (1 - sum_{j<i} P) < P(c_i)."""
    nb = 17
    beams = torch.zeros(1, nb, 3, dtype=torch.long)
    beams[0, :, 0] = 40
    beams[0, :, 1] = torch.arange(nb) + 1
    beams[0, :, 2] = torch.arange(nb) + 20
    probs = torch.full((1, n_cap(nb, 3), 48), 1.0 / 48)
    probs[0, 0] = 0.0
    probs[0, 0, 1 : nb + 1] = 0.05  # 17 children hold 0.85
    probs[0, 0, 45] = 0.15
    rand_validation = torch.ones(1, nb, 2) * 0.999
    rand_validation[0, 9, 0] = 0.05 / (1 - 9 * 0.05) - 1e-3  # just accepted
    rand_validation[0, 9, 1] = 0.0  # and its own child too
    got = run_case(host, probs, beams, rand_validation, torch.tensor([0.5]))
    assert got["accepted_beam_index"] == [9] and got["num_accepted_tokens"] == [3]  # then a leaf at depth 2
    rand_validation[0, 9, 0] = 0.05 / (1 - 9 * 0.05) + 1e-3  # just rejected
    got = run_case(host, probs, beams, rand_validation, torch.tensor([0.5]))
    assert got["num_accepted_tokens"] == [1] and got["next_token"] == [45]  # the residual is {45}


def test_accept_rows_of_different_tree_lengths(host: SamplingKernels):
    beams = torch.tensor([[[1, 2, 3], [1, 2, 3]], [[4, 5, 6], [4, 7, 8]], [[0, 0, 1], [0, 0, 2]]])
    # n_cap = 5; row 0 has 3 real slots, row 1 five, row 2 four: padding slots hold NaN
    probs = one_hot_chain([[2, 3, 9, 0, 0], [7, 6, 6, 8, 4], [0, 2, 1, 5, 3]], vocab=10)
    probs[0, 3:] = float("nan")
    probs[2, 4:] = float("nan")
    got = run_case(host, probs, beams, torch.full((3, 2, 2), 0.5), torch.tensor([0.5, 0.5, 0.5]))
    assert got["num_accepted_tokens"] == [3, 3, 3]
    assert got["accepted_beam_index"] == [0, 1, 1]
    assert got["next_token"] == [9, 4, 5]


def test_accept_children_hold_all_the_mass(host: SamplingKernels):
    beams = torch.tensor([[[0, 1, 3], [0, 2, 3]]] * 2)
    probs = torch.zeros(2, 5, 4)
    probs[:, 0, 1], probs[:, 0, 2] = 0.6, 0.4  # top-k = 2 kept exactly the two children
    probs[:, 1:, 3] = 1.0
    rand_validation = torch.tensor([[[0.7, 0.5], [0.999, 0.5]], [[0.1, 0.5], [0.0, 0.5]]])
    got = run_case(host, probs, beams, rand_validation, torch.tensor([0.5, 0.5]))
    # row 0: token 1 rejected (0.7 >= 0.6), token 2 then always accepted (u * 0.4 < 0.4)
    assert got["accepted_beam_index"] == [1, 0] and got["num_accepted_tokens"] == [3, 3]


def test_accept_children_hold_all_the_mass_up_to_rounding(host: SamplingKernels):
    """Unnormalised probabilities: every child is rejected and the residual has no mass, so the
    sample comes from the node's own distribution (the reference's fallback)."""
    beams = torch.tensor([[[0, 1], [0, 2], [0, 3]]])
    probs = torch.zeros(1, 4, 5)
    probs[0, 0, 1:4] = torch.tensor([0.3, 0.3, 0.3999])
    rand_validation = torch.full((1, 3, 1), 0.9999)
    got = run_case(host, probs, beams, rand_validation, torch.tensor([0.8]))
    assert got["num_accepted_tokens"] == [1] and got["next_token"] == [3]  # 0.8 * 0.9999 falls on token 3


def test_accept_boundary_of_the_test_is_strict(host: SamplingKernels):
    """u (1 - prior) == P(c) rejects (the test is <)."""
    beams = torch.tensor([[[0, 1], [0, 2]]])
    probs = torch.zeros(1, 3, 4)
    probs[0, 0] = torch.tensor([0.0, 0.5, 0.25, 0.25])
    got = run_case(host, probs, beams, torch.tensor([[[0.5], [0.5]]]), torch.tensor([0.5]))
    assert got["num_accepted_tokens"] == [1] and got["next_token"] == [3]  # 0.5 * 0.5 == 0.25 rejects token 2 too
    got = run_case(host, probs, beams, torch.tensor([[[0.5], [0.4999]]]), torch.tensor([0.5]))
    assert got["accepted_beam_index"] == [1] and got["num_accepted_tokens"] == [2]


def test_accept_half_precision_uniforms(host: SamplingKernels):
    """float16 / bfloat16 uniforms are decoded exactly; rounding can make one 1.0, and then the
    reference's clamp draws token V-1 (a zero-probability token here): the kernel does the same."""
    beams = torch.tensor([[[0, 1]], [[0, 1]]])
    probs = torch.zeros(2, 2, 4)
    probs[:, 0, :2] = 0.5
    probs[:, 1, 2] = 1.0
    for dtype in (torch.float16, torch.bfloat16):
        rand_validation = torch.tensor([[[0.9999]], [[0.2]]]).to(dtype)  # row 0: rounds to 1.0
        rand_sample = torch.tensor([0.99999, 0.3]).to(dtype)
        got = run_case(host, probs, beams, rand_validation, rand_sample)
        assert got["num_accepted_tokens"] == [1, 2] and got["next_token"] == [3, 2]


def test_accept_out_of_contract_inputs_are_memory_safe(host: SamplingKernels):
    beams = torch.tensor([[[1, 2, 3]], [[1, 2, 3]]])
    probs = one_hot_chain([[2, 3, 4], [2, 3, 4]], vocab=5)
    rv, rs = torch.zeros(2, 1, 2), torch.tensor([0.5, 0.5])
    out = host.accept(probs, beams, torch.tensor([[[0, 1, 2]], [[0, 1, 9]]]), torch.tensor([0, 3]), rv, rs)
    assert out["num_accepted_tokens"].tolist() == [1, 2]  # row 0: no real slot; row 1: slot 9 is no child
    assert out["next_token"].tolist() == [-1, 3]
    beams_out_of_vocab = torch.tensor([[[1, 7, 3]]])  # token 7 >= V: probability 0, never accepted
    out = host.accept(probs[:1], beams_out_of_vocab, torch.tensor([[[0, 1, 2]]]), torch.tensor([3]), rv[:1], rs[:1])
    assert out["num_accepted_tokens"].tolist() == [1] and out["next_token"].tolist() == [2]


def test_accept_rejects_bad_arguments(host: SamplingKernels):
    lib = host.lib
    dummy = torch.zeros(64, dtype=torch.int32)
    outs = [ptr(dummy)] * 6

    def status(bs=1, slots=1, vocab=4, nb=1, bl=1, dtype=0, threads=256):
        args = [ptr(dummy)] * 6 + [dtype, bs, slots, vocab, nb, bl, threads]
        return lib.redrafterSamplingAcceptHost(*args, *outs)

    assert status(bs=0) == 1 and status(vocab=0) == 1 and status(nb=0) == 1 and status(bl=0) == 1
    assert status(threads=0) == 1 and status(dtype=7) == 2
    assert not dummy.any()  # nothing written


def test_warp_then_accept_equals_the_reference(host: SamplingKernels):
    """The two kernels chained: accept_sampling on the kernel's own probabilities."""
    gen = torch.Generator().manual_seed(17)
    bs, nb, bl, vocab = 6, 4, 4, 120
    beams = torch.randint(0, 3, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]
    tree = pack_beams(beams)
    logits = planted_logits(gen, beams, tree.draft_indices, vocab, 6.0).to(torch.bfloat16)
    slots = n_cap(nb, bl)
    padded = torch.zeros(bs, slots, vocab, dtype=torch.bfloat16)
    padded[:, : logits.shape[1]] = logits
    probs = host.warp(padded, torch.tensor([1.25], dtype=torch.bfloat16), tree.gen_lengths, 20, f32(0.95))
    rv, rs = torch.rand(bs, nb, bl - 1, generator=gen), torch.rand(bs, generator=gen)
    got = host.accept(probs, beams, tree.draft_indices, tree.gen_lengths, rv, rs)
    n = tree.tokens.shape[1]
    compare_acceptance(got, probs[:, :n], beams, tree.draft_indices, rv, rs)


# ---------------------------------------------------------------------------------------------
# device compile (nvcc, sm_80 and sm_90)


def test_sampling_kernels_device_compile_sm80_sm90(tmp_path: Path):
    """nvcc -c of warp_softmax.cu and sampling_accept.cu for sm_80 and sm_90 (warnings are errors),
    linked into a shared library; exports and argument checks (before any CUDA call)."""
    nvcc = build_libs.find_nvcc()
    if nvcc is None:
        if os.environ.get("REDRAFTER_REQUIRE_NVCC") == "1":
            pytest.fail("nvcc not found and REDRAFTER_REQUIRE_NVCC=1")
        pytest.skip("nvcc not found (set $NVCC)")
    sources = [PLUGINS / "kernels" / "warp_softmax.cu", PLUGINS / "kernels" / "sampling_accept.cu"]
    library = build_libs.build_kernel_library(tmp_path, ["80", "90"], nvcc, sources=sources)
    lib = ctypes.CDLL(str(library))
    lib.redrafterWarpSoftmax.argtypes = [PTR, I32, PTR, I32, I32, PTR, I32, I32, I32, I32, ctypes.c_float, PTR, PTR]
    lib.redrafterSamplingAccept.argtypes = [PTR] * 6 + [I32] * 6 + [PTR] * 7
    lib.redrafterWarpSoftmax.restype = lib.redrafterSamplingAccept.restype = I32
    null = None
    assert lib.redrafterWarpSoftmax(null, 0, null, 0, 1, null, 1, 1, 0, 0, 1.0, null, null) == 1
    assert lib.redrafterWarpSoftmax(null, 3, null, 0, 1, null, 1, 1, 4, 0, 1.0, null, null) == 2
    assert lib.redrafterWarpSoftmax(null, 0, null, 0, 1, null, 1, 1, 4, -1, 1.0, null, null) == 5
    assert lib.redrafterWarpSoftmax(null, 0, null, 0, 1, null, 1, 1, 1 << 22, 0, 1.0, null, null) == 3
    assert lib.redrafterSamplingAccept(*[null] * 6, 0, 1, 1, 4, 0, 3, *[null] * 7) == 1
    assert lib.redrafterSamplingAccept(*[null] * 6, 9, 1, 1, 4, 1, 3, *[null] * 7) == 2
    assert lib.redrafterSamplingAccept(*[null] * 6, 0, 1, 1, 4, 5000, 3, *[null] * 7) == 3  # 60 kB shared
    if not Path("/dev/nvidia0").exists():  # the no-GPU error path: a status, not a crash
        buffer = torch.zeros(64)
        p = ptr(buffer)
        assert lib.redrafterWarpSoftmax(p, 0, p, 0, 1, p, 1, 1, 4, 0, 1.0, p, None) == 4
        assert lib.redrafterSamplingAccept(*[p] * 6, 0, 1, 1, 4, 1, 2, *[p] * 6, None) == 4


# ---------------------------------------------------------------------------------------------
# trtllm_redrafter.ops.plugins: the two new plugins (stand-in tensorrt / tensorrt_llm)


def test_sampling_plugin_names_match_the_cpp_wrappers():
    warp_h, accept_h = TRT_DIR / "warp_softmax_plugin.h", TRT_DIR / "sampling_accept_plugin.h"
    assert cxx_constant(warp_h, "kWarpSoftmaxPluginName") == plugins.WARP_SOFTMAX_PLUGIN
    assert cxx_constant(warp_h, "kWarpSoftmaxPluginVersion") == plugins.PLUGIN_VERSION
    assert cxx_constant(accept_h, "kSamplingAcceptPluginName") == plugins.SAMPLING_ACCEPT_PLUGIN
    assert cxx_constant(accept_h, "kSamplingAcceptPluginVersion") == plugins.PLUGIN_VERSION
    assert cxx_constant(TRT_DIR / "warp_attributes.h", "kTopKField") == plugins.TOP_K_FIELD
    assert cxx_constant(TRT_DIR / "warp_attributes.h", "kTopPField") == plugins.TOP_P_FIELD
    assert documented_outputs(warp_h) == ["probs"]
    assert documented_outputs(accept_h) == list(plugins.SamplingAcceptance._fields)
    library = (TRT_DIR / "plugin_library.cpp").read_text()
    assert "WarpSoftmaxPluginCreator" in library and "SamplingAcceptPluginCreator" in library


class FakeLayer:
    def __init__(self, inputs: list, plugin: dict, num_outputs: int) -> None:
        self.inputs, self.plugin, self.num_outputs = inputs, plugin, num_outputs

    def get_output(self, k: int) -> str:
        return f"out{k}"


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    registered = {plugins.WARP_SOFTMAX_PLUGIN: 1, plugins.SAMPLING_ACCEPT_PLUGIN: 6}
    layers: list[FakeLayer] = []
    loaded: list[str] = []

    def create_plugin(name, fields, phase):
        return {"name": name, "fields": fields, "phase": phase}

    registry = types.SimpleNamespace(
        load_library=lambda path: loaded.append(path) or "handle",
        get_creator=lambda name, version, namespace: (
            types.SimpleNamespace(create_plugin=create_plugin)
            if name in registered and version == "1" and namespace == plugins.PLUGIN_NAMESPACE
            else None
        ),
    )

    def add_plugin_v3(inputs, shape_inputs, plugin):
        assert shape_inputs == []
        layers.append(FakeLayer(inputs, plugin, registered[plugin["name"]]))
        return layers[-1]

    network = types.SimpleNamespace(add_plugin_v3=add_plugin_v3)
    install_fake_trt(monkeypatch, registry, network)
    return types.SimpleNamespace(layers=layers, loaded=loaded)


def tensor(name: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(trt_tensor=name)


def test_plugins_add_warp_softmax_and_sampling_accept(fake_trt):
    probs = plugins.warp_softmax(tensor("logits"), tensor("inv_t"), tensor("gen_lengths"), top_k=40, top_p=0.9)
    layer = fake_trt.layers[-1]
    assert layer.inputs == ["logits", "inv_t", "gen_lengths"]
    assert layer.plugin["name"] == "RedrafterWarpSoftmax" and layer.plugin["phase"] == "BUILD"
    fields = {name: (data.dtype, data.tolist(), kind) for name, data, kind in layer.plugin["fields"]}
    assert fields == {"top_k": (np.int32, [40], "INT32"), "top_p": (np.float32, [f32(0.9)], "FLOAT32")}
    assert probs == ("out0", layer)

    accepted = plugins.sampling_accept(
        tensor("probs"), tensor("tokens"), tensor("indices"), tensor("gen"), tensor("rv"), tensor("rs"), 4, 5
    )
    layer = fake_trt.layers[-1]
    assert layer.inputs == ["probs", "tokens", "indices", "gen", "rv", "rs"]
    assert layer.plugin["name"] == "RedrafterSamplingAccept"
    fields = {name: (data.dtype, data.tolist(), kind) for name, data, kind in layer.plugin["fields"]}
    assert fields == {"num_beams": (np.int32, [4], "INT32"), "beam_length": (np.int32, [5], "INT32")}
    assert accepted.next_token == ("out2", layer) and accepted.accepted_tokens == ("out5", layer)

    for bad in ({"top_k": -1}, {"top_p": 0.0}, {"top_p": 1.5}, {"top_p": float("nan")}):
        with pytest.raises(ValueError):
            plugins.warp_softmax(tensor("logits"), tensor("inv_t"), tensor("gen"), **bad)
    with pytest.raises(ValueError):
        plugins.sampling_accept(*[tensor("x")] * 6, num_beams=0, beam_length=5)
    assert fake_trt.loaded == []  # adding plugins never loads the library by itself
