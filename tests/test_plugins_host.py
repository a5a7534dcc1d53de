"""The plugin kernels' host build against the PyTorch reference (the oracle).

plugins/build_libs.py builds libredrafter_host.so with g++ into a temporary directory: the host
launchers run the CUDA kernels' own per-element core functions in plain C++ loops. Every output is
compared element for element with ``pack_beams`` and ``accept_greedy(logits.argmax(-1), ...)``. The
greedy launchers take flat logits [R, V] and row offsets (greedy_accept.h); the padded reference
logits [bs, n, V] are fed either as R = bs * n with offsets b * n, or scattered into a flat buffer with
context rows, gaps and a shuffled request order.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from plugin_helpers import DTYPE_CODES, I32, PTR, load_build_libs, n_cap, ptr

from trtllm_redrafter.runtime.accept import accept_greedy
from trtllm_redrafter.runtime.tree import PAD, pack_beams, unpack_mask_bits


class HostKernels:
    """ctypes binding of plugins/host/redrafter_host.h."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        lib.redrafterPackBeamsHost.argtypes = [PTR, PTR, I32, I32, I32] + [PTR] * 6
        lib.redrafterPackedArgmaxHost.argtypes = [PTR, I32, I32, I32, PTR, PTR, I32, I32, I32, PTR]
        lib.redrafterGreedyAcceptHost.argtypes = [PTR, I32, I32, I32] + [PTR] * 4 + [I32] * 5 + [PTR] * 6
        lib.redrafterDecodeLogitsHost.argtypes = [PTR, I32, ctypes.c_int64, PTR]
        for fn in ("redrafterPackBeamsHost", "redrafterPackedArgmaxHost", "redrafterGreedyAcceptHost"):
            getattr(lib, fn).restype = I32
        lib.redrafterDecodeLogitsHost.restype = I32
        self.lib = lib

    def pack(self, beams: torch.Tensor, base: torch.Tensor) -> dict[str, torch.Tensor]:
        bs, nb, bl = beams.shape
        cap = n_cap(nb, bl)
        words = (cap + 31) // 32
        beams32 = beams.to(torch.int32).contiguous()
        base32 = base.to(torch.int32).contiguous()
        out = {
            "tokens": torch.full((bs, cap), -7, dtype=torch.int32),  # -7: catches slots left unwritten
            "gen_lengths": torch.full((bs,), -7, dtype=torch.int32),
            "draft_indices": torch.full((bs, nb, bl), -7, dtype=torch.int32),
            "offsets": torch.full((bs, cap), -7, dtype=torch.int32),
            "mask": torch.full((bs, cap, words), -7, dtype=torch.int32),
            "position_ids": torch.full((bs, cap), -7, dtype=torch.int32),
        }
        status = self.lib.redrafterPackBeamsHost(ptr(beams32), ptr(base32), bs, nb, bl, *map(ptr, out.values()))
        assert status == 0
        return out

    def argmax(
        self, logits: torch.Tensor, gen_lengths: torch.Tensor, threads: int = 256, row_offsets=None, slots=None
    ) -> torch.Tensor:
        """Padded logits [bs, slots, V], or flat logits [R, V] with row_offsets [bs] and `slots`."""
        rows, vocab, offsets, bs, slots = flat_view(logits, gen_lengths, row_offsets, slots)
        gen32 = gen_lengths.to(torch.int32).contiguous()
        out = torch.full((bs, slots), -7, dtype=torch.int32)
        code = DTYPE_CODES[logits.dtype]
        status = self.lib.redrafterPackedArgmaxHost(
            ptr(logits), code, rows, vocab, ptr(offsets), ptr(gen32), bs, slots, threads, ptr(out)
        )
        assert status == 0
        return out

    def accept(
        self,
        logits: torch.Tensor,
        draft_tokens: torch.Tensor,
        draft_indices: torch.Tensor,
        gen_lengths: torch.Tensor,
        threads: int = 256,
        row_offsets: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Padded logits [bs, slots, V], or flat logits [R, V] with row_offsets [bs] (slots = n_cap)."""
        _, nb, bl = draft_tokens.shape
        rows, vocab, offsets, bs, slots = flat_view(logits, gen_lengths, row_offsets, n_cap(nb, bl))
        tokens32 = draft_tokens.to(torch.int32).contiguous()
        indices32 = draft_indices.to(torch.int32).contiguous()
        gen32 = gen_lengths.to(torch.int32).contiguous()
        out = {
            "num_accepted_tokens": torch.full((bs,), -7, dtype=torch.int32),
            "accepted_beam_index": torch.full((bs,), -7, dtype=torch.int32),
            "next_token": torch.full((bs,), -7, dtype=torch.int32),
            "hidden_index": torch.full((bs,), -7, dtype=torch.int32),
            "path_indices": torch.full((bs, bl), -7, dtype=torch.int32),
            "accepted_tokens": torch.full((bs, bl), -7, dtype=torch.int32),
        }
        status = self.lib.redrafterGreedyAcceptHost(
            ptr(logits),
            DTYPE_CODES[logits.dtype],
            rows,
            vocab,
            ptr(offsets),
            ptr(tokens32),
            ptr(indices32),
            ptr(gen32),
            bs,
            slots,
            nb,
            bl,
            threads,
            *map(ptr, out.values()),
        )
        assert status == 0
        return out


def flat_view(logits: torch.Tensor, gen_lengths: torch.Tensor, row_offsets, slots):
    """(R, V, row_offsets int32, bs, slots) of padded logits [bs, S, V] (offsets b * S, S slots) or of
    flat logits [R, V] with the given row_offsets and `slots`."""
    if row_offsets is None:
        bs, width, vocab = logits.shape
        return bs * width, vocab, torch.arange(bs, dtype=torch.int32) * width, bs, width
    rows, vocab = logits.shape
    return rows, vocab, row_offsets.to(torch.int32).contiguous(), gen_lengths.shape[0], slots


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> HostKernels:
    build_libs = load_build_libs()
    return HostKernels(build_libs.build_host_library(tmp_path_factory.mktemp("redrafter_host")))


# ---------------------------------------------------------------------------------------------
# comparison with the reference


def assert_pack_matches_reference(kernel: dict[str, torch.Tensor], beams: torch.Tensor, base: torch.Tensor) -> None:
    bs, nb, bl = beams.shape
    cap = n_cap(nb, bl)
    ref = pack_beams(beams)
    n = ref.tokens.shape[1]
    ref_words = (n + 31) // 32
    assert kernel["gen_lengths"].tolist() == ref.gen_lengths.tolist()
    assert kernel["draft_indices"].tolist() == ref.draft_indices.tolist()
    # the reference's n columns: equal element for element (padding included)
    assert kernel["tokens"][:, :n].tolist() == ref.tokens.tolist()
    assert kernel["offsets"][:, :n].tolist() == ref.position_offsets.tolist()
    assert kernel["mask"][:, :n, :ref_words].tolist() == ref.packed_mask.tolist()
    assert kernel["position_ids"][:, :n].tolist() == (base[:, None] + ref.position_offsets).tolist()
    # mask words past ceil(n/32) are zero in the rows the reference has
    assert not kernel["mask"][:, :n, ref_words:].any()
    # slots [n, n_cap): the padding rule continues (token 0, offset 0, position base, self bit only)
    assert not kernel["tokens"][:, n:].any()
    assert not kernel["offsets"][:, n:].any()
    assert kernel["position_ids"][:, n:].tolist() == base[:, None].expand(bs, cap - n).tolist()
    beyond = unpack_mask_bits(kernel["mask"][:, n:], cap)  # [bs, cap - n, cap]
    assert torch.equal(beyond, torch.eye(cap, dtype=torch.bool)[n:].expand(bs, cap - n, cap))


def reference_acceptance(logits: torch.Tensor, beams: torch.Tensor, draft_indices: torch.Tensor) -> dict[str, list]:
    acc = accept_greedy(logits.argmax(-1), beams.long(), draft_indices.long())
    return {
        "num_accepted_tokens": acc.num_accepted_tokens.tolist(),
        "accepted_beam_index": acc.accepted_beam_index.tolist(),
        "next_token": acc.next_token.tolist(),
        "hidden_index": acc.hidden_index.tolist(),
        "path_indices": acc.path_indices.tolist(),
        "accepted_tokens": acc.accepted_tokens.tolist(),
    }


def assert_accept_matches_reference(host: HostKernels, logits: torch.Tensor, beams: torch.Tensor, threads=256) -> dict:
    tree = pack_beams(beams)
    out = host.accept(logits, beams, tree.draft_indices, tree.gen_lengths, threads)
    got = {k: v.tolist() for k, v in out.items()}
    assert got == reference_acceptance(logits, beams, tree.draft_indices)
    return got


# ---------------------------------------------------------------------------------------------
# random inputs


@st.composite
def beam_batches(draw, max_bs: int = 4, max_nb: int = 8, max_bl: int = 7) -> torch.Tensor:
    bs = draw(st.integers(1, max_bs))
    nb = draw(st.integers(1, max_nb))
    bl = draw(st.integers(1, max_bl))
    vocab = draw(st.integers(1, 5))  # a small vocabulary makes shared prefixes common
    flat = draw(st.lists(st.integers(0, vocab - 1), min_size=bs * nb * bl, max_size=bs * nb * bl))
    beams = torch.tensor(flat, dtype=torch.long).view(bs, nb, bl)
    beams[:, :, 0] = beams[:, :1, 0]  # column 0 is the shared root
    return beams


def random_logits(
    gen: torch.Generator, shape: tuple[int, int, int], dtype: torch.dtype, kind: str, element_offset: int = 0
) -> torch.Tensor:
    """Logits of `kind` ("normal", "levels": few distinct values so ties are everywhere, "specials":
    with NaN, +-inf and -0.0 sprinkled in), stored `element_offset` elements into their buffer so the
    row pointers take every alignment."""
    if kind == "levels":
        values = torch.randint(-2, 3, shape, generator=gen).float()
    else:
        values = torch.randn(shape, generator=gen) * 4
    if kind == "specials":
        pick = torch.rand(shape, generator=gen)
        values[pick < 0.05] = float("nan")
        values[(pick >= 0.05) & (pick < 0.1)] = float("inf")
        values[(pick >= 0.1) & (pick < 0.15)] = float("-inf")
        values[(pick >= 0.15) & (pick < 0.2)] = -0.0
    numel = shape[0] * shape[1] * shape[2]
    buffer = torch.zeros(element_offset + numel, dtype=dtype)
    logits = buffer[element_offset:].view(shape)
    logits.copy_(values.to(dtype))
    return logits


def plant_chains(gen: torch.Generator, logits: torch.Tensor, beams: torch.Tensor, indices: torch.Tensor) -> None:
    """Make the target agree with a random beam up to a random depth in every row, sometimes only
    by a tie with a lower vocabulary index (which then wins, so the beam stops there)."""
    bs, nb, bl = beams.shape
    for b in range(bs):
        beam = int(torch.randint(nb, (1,), generator=gen))
        depth = int(torch.randint(bl, (1,), generator=gen))
        for j in range(depth):
            slot = int(indices[b, beam, j])
            row = logits[b, slot]
            finite = row.float()[torch.isfinite(row.float())]
            top = float(finite.max()) if finite.numel() else 0.0
            tie = bool(torch.rand(1, generator=gen) < 0.2)
            row[int(beams[b, beam, j + 1])] = top if tie else top + 1


@st.composite
def acceptance_cases(draw) -> tuple[torch.Tensor, torch.Tensor, int]:
    beams = draw(beam_batches(max_bs=3, max_nb=6, max_bl=6))
    bs, nb, bl = beams.shape
    tree = pack_beams(beams)
    n = tree.tokens.shape[1]
    vocab = draw(st.integers(int(beams.max()) + 1, 70))
    slots = draw(st.sampled_from([n, n_cap(nb, bl), n_cap(nb, bl) + 2]))
    dtype = draw(st.sampled_from(list(DTYPE_CODES)))
    kind = draw(st.sampled_from(["normal", "levels", "specials"]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = random_logits(gen, (bs, slots, vocab), dtype, kind, draw(st.integers(0, 7)))
    if kind != "specials":
        plant_chains(gen, logits, beams, tree.draft_indices)
    threads = draw(st.sampled_from([1, 3, 32, 256]))
    return logits, beams, threads


# ---------------------------------------------------------------------------------------------
# beam packing


def test_pack_golden_three_beams(host: HostKernels):
    """docs/tree_attention.md, sections 1 and 2, as the kernel writes them."""
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]])
    out = host.pack(beams, torch.tensor([100]))
    assert out["tokens"].tolist() == [[7, 3, 5, 4, 9, 2, 0]]  # n_cap = 7: one padding slot
    assert out["gen_lengths"].tolist() == [6]
    assert out["draft_indices"].tolist() == [[[0, 1, 2], [0, 1, 3], [0, 4, 5]]]
    assert out["offsets"].tolist() == [[0, 1, 2, 2, 1, 2, 0]]
    assert out["mask"][0, :, 0].tolist() == [1, 3, 7, 11, 17, 49, 64]  # padding slot 6 sees itself
    assert out["position_ids"].tolist() == [[100, 101, 102, 102, 101, 102, 100]]


def test_pack_golden_trtllm_example(host: HostKernels):
    beams = torch.tensor([[[91, 92, 93, 95], [91, 92, 94, 96], [91, 92, 93, 97]]])
    out = host.pack(beams, torch.tensor([0]))
    assert out["tokens"][0, :7].tolist() == [91, 92, 93, 95, 94, 96, 97]
    assert out["draft_indices"].tolist() == [[[0, 1, 2, 3], [0, 1, 4, 5], [0, 1, 2, 6]]]
    assert out["offsets"][0, :7].tolist() == [0, 1, 2, 3, 2, 3, 3]
    assert_pack_matches_reference(out, beams, torch.tensor([0]))


@settings(max_examples=300, deadline=None)
@given(beam_batches(), st.integers(0, 1 << 20))
def test_pack_matches_reference(host: HostKernels, beams: torch.Tensor, base_seed: int):
    base = torch.randint(0, 1 << 20, (beams.shape[0],), generator=torch.Generator().manual_seed(base_seed))
    assert_pack_matches_reference(host.pack(beams, base), beams, base)


@settings(max_examples=40, deadline=None)
@given(beam_batches(max_bs=2, max_nb=12, max_bl=8))
def test_pack_matches_reference_multi_word_masks(host: HostKernels, beams: torch.Tensor):
    """Up to n_cap = 85 slots: three mask words per row."""
    base = torch.arange(beams.shape[0]) * 1000
    assert_pack_matches_reference(host.pack(beams, base), beams, base)


@st.composite
def padded_beam_batches(draw) -> torch.Tensor:
    """beam_batches with random beams cut short: their tails are PAD (-1), as a lookup beam shorter
    than bl is (runtime/lookup.py); the root always stays."""
    beams = draw(beam_batches(max_bs=3, max_nb=6, max_bl=6))
    bs, nb, bl = beams.shape
    lengths = draw(st.lists(st.integers(1, bl), min_size=bs * nb, max_size=bs * nb))
    cut = torch.arange(bl)[None, None, :] >= torch.tensor(lengths).view(bs, nb, 1)
    return beams.masked_fill(cut, PAD)


@settings(max_examples=200, deadline=None)
@given(padded_beam_batches(), st.integers(0, 2**31 - 1))
def test_pack_beams_with_pad_tails_match_the_reference(host: HostKernels, beams: torch.Tensor, seed: int):
    """A PAD opens no slot and its draft index repeats the beam's last real slot, as tree.pack_beams."""
    base = torch.randint(0, 1 << 20, (beams.shape[0],), generator=torch.Generator().manual_seed(seed))
    assert_pack_matches_reference(host.pack(beams, base), beams, base)


def test_pack_pad_golden(host: HostKernels):
    """Beams [7 3 5], [7 3 PAD], [7 9 PAD]: the second opens nothing, the third one slot."""
    beams = torch.tensor([[[7, 3, 5], [7, 3, PAD], [7, 9, PAD]]])
    out = host.pack(beams, torch.tensor([10]))
    assert out["gen_lengths"].tolist() == [4]
    assert out["draft_indices"].tolist() == [[[0, 1, 2], [0, 1, 1], [0, 3, 3]]]
    assert out["tokens"][0, :4].tolist() == [7, 3, 5, 9]
    assert_pack_matches_reference(out, beams, torch.tensor([10]))


@settings(max_examples=150, deadline=None)
@given(padded_beam_batches(), st.integers(0, 2**31 - 1))
def test_accept_with_pad_tails_matches_the_reference(host: HostKernels, beams: torch.Tensor, seed: int):
    """Greedy acceptance on trees with PAD tails: a PAD never matches the target's argmax."""
    gen = torch.Generator().manual_seed(seed)
    tree = pack_beams(beams)
    bs, nb, bl = beams.shape
    logits = random_logits(gen, (bs, n_cap(nb, bl), 8), torch.float32, "normal")
    plant_chains(gen, logits, beams.clamp(min=0), tree.draft_indices)
    assert_accept_matches_reference(host, logits, beams, 1)


def test_pack_one_beam(host: HostKernels):
    beams = torch.tensor([[[5, 6, 7, 8]], [[1, 1, 1, 1]]])
    out = host.pack(beams, torch.tensor([3, 9]))
    assert out["gen_lengths"].tolist() == [4, 4]
    assert out["draft_indices"].tolist() == [[[0, 1, 2, 3]], [[0, 1, 2, 3]]]
    assert out["mask"][:, :, 0].tolist() == [[1, 3, 7, 15]] * 2
    assert_pack_matches_reference(out, beams, torch.tensor([3, 9]))


def test_pack_beam_length_one(host: HostKernels):
    beams = torch.tensor([[[4], [4], [4]], [[2], [2], [2]]])
    out = host.pack(beams, torch.tensor([10, 20]))
    assert out["tokens"].tolist() == [[4], [2]]
    assert out["gen_lengths"].tolist() == [1, 1]
    assert out["draft_indices"].tolist() == [[[0], [0], [0]], [[0], [0], [0]]]
    assert out["mask"].tolist() == [[[1]], [[1]]]
    assert out["position_ids"].tolist() == [[10], [20]]
    assert_pack_matches_reference(out, beams, torch.tensor([10, 20]))


def test_pack_all_beams_identical(host: HostKernels):
    beams = torch.tensor([[[1, 2, 3, 4]] * 5])
    out = host.pack(beams, torch.tensor([0]))
    assert out["gen_lengths"].tolist() == [4]
    assert out["draft_indices"].tolist() == [[[0, 1, 2, 3]] * 5]
    assert_pack_matches_reference(out, beams, torch.tensor([0]))


def test_pack_all_beams_distinct_fills_the_capacity(host: HostKernels):
    nb, bl = 17, 3  # n_cap = 35 > 32: slot 31 exists, so bit 31 (the sign bit) is used
    beams = torch.zeros(1, nb, bl, dtype=torch.long)
    beams[0, :, 0] = 9
    beams[0, :, 1] = torch.arange(nb) + 100
    beams[0, :, 2] = torch.arange(nb) + 200
    out = host.pack(beams, torch.tensor([0]))
    assert out["gen_lengths"].tolist() == [n_cap(nb, bl)]
    assert out["draft_indices"][0, 15].tolist() == [0, 31, 32]
    assert out["mask"][0, 32].tolist() == [-(1 << 31) + 1, 1]  # slot 32 sees the root, slot 31 and itself
    assert_pack_matches_reference(out, beams, torch.tensor([0]))


def test_pack_rows_of_different_lengths(host: HostKernels):
    """Row 0: identical beams (3 slots); row 1: distinct after the root (5 slots); row 2: one shared depth."""
    beams = torch.tensor([[[1, 2, 3], [1, 2, 3]], [[4, 5, 6], [4, 7, 8]], [[0, 0, 1], [0, 0, 2]]])
    base = torch.tensor([7, 8, 9])
    out = host.pack(beams, base)
    assert out["gen_lengths"].tolist() == [3, 5, 4]
    assert out["tokens"].tolist() == [[1, 2, 3, 0, 0], [4, 5, 6, 7, 8], [0, 0, 1, 2, 0]]
    assert out["mask"][0, 3:, 0].tolist() == [1 << 3, 1 << 4]  # padding rows see only themselves
    assert_pack_matches_reference(out, beams, base)


def test_pack_differing_roots_use_beam_zeros_root(host: HostKernels):
    """Outside the contract (column 0 differs): depth 0 is still shared, so gen_lengths <= n_cap."""
    beams = torch.tensor([[[1, 2], [3, 2], [5, 6]]])
    out = host.pack(beams, torch.tensor([0]))
    assert out["gen_lengths"].tolist() == [3]
    assert out["tokens"].tolist() == [[1, 2, 6, 0]]
    assert out["draft_indices"].tolist() == [[[0, 1], [0, 1], [0, 2]]]


def test_pack_rejects_bad_shapes(host: HostKernels):
    dummy = torch.zeros(64, dtype=torch.int32)
    assert host.lib.redrafterPackBeamsHost(*[ptr(dummy)] * 2, 0, 1, 1, *[ptr(dummy)] * 6) == 1
    assert host.lib.redrafterPackBeamsHost(*[ptr(dummy)] * 2, 1, 1, 0, *[ptr(dummy)] * 6) == 1
    assert dummy.eq(0).all()  # nothing written


# ---------------------------------------------------------------------------------------------
# packed argmax


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 300),
    st.sampled_from(list(DTYPE_CODES)),
    st.sampled_from(["normal", "levels", "specials"]),
    st.integers(0, 7),
    st.sampled_from([1, 2, 5, 32, 256]),
    st.integers(0, 2**31 - 1),
)
def test_packed_argmax_is_torch_argmax(host, bs, slots, vocab, dtype, kind, offset, threads, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = random_logits(gen, (bs, slots, vocab), dtype, kind, offset)
    gen_lengths = torch.randint(0, slots + 1, (bs,), generator=gen)
    out = host.argmax(logits, gen_lengths, threads)
    expect = logits.argmax(-1)
    real = torch.arange(slots)[None, :] < gen_lengths[:, None]
    assert torch.equal(out.long()[real], expect[real])
    assert (out[~real] == -1).all()


@pytest.mark.parametrize("dtype", list(DTYPE_CODES))
def test_argmax_ties_nan_and_signed_zero(host: HostKernels, dtype: torch.dtype):
    inf, nan = float("inf"), float("nan")
    rows = [
        [1.0, 5.0, 5.0, 5.0],  # ties: lowest index
        [-0.0, 0.0, -0.0, 0.0],  # -0.0 == +0.0: index 0
        [-inf, -inf, -inf, -inf],  # all -inf: index 0
        [1.0, nan, inf, nan],  # NaN beats +inf; the first NaN wins
        [-inf, -1.0, inf, inf],
    ]
    logits = torch.tensor([rows], dtype=dtype)
    for threads in (1, 2, 3, 256):
        out = host.argmax(logits, torch.tensor([len(rows)]), threads)
        assert out[0].tolist() == [1, 0, 0, 1, 2]
        assert out[0].tolist() == logits.argmax(-1)[0].tolist()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_decoding_is_exact_for_every_16_bit_pattern(host: HostKernels, dtype: torch.dtype):
    bits = torch.arange(1 << 16, dtype=torch.int32).to(torch.int16)
    raw = bits.view(dtype)
    out = torch.empty(1 << 16, dtype=torch.float32)
    assert host.lib.redrafterDecodeLogitsHost(ptr(raw), DTYPE_CODES[dtype], 1 << 16, ptr(out)) == 0
    expect = raw.float()
    nan = expect.isnan()
    assert torch.equal(out.isnan(), nan)
    assert torch.equal(out[~nan].view(torch.int32), expect[~nan].view(torch.int32))  # bit-exact, signs of 0 too


def test_argmax_rejects_bad_arguments(host: HostKernels):
    logits = torch.zeros(1, 1, 4)
    gen = torch.ones(1, dtype=torch.int32)
    offsets = torch.zeros(1, dtype=torch.int32)
    out = torch.full((1, 1), 5, dtype=torch.int32)
    head = (ptr(offsets), ptr(gen), 1, 1)  # row_offsets, gen_lengths, bs, slots
    assert host.lib.redrafterPackedArgmaxHost(ptr(logits), 3, 1, 4, *head, 256, ptr(out)) == 2  # dtype
    assert host.lib.redrafterPackedArgmaxHost(ptr(logits), 0, 1, 0, *head, 256, ptr(out)) == 1  # V = 0
    assert host.lib.redrafterPackedArgmaxHost(ptr(logits), 0, 1, 4, *head, 0, ptr(out)) == 1  # threads
    assert out.tolist() == [[5]]


# ---------------------------------------------------------------------------------------------
# greedy acceptance


@settings(max_examples=300, deadline=None)
@given(acceptance_cases())
def test_accept_matches_reference(host: HostKernels, case):
    logits, beams, threads = case
    assert_accept_matches_reference(host, logits, beams, threads)


def logits_choosing(choices: list[list[int]], vocab: int, dtype=torch.float32) -> torch.Tensor:
    """Logits [bs, len(row), vocab] whose argmax at slot p of row b is choices[b][p]."""
    logits = torch.zeros(len(choices), len(choices[0]), vocab, dtype=dtype)
    for b, row in enumerate(choices):
        for p, token in enumerate(row):
            logits[b, p, token] = 1.0
    return logits


def test_accept_golden_example(host: HostKernels):
    """docs/tree_attention.md, section 3."""
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]])
    logits = logits_choosing([[3, 4, 1, 8, 0, 0, 0]], vocab=10)  # n_cap = 7 slots
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["accepted_beam_index"] == [1] and got["num_accepted_tokens"] == [3]
    assert got["next_token"] == [8] and got["hidden_index"] == [3]
    assert got["accepted_tokens"][0][:3] == [3, 4, 8]
    assert got["path_indices"] == [[0, 1, 3]]


