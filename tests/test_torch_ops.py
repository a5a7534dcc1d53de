"""torch.ops.redrafter: opcheck, the ops against the reference element for element, and decoding
with ``kernels="ops"`` token-identical to ``kernels="torch"`` and to HF ``generate`` (float64)."""

from __future__ import annotations

import pytest
import torch
from conftest import HIDDEN, VOCAB, OracleProposer, hf_greedy, tiny_model

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.ops import torch_ops
from trtllm_redrafter.runtime import kernels
from trtllm_redrafter.runtime.accept import accept_greedy
from trtllm_redrafter.runtime.decode import DecodeConfig, Decoder
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.runtime.sampling import accept_sampling
from trtllm_redrafter.runtime.target import HFTarget
from trtllm_redrafter.runtime.tree import PAD, pack_beams

PROMPTS = [[5, 6, 7, 8, 9, 10], [3, 4], [11, 12, 13, 14, 15, 16, 17, 18, 19]]


@pytest.fixture(scope="module", autouse=True)
def built():
    torch_ops.load()


def random_beams(gen: torch.Generator, bs: int, nb: int, bl: int, vocab: int = 5) -> torch.Tensor:
    """Beams over a small vocabulary (so prefixes are shared), one root per row."""
    beams = torch.randint(0, vocab, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]
    return beams


def cases(count: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(1, 1, 1), (2, 1, 4), (3, 4, 3), (1, 8, 5), (4, 2, 6), (2, 16, 4)]
    for i in range(count):
        bs, nb, bl = shapes[i % len(shapes)]
        yield gen, random_beams(gen, bs, nb, bl)


def with_pad_tails(gen: torch.Generator, beams: torch.Tensor) -> torch.Tensor:
    """Some beams cut short, their tails PAD (as the drafter's beams next to a longer lookup beam)."""
    bs, nb, bl = beams.shape
    lengths = torch.randint(1, bl + 1, (bs, nb, 1), generator=gen)
    return beams.masked_fill(torch.arange(bl)[None, None, :] >= lengths, PAD)


def test_pack_beams_equals_the_reference():
    for gen, beams in cases(60):
        for b in (beams, with_pad_tails(gen, beams)):
            want, got = pack_beams(b), kernels.pack_beams(b)
            for field in ("tokens", "gen_lengths", "draft_indices", "position_offsets", "mask", "packed_mask"):
                assert torch.equal(getattr(got, field), getattr(want, field)), field
            assert torch.equal(got.valid, want.valid)


def test_pack_beams_keeps_full_beams_exact():
    for _, beams in cases(60):
        want, got = pack_beams(beams), kernels.pack_beams(beams)
        for field in ("tokens", "gen_lengths", "draft_indices", "position_offsets", "mask", "packed_mask", "valid"):
            assert torch.equal(getattr(got, field), getattr(want, field)), field


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_greedy_accept_equals_the_reference(dtype):
    for gen, beams in cases(60, seed=1):
        tree = pack_beams(beams)
        bs, n = tree.tokens.shape
        logits = torch.randn(bs, n, 5, generator=gen).to(dtype)  # V = the beams' vocabulary: many matches
        want = accept_greedy(logits.argmax(-1), beams, tree.draft_indices)
        got = kernels.accept_greedy(logits, beams, tree)
        for field in want.__dataclass_fields__:
            assert torch.equal(getattr(got, field), getattr(want, field)), (field, dtype)
        flat, offsets = flat_logits(gen, logits, tree.gen_lengths)  # the engine's form, same op
        args = (beams.int(), tree.draft_indices.int(), tree.gen_lengths.int())
        out = torch.ops.redrafter.greedy_accept(flat, *args, row_offsets=offsets)
        for field, value in zip(("num_accepted_tokens", "accepted_beam_index", "next_token", "hidden_index"), out):
            assert torch.equal(value.long(), getattr(want, field)), (field, dtype, "flat")
        assert torch.equal(out[4].long(), want.path_indices) and torch.equal(out[5].long(), want.accepted_tokens)


def test_sampling_accept_equals_the_reference_given_the_same_uniforms():
    for gen, beams in cases(80, seed=2):
        tree = pack_beams(beams)
        bs, nb, bl = beams.shape
        probs = torch.softmax(3 * torch.randn(bs, tree.tokens.shape[1], 5, generator=gen), -1)
        rv, rs = torch.rand(bs, nb, max(bl - 1, 0), generator=gen), torch.rand(bs, generator=gen)
        want = accept_sampling(probs, beams, tree.draft_indices, rv, rs)
        got = kernels.accept_sampling(probs, beams, tree, rv, rs)
        for field in want.__dataclass_fields__:
            assert torch.equal(getattr(got, field), getattr(want, field)), field


