"""The fused sampling-acceptance kernel (plugins/kernels/fused_sampling_accept.h) against the oracles.

plugins/build_libs.py builds libredrafter_host.so with g++; its host launcher runs the CUDA kernel's
own core functions in C++ loops. Two oracles:

* warp_softmax + ``accept_sampling``: the reference walk (``runtime/sampling.py``) on the
  probabilities of the warp_softmax host launcher. The fused kernel computes the same probabilities
  bit for bit, so the walk (accepted length, beam, path, hidden index) must be identical, and the
  sampled token may differ only where the reference's float32 inverse-CDF target lies within
  SAMPLE_MARGIN of a cdf value, or where the children held all but a sub-fixed-point remainder of the
  mass (the kernel's integer residual is 0 and it samples the node's own distribution). Such rows
  are counted and asserted rare.
* ``sampling.py`` end to end: ``accept_sampling(softmax(warp_logits(logits, T, top_k, top_p)))``.
  The kernel must equal it on every row where sampling.py's own result does not change when its
  probabilities are replaced by warp_softmax's (which differ by float rounding), again up to the
  sample-boundary rows.
"""

from __future__ import annotations

import ctypes
import math
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
    PTR,
    TRT_DIR,
    cxx_constant,
    documented_outputs,
    install_fake_trt,
    load_build_libs,
    n_cap,
    ptr,
)
from test_plugins_sampling import (
    SAMPLE_MARGIN,
    FakeLayer,
    SamplingKernels,
    f32,
    planted_logits,
    sampling_margins,
    tensor,
)

from trtllm_redrafter.ops import plugins
from trtllm_redrafter.runtime.accept import Acceptance
from trtllm_redrafter.runtime.sampling import accept_sampling, warp_logits
from trtllm_redrafter.runtime.tree import pack_beams

build_libs = load_build_libs()
WALK_FIELDS = ("num_accepted_tokens", "accepted_beam_index", "hidden_index", "path_indices")
TINY_RESIDUAL = 1e-11  # residual mass (relative) below which the kernel's fixed-point residual may be 0