@pytest.mark.parametrize("dtype", list(DTYPE_CODES))
def test_accept_one_beam(host: HostKernels, dtype: torch.dtype):
    beams = torch.tensor([[[1, 2, 3, 4]], [[1, 2, 3, 4]]])
    logits = logits_choosing([[2, 3, 4, 9], [2, 5, 4, 9]], vocab=10, dtype=dtype)
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["num_accepted_tokens"] == [4, 2]  # all three drafts + bonus; one draft + bonus
    assert got["next_token"] == [9, 5]
    assert got["accepted_tokens"] == [[2, 3, 4, 9], [2, 5, 4, 1]]  # the reference's padding after num


def test_accept_beam_length_one(host: HostKernels):
    beams = torch.tensor([[[4], [4]], [[5], [5]]])
    logits = logits_choosing([[9], [8]], vocab=10)
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["num_accepted_tokens"] == [1, 1] and got["next_token"] == [9, 8]
    assert got["accepted_tokens"] == [[9], [8]] and got["hidden_index"] == [0, 0]


def test_accept_all_beams_identical(host: HostKernels):
    beams = torch.tensor([[[1, 2, 3]] * 4])
    logits = logits_choosing([[2, 3, 6] + [0] * 6], vocab=8)
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["accepted_beam_index"] == [0] and got["num_accepted_tokens"] == [3] and got["next_token"] == [6]