def op_samples():
    gen = torch.Generator().manual_seed(3)
    beams = random_beams(gen, 3, 4, 3)
    tree = pack_beams(beams)
    b32, i32, g32 = beams.int(), tree.draft_indices.int(), tree.gen_lengths.int()
    logits = torch.randn(3, tree.tokens.shape[1], 7, generator=gen)
    probs = torch.softmax(logits, -1)
    rv, rs = torch.rand(3, 4, 2, generator=gen), torch.rand(3, generator=gen)
    base = torch.arange(3, dtype=torch.int32)
    flat, offsets = flat_logits(gen, logits, tree.gen_lengths)
    return {
        "pack_beams": (b32, base),
        "greedy_accept": (logits, b32, i32, g32, None),
        "greedy_accept[flat]": (flat, b32, i32, g32, offsets),
        "sampling_accept": (probs, b32, i32, g32, rv, rs),
    }


def flat_logits(gen: torch.Generator, padded: torch.Tensor, gen_lengths: torch.Tensor):
    """Padded logits [bs, n, V] as an engine step holds them: flat [R, V], two context rows, then each
    request's real rows after a gap, in reverse request order; the other rows are NaN. Returns
    (flat, row_offsets int32 [bs])."""
    bs, _, vocab = padded.shape
    lengths, offsets, cursor = gen_lengths.tolist(), [0] * bs, 2
    for b in reversed(range(bs)):
        cursor += int(torch.randint(0, 3, (1,), generator=gen))
        offsets[b], cursor = cursor, cursor + lengths[b]
    flat = torch.full((cursor, vocab), float("nan"), dtype=padded.dtype)
    for b in range(bs):
        flat[offsets[b] : offsets[b] + lengths[b]] = padded[b, : lengths[b]]
    return flat, torch.tensor(offsets, dtype=torch.int32)


@pytest.mark.parametrize("name", [*torch_ops.OPS, "greedy_accept[flat]"])
def test_opcheck(name):
    args = op_samples()[name]
    name = name.split("[")[0]
    torch.library.opcheck(getattr(torch.ops.redrafter, name).default, args)
    outs = [t.clone() for t in getattr(torch.ops.redrafter, name)(*args)]
    fresh = [torch.full_like(t, -7) for t in outs]
    torch.library.opcheck(getattr(torch.ops.redrafter, f"{name}_out").default, (*args, *fresh))
    getattr(torch.ops.redrafter, f"{name}_out")(*args, *fresh)
    assert all(torch.equal(a, b) for a, b in zip(outs, fresh))  # the out-variant writes the same values