class FusedKernel:
    """ctypes binding of redrafterFusedSamplingAcceptHost (and, for the oracle, the two unfused ones)."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        f = lib.redrafterFusedSamplingAcceptHost
        f.argtypes = [PTR, I32, I32, I32, PTR, PTR, I32, I32] + [PTR] * 5 + [I32] * 6 + [ctypes.c_float, I32]
        f.argtypes += [PTR] * 6
        f.restype = I32
        lib.redrafterFusedStaticSharedBytes.restype = ctypes.c_size_t
        self.lib = lib
        self.unfused = SamplingKernels(path)

    def status(self, logits, row_offsets, inv_t, beams, indices, gen_lengths, rv, rs, num_slots, top_k, top_p,
               threads, out) -> int:  # fmt: skip
        _, vocab = logits.shape
        bs, nb, bl = beams.shape
        return self.lib.redrafterFusedSamplingAcceptHost(
            ptr(logits), DTYPE_CODES[logits.dtype], logits.shape[0], vocab, ptr(row_offsets),
            ptr(inv_t), DTYPE_CODES[inv_t.dtype], inv_t.numel(), ptr(beams), ptr(indices), ptr(gen_lengths),
            ptr(rv), ptr(rs), DTYPE_CODES[rs.dtype], bs, num_slots, nb, bl, top_k, top_p, threads,
            *map(ptr, out.values()),
        )  # fmt: skip

    def accept(
        self,
        logits: torch.Tensor,  # [R, V] flat
        row_offsets: torch.Tensor,  # [bs]
        inv_temperature: torch.Tensor,  # [bs] or [1]
        beams: torch.Tensor,  # [bs, nb, bl]
        indices: torch.Tensor,  # [bs, nb, bl]
        gen_lengths: torch.Tensor,  # [bs]
        rand_validation: torch.Tensor,  # [bs, nb, bl-1]
        rand_sample: torch.Tensor,  # [bs]
        num_slots: int,
        top_k: int = 0,
        top_p: float = 1.0,
        threads: int = 256,
    ) -> dict[str, torch.Tensor]:
        bs, _, bl = beams.shape
        i32 = [t.to(torch.int32).contiguous() for t in (row_offsets, beams, indices, gen_lengths)]
        shapes = [(bs,)] * 4 + [(bs, bl)] * 2
        out = {k: torch.full(s, -7, dtype=torch.int32) for k, s in zip(ACCEPT_FIELDS, shapes)}
        args = (logits.contiguous(), i32[0], inv_temperature.contiguous(), i32[1], i32[2], i32[3])
        status = self.status(*args, rand_validation.contiguous(), rand_sample.contiguous(), num_slots, top_k, top_p,
                             threads, out)  # fmt: skip
        assert status == 0
        return out


@pytest.fixture(scope="module")
def fused(tmp_path_factory: pytest.TempPathFactory) -> FusedKernel:
    return FusedKernel(build_libs.build_host_library(tmp_path_factory.mktemp("redrafter_fused_host")))


def flat_layout(gen: torch.Generator, padded: torch.Tensor, tree, ctx_rows: int, gap: int):
    """The engine step's flat logits: ctx_rows context rows, then each request's real rows, with `gap`
    NaN rows after each request (rows that must never be read). Returns (flat [R, V], row_offsets)."""
    bs, _, vocab = padded.shape
    parts = [torch.randn(ctx_rows, vocab, generator=gen).to(padded.dtype)]
    offsets, row = [], ctx_rows
    for b in range(bs):
        n = int(tree.gen_lengths[b])
        offsets.append(row)
        parts += [padded[b, :n], torch.full((gap, vocab), float("nan"), dtype=padded.dtype)]
        row += n + gap
    return torch.cat(parts), torch.tensor(offsets, dtype=torch.int32)


def tiny_residual_rows(probs: torch.Tensor, beams: torch.Tensor, indices: torch.Tensor, ref: Acceptance):
    """Rows where every child was rejected and the residual holds (0, TINY_RESIDUAL] of the mass."""
    bs, nb, bl = beams.shape
    node, depth = ref.hidden_index.long(), ref.num_accepted_tokens.long() - 1
    p_node = probs[torch.arange(bs), node].double()  # [bs, V]
    rejected = depth < bl - 1
    j = depth.clamp(max=bl - 2).clamp(min=0)[:, None, None].expand(bs, nb, 1)
    through = indices.long().gather(2, j)[..., 0] == node[:, None]
    child = beams.long().gather(2, (j + 1).clamp(max=bl - 1))[..., 0].clamp(0, p_node.shape[1] - 1)
    mask = torch.zeros_like(p_node).scatter_reduce(1, child, (through & rejected[:, None]).double(), reduce="amax")
    frac = (p_node * (1 - mask)).sum(-1) / p_node.sum(-1)
    return rejected & (frac > 0) & (frac <= TINY_RESIDUAL)


def compare_fused(got, probs, beams, indices, rv, rs) -> tuple[int, int]:
    """The kernel against accept_sampling on `probs`: the walk exactly, the sampled token except on
    boundary rows. Returns (rows that differ, boundary rows)."""
    ref = accept_sampling(probs, beams.long(), indices.long(), rv.float(), rs.float())
    flagged = sampling_margins(probs, beams, indices, ref, rs) < SAMPLE_MARGIN
    flagged |= tiny_residual_rows(probs, beams, indices, ref)
    for k in WALK_FIELDS:
        assert got[k].tolist() == getattr(ref, k).tolist(), k
    differ = torch.zeros(beams.shape[0], dtype=torch.bool)
    for k in ACCEPT_FIELDS:
        mismatch = got[k].long() != getattr(ref, k)
        differ |= mismatch if mismatch.dim() == 1 else mismatch.any(-1)
    assert not (differ & ~flagged).any(), {k: (got[k].tolist(), getattr(ref, k).tolist()) for k in ACCEPT_FIELDS}
    return int(differ.sum()), int(flagged.sum())


def padded_from(probs_or_logits: torch.Tensor, tree) -> torch.Tensor:
    """Padding slots (past gen_lengths) as NaN: they must never be read."""
    out = probs_or_logits.clone()
    for b, n in enumerate(tree.gen_lengths.tolist()):
        out[b, n:] = float("nan")
    return out


@st.composite
def fused_cases(draw):
    bs = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 6))
    bl = draw(st.integers(1, 5))
    token_vocab = draw(st.integers(1, 5))
    flat = draw(st.lists(st.integers(0, token_vocab - 1), min_size=bs * nb * bl, max_size=bs * nb * bl))
    beams = torch.tensor(flat, dtype=torch.long).view(bs, nb, bl)
    beams[:, :, 0] = beams[:, :1, 0]
    tree = pack_beams(beams)
    vocab = draw(st.integers(token_vocab, 300))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    dtype = draw(st.sampled_from(list(DTYPE_CODES)))
    logits = planted_logits(gen, beams, tree.draft_indices, vocab, draw(st.sampled_from([0.0, 3.0, 8.0])))
    padded = padded_from(logits.to(dtype), tree)
    flat_logits, offsets = flat_layout(gen, padded, tree, draw(st.integers(0, 3)), draw(st.integers(0, 2)))
    per_row = draw(st.booleans())
    inv_t = torch.tensor([draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in range(bs if per_row else 1)])
    inv_t = inv_t.to(draw(st.sampled_from(list(DTYPE_CODES))))
    rand_dtype = draw(st.sampled_from(list(DTYPE_CODES)))
    case = dict(
        logits=flat_logits,
        row_offsets=offsets,
        inv_temperature=inv_t,
        beams=beams,
        indices=tree.draft_indices,
        gen_lengths=tree.gen_lengths,
        rand_validation=torch.rand(bs, nb, bl - 1, generator=gen).to(rand_dtype),
        rand_sample=torch.rand(bs, generator=gen).to(rand_dtype),
        num_slots=draw(st.sampled_from([tree.tokens.shape[1], n_cap(nb, bl), n_cap(nb, bl) + 2])),
        top_k=draw(st.sampled_from([0, 1, 2, 3, 20])),
        top_p=f32(draw(st.sampled_from([1.0, 0.7, 0.95]))),
        threads=draw(st.sampled_from([1, 3, 256])),
    )
    return case, padded, tree


def warp_probs(fused: FusedKernel, padded: torch.Tensor, tree, case: dict) -> torch.Tensor:
    """warp_softmax's probabilities [bs, n, V] of the real slots (the first oracle's input)."""
    n = tree.tokens.shape[1]
    out = fused.unfused.warp(
        torch.nan_to_num(padded, nan=0.0), case["inv_temperature"], tree.gen_lengths, case["top_k"], case["top_p"]
    )
    return out[:, :n]


FUSED_COUNTS = {"rows": 0, "differ": 0, "flagged": 0}


@settings(max_examples=300, deadline=None)
@given(fused_cases())
def test_fused_equals_warp_softmax_then_the_reference(fused: FusedKernel, case):
    case, padded, tree = case
    got = fused.accept(**case)
    probs = warp_probs(fused, padded, tree, case)
    differ, flagged = compare_fused(got, probs, case["beams"], tree.draft_indices, case["rand_validation"],
                                    case["rand_sample"])  # fmt: skip
    FUSED_COUNTS["rows"] += case["beams"].shape[0]
    FUSED_COUNTS["differ"] += differ
    FUSED_COUNTS["flagged"] += flagged


def big_case(seed: int, bs: int, vocab: int, dtype: torch.dtype, nb: int = 4, bl: int = 4, strength: float = 6.0):
    gen = torch.Generator().manual_seed(seed)
    beams = torch.randint(0, 3, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]
    tree = pack_beams(beams)
    logits = planted_logits(gen, beams, tree.draft_indices, vocab, strength).to(dtype)
    flat, offsets = flat_layout(gen, padded_from(logits, tree), tree, ctx_rows=1, gap=1)
    rv, rs = torch.rand(bs, nb, bl - 1, generator=gen), torch.rand(bs, generator=gen)
    return logits, flat, offsets, beams, tree, rv, rs


def test_fused_boundary_rows_are_rare(fused: FusedKernel):
    """1000 requests, V = 501 (odd: misaligned rows, scalar heads and tails), bf16, T = 0.8, top-k 50,
    top-p 0.9: the walk is always exact; tokens differ only on boundary rows, which are rare."""
    logits, flat, offsets, beams, tree, rv, rs = big_case(3, 1000, 501, torch.bfloat16)
    inv_t = torch.tensor([1.25])
    n = tree.tokens.shape[1]
    got = fused.accept(flat, offsets, inv_t, beams, tree.draft_indices, tree.gen_lengths, rv, rs, n, 50, f32(0.9))
    probs = fused.unfused.warp(logits, inv_t, tree.gen_lengths, 50, f32(0.9))
    differ, flagged = compare_fused(got, probs, beams, tree.draft_indices, rv, rs)
    assert flagged <= 5 and differ <= flagged, (differ, flagged)
    assert 0 < int((got["num_accepted_tokens"] > 1).sum()) < 1000  # acceptance lengths vary
    assert FUSED_COUNTS["rows"] == 0 or FUSED_COUNTS["flagged"] <= FUSED_COUNTS["rows"] // 50 + 2, FUSED_COUNTS


@pytest.mark.parametrize("top_k, top_p, inv_t", [(0, 1.0, 1.0), (20, f32(0.9), 1.0 / 0.7)])
def test_fused_matches_sampling_py_end_to_end(fused: FusedKernel, top_k: int, top_p: float, inv_t: float):
    """Against accept_sampling(softmax(warp_logits(logits, T, top_k, top_p))) itself, float32 logits,
    600 requests: equal on every row where sampling.py's own result is stable under the float rounding
    by which warp_softmax's probabilities differ from torch's softmax, up to sample-boundary rows."""
    logits, flat, offsets, beams, tree, rv, rs = big_case(11, 600, 257, torch.float32)
    n = tree.tokens.shape[1]
    inv = torch.tensor([inv_t], dtype=torch.float32)
    got = fused.accept(flat, offsets, inv, beams, tree.draft_indices, tree.gen_lengths, rv, rs, n, top_k, top_p)
    torch_probs = torch.softmax(warp_logits(logits, 1.0 / inv_t, top_k, top_p), dim=-1)
    kernel_probs = fused.unfused.warp(logits, inv, tree.gen_lengths, top_k, top_p)
    ref = accept_sampling(torch_probs, beams, tree.draft_indices, rv, rs)
    ref_on_kernel_probs = accept_sampling(kernel_probs, beams, tree.draft_indices, rv, rs)
    unstable = torch.zeros(beams.shape[0], dtype=torch.bool)
    for k in ACCEPT_FIELDS:
        m = getattr(ref, k) != getattr(ref_on_kernel_probs, k)
        unstable |= m if m.dim() == 1 else m.any(-1)
    flagged = unstable | (sampling_margins(torch_probs, beams, tree.draft_indices, ref, rs) < SAMPLE_MARGIN)
    differ = torch.zeros_like(unstable)
    for k in ACCEPT_FIELDS:
        m = got[k].long() != getattr(ref, k)
        differ |= m if m.dim() == 1 else m.any(-1)
    assert not (differ & ~flagged).any()
    assert int(flagged.sum()) <= 6, int(flagged.sum())  # <= 1%
    assert 0 < int((got["num_accepted_tokens"] > 1).sum()) < 600


def test_fused_results_do_not_depend_on_the_thread_count(fused: FusedKernel):
    """Every sum is an exact integer: 1, 2, 7 and 256 emulated threads (different units per thread,
    different scan tiles) give identical outputs, V = 3001, bf16 and float32, with top-k and top-p."""
    for dtype in (torch.bfloat16, torch.float32):
        _, flat, offsets, beams, tree, rv, rs = big_case(5, 40, 3001, dtype, nb=5, bl=5, strength=4.0)
        n = tree.tokens.shape[1]
        inv = torch.tensor([1.0])
        runs = [
            fused.accept(flat, offsets, inv, beams, tree.draft_indices, tree.gen_lengths, rv, rs, n, 100, f32(0.8), t)
            for t in (1, 2, 7, 256)
        ]
        for other in runs[1:]:
            assert {k: v.tolist() for k, v in other.items()} == {k: v.tolist() for k, v in runs[0].items()}


def log_probs_logits(p: list[float]) -> torch.Tensor:
    return torch.tensor([math.log(x) if x > 0 else -math.inf for x in p])


def test_fused_sample_frequencies_follow_the_integer_cdf(fused: FusedKernel):
    """No children (bl = 1): the sample is the inverse CDF of the integer masses. Over the uniform grid
    u = (i + 0.5) / N, token v is drawn for a run of about p_v * N consecutive u (within 1), and
    zero-probability tokens never."""
    p = [0.0, 0.5, 0.3, 0.0, 0.15, 0.05]
    count = 2000
    logits = log_probs_logits(p)[None].expand(count, -1).contiguous()
    beams = torch.zeros(count, 1, 1, dtype=torch.long)
    tree = pack_beams(beams)
    rs = (torch.arange(count) + 0.5) / count
    got = fused.accept(logits, torch.arange(count), torch.ones(1), beams, tree.draft_indices, tree.gen_lengths,
                       torch.zeros(count, 1, 0), rs, 1)  # fmt: skip
    drawn = got["next_token"]
    assert drawn.tolist() == sorted(drawn.tolist())  # monotone in u: an inverse CDF
    for v, pv in enumerate(p):
        assert abs(int((drawn == v).sum()) - pv * count) <= 1, (v, int((drawn == v).sum()))


def test_fused_docs_worked_example(fused: FusedKernel):
    """docs/sampling.md: P(. | root) = {a: .5, b: .3, c: .2}, beam 0 drafted b, beam 1 drafted a. Over a
    200 x 200 grid of (u_b, u_a) the first token is b, a, c with frequencies 0.3, 0.5, 0.2, and every
    row equals the reference."""
    a, b, c = 1, 2, 3
    grid = (torch.arange(200) + 0.5) / 200
    u_b, u_a = (g.flatten() for g in torch.meshgrid(grid, grid, indexing="ij"))
    rows = u_b.numel()
    beams = torch.tensor([[0, b], [0, a]]).expand(rows, 2, 2).contiguous()
    tree = pack_beams(beams)  # packed [0, b, a]
    node = torch.stack([log_probs_logits([0, 0.5, 0.3, 0.2]), log_probs_logits([0, 0, 0, 1]),
                        log_probs_logits([0, 0, 1, 0])])  # fmt: skip
    logits = node[None].expand(rows, 3, 4).contiguous()
    rv = torch.stack([u_b, u_a], dim=1)[:, :, None].contiguous()
    rs = torch.full((rows,), 0.5)
    got = fused.accept(logits.view(-1, 4), torch.arange(rows) * 3, torch.ones(1), beams, tree.draft_indices,
                       tree.gen_lengths, rv, rs, 3)  # fmt: skip
    probs = fused.unfused.warp(logits, torch.ones(1), tree.gen_lengths)
    compare_fused(got, probs, beams, tree.draft_indices, rv, rs)
    first = got["accepted_tokens"][:, 0]
    for token, freq in ((b, 0.3), (a, 0.5), (c, 0.2)):
        assert (first == token).float().mean().item() == pytest.approx(freq, abs=1e-2)


def test_fused_half_precision_uniform_of_one_draws_the_last_token(fused: FusedKernel):
    """A float16 uniform that rounds to 1.0 draws V-1 (the reference's clamp), here a zero-probability token."""
    beams = torch.tensor([[[0]], [[0]]])
    tree = pack_beams(beams)
    logits = log_probs_logits([0.5, 0.5, 0, 0])[None].expand(2, -1).contiguous()
    rs = torch.tensor([0.99999, 0.3]).to(torch.float16)
    got = fused.accept(logits, torch.tensor([0, 1]), torch.ones(1), beams, tree.draft_indices, tree.gen_lengths,
                       torch.zeros(2, 1, 0, dtype=torch.float16), rs, 1)  # fmt: skip
    assert got["next_token"].tolist() == [3, 0]


def test_fused_children_holding_all_the_mass_fall_back_to_the_node(fused: FusedKernel):
    """top-k = 2 keeps exactly the two children; both rejected (the second by u = 1, which rejects when
    rounding leaves 1 - prior >= p): the residual is empty and the sample comes from the node's own
    distribution, as in the reference."""
    beams = torch.tensor([[[0, 1], [0, 2]]])
    tree = pack_beams(beams)
    logits = torch.tensor([[0.0, 3.0, 2.5, -1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    rv, rs = torch.tensor([[[0.9999], [1.0]]]), torch.tensor([0.9])
    got = fused.accept(logits, torch.tensor([0]), torch.ones(1), beams, tree.draft_indices, tree.gen_lengths, rv, rs,
                       3, top_k=2)  # fmt: skip
    probs = fused.unfused.warp(logits[None], torch.ones(1), tree.gen_lengths, 2)
    compare_fused(got, probs, beams, tree.draft_indices, rv, rs)
    assert got["num_accepted_tokens"].tolist() == [1] and got["next_token"].tolist() == [2]


def test_fused_out_of_contract_inputs_are_memory_safe(fused: FusedKernel):
    """A row offset outside [0, R): no real slot (num 1, beam 0, next -1). A gen length past the rows
    that exist is clamped to them: the missing child slot is no child."""
    beams = torch.tensor([[[1, 2, 3]], [[1, 2, 3]]])
    indices = torch.tensor([[[0, 1, 2]], [[0, 1, 2]]])
    logits = torch.zeros(4, 5)
    logits[2, 2] = logits[3, 3] = 20.0  # request 1 at row 2: slot 0 wants 2 (accepted), slot 1 is missing
    rv, rs = torch.zeros(2, 1, 2), torch.tensor([0.5, 0.5])
    out = fused.accept(logits, torch.tensor([4, 2]), torch.ones(1), beams, indices, torch.tensor([3, 3]), rv, rs, 3)
    assert out["num_accepted_tokens"].tolist() == [1, 2] and out["next_token"].tolist() == [-1, 3]
    assert out["accepted_beam_index"].tolist() == [0, 0] and out["hidden_index"].tolist() == [0, 1]


def test_fused_rejects_bad_arguments(fused: FusedKernel):
    dummy = torch.zeros(64, dtype=torch.int32)
    p = ptr(dummy)
    lib = fused.lib

    def status(bs=1, numrows=1, vocab=4, nb=1, bl=1, slots=1, ldt=0, tdt=0, tcount=1, rdt=0, top_k=0, top_p=1.0,
               threads=256):  # fmt: skip
        return lib.redrafterFusedSamplingAcceptHost(p, ldt, numrows, vocab, p, p, tdt, tcount, p, p, p, p, p, rdt, bs,
                                                    slots, nb, bl, top_k, top_p, threads, *[p] * 6)  # fmt: skip

    assert status(bs=0) == 1 and status(vocab=0) == 1 and status(nb=0) == 1 and status(bl=0) == 1
    assert status(slots=0) == 1 and status(numrows=-1) == 1 and status(threads=0) == 1
    assert status(ldt=3) == 2 and status(tdt=5) == 2 and status(rdt=9) == 2
    assert status(top_k=-1) == 5 and status(top_p=0.0) == 5 and status(top_p=1.5) == 5 and status(tcount=2) == 5
    assert status(vocab=1 << 22) == 3
    assert not dummy.any()  # nothing written


# ---------------------------------------------------------------------------------------------
# the TensorRT wrapper's names and trtllm_redrafter.ops.plugins.fused_sampling_accept (stand-in TensorRT)


def test_fused_plugin_names_match_the_cpp_wrapper():
    header = TRT_DIR / "fused_sampling_accept_plugin.h"
    assert cxx_constant(header, "kFusedSamplingAcceptPluginName") == plugins.FUSED_SAMPLING_ACCEPT_PLUGIN
    assert cxx_constant(header, "kFusedSamplingAcceptPluginVersion") == plugins.PLUGIN_VERSION
    assert documented_outputs(header) == list(plugins.SamplingAcceptance._fields)
    assert "FusedSamplingAcceptPluginCreator" in (TRT_DIR / "plugin_library.cpp").read_text()


def test_plugins_add_fused_sampling_accept(monkeypatch: pytest.MonkeyPatch):
    layers: list[FakeLayer] = []

    def get_creator(name, version, namespace):
        ok = name == plugins.FUSED_SAMPLING_ACCEPT_PLUGIN and version == "1" and namespace == plugins.PLUGIN_NAMESPACE
        create = lambda name, fields, phase: {"name": name, "fields": fields, "phase": phase}  # noqa: E731
        return types.SimpleNamespace(create_plugin=create) if ok else None

    def add_plugin_v3(inputs, shape_inputs, plugin):
        layers.append(FakeLayer(inputs, plugin, 6))
        return layers[-1]

    registry = types.SimpleNamespace(get_creator=get_creator, load_library=lambda path: None)
    install_fake_trt(monkeypatch, registry, types.SimpleNamespace(add_plugin_v3=add_plugin_v3))
    names = ["logits", "offsets", "inv_t", "tokens", "indices", "gen", "rv", "rs"]
    acc = plugins.fused_sampling_accept(*map(tensor, names), 8, 4, top_k=50, top_p=0.9)
    layer = layers[-1]
    assert layer.inputs == names and layer.plugin["name"] == "RedrafterFusedSamplingAccept"
    fields = {name: (data.dtype, data.tolist(), kind) for name, data, kind in layer.plugin["fields"]}
    assert fields == {
        "num_beams": (np.int32, [8], "INT32"),
        "beam_length": (np.int32, [4], "INT32"),
        "top_k": (np.int32, [50], "INT32"),
        "top_p": (np.float32, [f32(0.9)], "FLOAT32"),
    }
    assert acc.next_token == ("out2", layer) and acc.accepted_tokens == ("out5", layer)
    for bad in ({"top_k": -1}, {"top_p": 0.0}, {"top_p": float("nan")}, {"num_beams": 0}):
        args = {"num_beams": 8, "beam_length": 4, **bad}
        with pytest.raises(ValueError):
            plugins.fused_sampling_accept(*map(tensor, names), **args)