def test_accept_all_beams_distinct_picks_the_matching_one(host: HostKernels):
    beams = torch.tensor([[[0, 1, 2], [0, 3, 4], [0, 5, 6]]])  # packed [0, 1, 2, 3, 4, 5, 6]
    logits = logits_choosing([[5, 0, 0, 0, 0, 6, 7]], vocab=8)
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["accepted_beam_index"] == [2] and got["num_accepted_tokens"] == [3]
    assert got["next_token"] == [7] and got["hidden_index"] == [6]


def test_accept_ties_go_to_the_lowest_beam(host: HostKernels):
    beams = torch.tensor([[[1, 2, 3], [1, 2, 4], [1, 5, 6]]])
    logits = logits_choosing([[2, 7, 0, 0, 0, 0, 0]], vocab=8)
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["accepted_beam_index"] == [0] and got["num_accepted_tokens"] == [2] and got["next_token"] == [7]


def test_accept_rows_of_different_tree_lengths(host: HostKernels):
    beams = torch.tensor([[[1, 2, 3], [1, 2, 3]], [[4, 5, 6], [4, 7, 8]], [[0, 0, 1], [0, 0, 2]]])
    # n_cap = 5; row 0 has 3 real slots, row 1 five, row 2 four; padding logits point at token 3
    logits = logits_choosing([[2, 3, 9, 3, 3], [7, 6, 6, 8, 4], [0, 2, 1, 5, 3]], vocab=10)
    got = assert_accept_matches_reference(host, logits, beams)
    assert got["num_accepted_tokens"] == [3, 3, 3]
    assert got["accepted_beam_index"] == [0, 1, 1]
    assert got["next_token"] == [9, 4, 5]