def test_the_ops_trace_under_torch_compile():
    beams = op_samples()["pack_beams"]

    def width(b: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return torch.ops.redrafter.pack_beams(b, base)[1] + 1

    step = torch.compile(width, backend="eager", fullgraph=True)
    assert torch.equal(step(*beams), torch.ops.redrafter.pack_beams(*beams)[1] + 1)


def test_bad_input_is_refused():
    b32, base = op_samples()["pack_beams"]
    with pytest.raises(RuntimeError, match="int32"):
        torch.ops.redrafter.pack_beams(b32.long(), base)
    outs = [t.clone() for t in torch.ops.redrafter.pack_beams(b32, base)]
    outs[3] = outs[3][:, :1].contiguous()  # position_offsets too small: refused, not written past its end
    with pytest.raises(RuntimeError, match="position_offsets must have shape"):
        torch.ops.redrafter.pack_beams_out(b32, base, *outs)
    args = op_samples()["greedy_accept"]
    outs = [t.clone() for t in torch.ops.redrafter.greedy_accept(*args)]
    outs[5] = outs[5].t()  # not contiguous
    with pytest.raises(RuntimeError, match="accepted_tokens must be contiguous"):
        torch.ops.redrafter.greedy_accept_out(*args, *outs)
    flat, b32, i32, g32, offsets = op_samples()["greedy_accept[flat]"]
    with pytest.raises(RuntimeError, match=r"\[R, V\] when row_offsets"):
        torch.ops.redrafter.greedy_accept(flat[None], b32, i32, g32, offsets)
    with pytest.raises(RuntimeError, match="row_offsets must have bs entries"):
        torch.ops.redrafter.greedy_accept(flat, b32, i32, g32, offsets[:2].contiguous())
    with pytest.raises(RuntimeError, match="row_offsets must be int32"):
        torch.ops.redrafter.greedy_accept(flat, b32, i32, g32, offsets.long())
    with pytest.raises(RedrafterError, match="kernels must be"):
        DecodeConfig(kernels="cuda").validate()


def decode(model, drafter, kernels_name: str, **kw):
    cfg = DecodeConfig(num_beams=4, draft_len=3, max_new_tokens=40, kernels=kernels_name, **kw)
    return Decoder(HFTarget(model), drafter, cfg).generate(PROMPTS)


@pytest.mark.parametrize("lookup, lookup_len", [(0, 0), (3, 0), (3, 5)])  # 5 > draft_len: PAD tails
def test_greedy_with_ops_is_token_identical_in_float64(arch, lookup, lookup_len):
    model = tiny_model(arch)
    ref = hf_greedy(model, PROMPTS, 40)
    drafter = init_drafter(DrafterConfig(VOCAB, HIDDEN, exit_dim=48), seed=1).double()
    kw = dict(lookup_ngram=lookup, lookup_len=lookup_len)
    torch_rows, ops_rows = decode(model, drafter, "torch", **kw), decode(model, drafter, "ops", **kw)
    assert [r.token_ids for r in ops_rows] == [r.token_ids for r in torch_rows] == ref
    assert [r.accepted for r in ops_rows] == [r.accepted for r in torch_rows]
    oracle = OracleProposer(model, PROMPTS, ref, seed=4)  # long acceptances through the ops
    cfg = DecodeConfig(num_beams=4, draft_len=3, max_new_tokens=40, kernels="ops", lookup_ngram=0)
    rows = Decoder(HFTarget(model), None, cfg, proposer=oracle).generate(PROMPTS)
    assert [r.token_ids for r in rows] == ref and max(a for r in rows for a in r.accepted) == 4


@pytest.mark.parametrize("lookup", [0, 3])  # 3: a lookup beam of 5 tokens next to draft_len 3 (PAD tails)
def test_sampling_with_ops_gives_the_same_output_for_the_same_seed(lookup):
    model = tiny_model("llama")
    drafter = init_drafter(DrafterConfig(VOCAB, HIDDEN, exit_dim=48), seed=1).double()
    kw = dict(temperature=0.8, top_k=20, top_p=0.9, seed=5, lookup_ngram=lookup, lookup_len=5)
    torch_rows, ops_rows = decode(model, drafter, "torch", **kw), decode(model, drafter, "ops", **kw)
    assert [r.token_ids for r in ops_rows] == [r.token_ids for r in torch_rows]
    assert [r.accepted for r in ops_rows] == [r.accepted for r in torch_rows]


def test_the_cuda_registration_compiles(tmp_path):
    """redrafter_ops.cpp with REDRAFTER_WITH_CUDA (the CUDA dispatch over the device launchers of
    plugins/kernels) passes g++ -fsyntax-only -Wall -Wextra -Werror against this torch's headers and
    CUDA's runtime header. The CPU wheel lacks one generated header, c10/cuda/impl/cuda_cmake_macros.h
    (it only configures DLL export macros); an empty stand-in takes its place here. Without a GPU the
    CUDA build itself (torch_ops.load with nvcc) cannot run: tests/gpu/check_runtime.py runs it."""
    import os
    import subprocess
    import sysconfig

    from plugin_helpers import load_build_libs
    from torch.utils.cpp_extension import include_paths

    build_libs = load_build_libs()
    nvcc = build_libs.find_nvcc()
    if nvcc is None:
        if os.environ.get("REDRAFTER_REQUIRE_NVCC") == "1":
            pytest.fail("nvcc not found and REDRAFTER_REQUIRE_NVCC=1")
        pytest.skip("nvcc not found (its CUDA headers are needed)")
    shim = tmp_path / "c10" / "cuda" / "impl"
    shim.mkdir(parents=True)
    (shim / "cuda_cmake_macros.h").write_text("#pragma once\n")
    includes = [flag for p in include_paths() for flag in ("-isystem", p)]
    includes += ["-isystem", str(tmp_path), "-isystem", str(build_libs.find_cuda_include(nvcc))]
    includes += ["-isystem", sysconfig.get_paths()["include"]]
    source = torch_ops.PLUGINS / "torch" / "redrafter_ops.cpp"
    cmd = ["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-DREDRAFTER_WITH_CUDA", *includes]
    result = subprocess.run([*cmd, str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    text = source.read_text()
    assert "TORCH_LIBRARY_IMPL(redrafter, CUDA, m)" in text and "redrafterGreedyAccept(" in text