def test_accept_out_of_range_indices_never_match(host: HostKernels):
    """Not a valid pack_beams output: slots at or past gen_lengths read the argmax as -1."""
    beams = torch.tensor([[[1, 2, 3]]])
    logits = logits_choosing([[2, 3, 4]], vocab=5)
    out = host.accept(logits, beams, torch.tensor([[0, 1, 2]]), torch.tensor([2]))  # slot 2 is padding
    assert out["num_accepted_tokens"].tolist() == [3] and out["next_token"].tolist() == [-1]
    out = host.accept(logits, beams, torch.tensor([[0, -1, 9]]), torch.tensor([3]))
    assert out["num_accepted_tokens"].tolist() == [2] and out["next_token"].tolist() == [-1]
    assert out["hidden_index"].tolist() == [-1]


# ---------------------------------------------------------------------------------------------
# flat logits + row offsets (the engine's form: no padded copy)


def scatter_flat(
    gen: torch.Generator, padded: torch.Tensor, gen_lengths: torch.Tensor, element_offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded logits [bs, S, V] as the engine hands them over: flat [R, V], a few context rows first,
    then each request's gen_lengths[b] real rows at row_offsets[b], in a shuffled request order with
    gaps between them. Every row that is no request's real slot is NaN, which would win any argmax
    that read it. Returns (flat, row_offsets int32 [bs])."""
    bs, slots, vocab = padded.shape
    lengths = gen_lengths.clamp(0, slots).tolist()
    order = torch.randperm(bs, generator=gen).tolist()
    cursor = int(torch.randint(0, 4, (1,), generator=gen))  # context rows
    offsets = [0] * bs
    for b in order:
        cursor += int(torch.randint(0, 3, (1,), generator=gen))  # a gap
        offsets[b] = cursor
        cursor += lengths[b]
    rows = cursor + int(torch.randint(0, 3, (1,), generator=gen))
    buffer = torch.full((element_offset + rows * vocab,), float("nan"), dtype=padded.dtype)
    flat = buffer[element_offset:].view(rows, vocab)
    for b in range(bs):
        flat[offsets[b] : offsets[b] + lengths[b]] = padded[b, : lengths[b]]
    return flat, torch.tensor(offsets, dtype=torch.int32)


@settings(max_examples=300, deadline=None)
@given(acceptance_cases(), st.integers(0, 2**31 - 1))
def test_accept_flat_logits_equal_the_padded_reference(host: HostKernels, case, seed: int):
    """The oracle is accept_greedy on the padded logits; the kernel reads the same rows scattered."""
    logits, beams, threads = case
    gen = torch.Generator().manual_seed(seed)
    tree = pack_beams(beams)
    flat, offsets = scatter_flat(gen, logits, tree.gen_lengths, int(torch.randint(0, 8, (1,), generator=gen)))
    out = host.accept(flat, beams, tree.draft_indices, tree.gen_lengths, threads, row_offsets=offsets)
    assert {k: v.tolist() for k, v in out.items()} == reference_acceptance(logits, beams, tree.draft_indices)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 6),
    st.integers(1, 200),
    st.sampled_from(list(DTYPE_CODES)),
    st.sampled_from([1, 3, 256]),
    st.integers(0, 2**31 - 1),
)
def test_packed_argmax_flat_is_torch_argmax(host, bs, slots, vocab, dtype, threads, seed):
    gen = torch.Generator().manual_seed(seed)
    padded = random_logits(gen, (bs, slots, vocab), dtype, "levels")
    gen_lengths = torch.randint(0, slots + 1, (bs,), generator=gen)
    flat, offsets = scatter_flat(gen, padded, gen_lengths)
    out = host.argmax(flat, gen_lengths, threads, row_offsets=offsets, slots=slots)
    real = torch.arange(slots)[None, :] < gen_lengths[:, None]
    assert torch.equal(out.long()[real], padded.argmax(-1)[real])
    assert (out[~real] == -1).all()


def test_accept_flat_rows_outside_the_logits_read_minus_one(host: HostKernels):
    """row_offsets[b] + gen_lengths[b] > R (or a negative offset): the rows past the logits are never
    read and their slots predict -1, which the oracle gets from the same argmax with those slots -1."""
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]], [[1, 2, 3], [1, 2, 4], [1, 5, 6]]])
    tree = pack_beams(beams)  # gen_lengths [6, 6]
    padded = logits_choosing([[3, 4, 1, 8, 0, 0, 0], [2, 3, 9, 9, 9, 9, 9]], vocab=10)
    cases = {
        "request 1 cut after 3 rows": (torch.tensor([0, 6]), 9, {1: range(3, 7)}),
        "request 0 cut after 2 rows": (torch.tensor([6, 0]), 8, {0: range(2, 7)}),
        "negative offset": (torch.tensor([-1, 6]), 12, {0: range(0, 1)}),
        "offsets past the end": (torch.tensor([0, 40]), 12, {1: range(0, 7)}),
    }
    for what, (offsets, rows, missing) in cases.items():
        flat = torch.full((rows, 10), float("nan"))
        expect = padded.argmax(-1)
        for b in range(2):
            for j in range(6):
                row = int(offsets[b]) + j
                if 0 <= row < rows and j not in missing.get(b, ()):
                    flat[row] = padded[b, j]
            for j in missing.get(b, ()):
                expect[b, j] = -1
        got = host.accept(flat, beams, tree.draft_indices, tree.gen_lengths, row_offsets=offsets)
        want = accept_greedy(expect, beams.long(), tree.draft_indices.long())
        for field in ("num_accepted_tokens", "accepted_beam_index", "next_token", "hidden_index", "accepted_tokens"):
            assert got[field].tolist() == getattr(want, field).tolist(), (what, field)
    out = host.accept(torch.zeros(0, 10), beams, tree.draft_indices, tree.gen_lengths, row_offsets=torch.tensor([0, 0]))
    assert out["num_accepted_tokens"].tolist() == [1, 1] and out["next_token"].tolist() == [-1, -1]  # R = 0


def test_greedy_launchers_reject_bad_shapes(host: HostKernels):
    logits, gen, offsets = torch.zeros(2, 4), torch.ones(1, dtype=torch.int32), torch.zeros(1, dtype=torch.int32)
    out = torch.full((1, 1), 5, dtype=torch.int32)
    args = (ptr(logits), 0, 2, 4, ptr(offsets), ptr(gen))
    assert host.lib.redrafterPackedArgmaxHost(*args, 0, 1, 256, ptr(out)) == 1  # bs = 0
    assert host.lib.redrafterPackedArgmaxHost(ptr(logits), 0, -1, 4, ptr(offsets), ptr(gen), 1, 1, 256, ptr(out)) == 1
    assert out.tolist() == [[5]]
