"""Check the ReDrafter CUDA kernels against the PyTorch reference on a GPU, and time them.

Run through tests/gpu/check_kernels.sh, which builds plugins/ with nvcc first. Needs torch (with
CUDA) and this repository; no TensorRT, no pytest, no hypothesis. Output format: docs/plugins.md.

    python tests/gpu/check_kernels.py --library /tmp/x/libredrafter_kernels.so

``--backend host --library libredrafter_host.so`` runs the same script on a CPU against the host
library (the kernels' core functions in plain C++): that is how the script itself was tested on
a machine without a GPU.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trtllm_redrafter.runtime.accept import accept_greedy  # noqa: E402
from trtllm_redrafter.runtime.sampling import accept_sampling, warp_logits  # noqa: E402
from trtllm_redrafter.runtime.tree import pack_beams, unpack_mask_bits  # noqa: E402

DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
PACK_FIELDS = ("tokens", "gen_lengths", "draft_indices", "offsets", "mask", "position_ids")
ACCEPT_FIELDS = (
    "num_accepted_tokens",
    "accepted_beam_index",
    "next_token",
    "hidden_index",
    "path_indices",
    "accepted_tokens",
)
I32, PTR, F32 = ctypes.c_int32, ctypes.c_void_p, ctypes.c_float
# redrafterFusedSamplingAccept(Host): logits, dtype, rows, V, row_offsets, inv_t, its dtype and count, tokens,
# indices, gen_lengths, rand_validation, rand_sample, rand dtype, bs, num_slots, nb, bl, top_k, top_p
FUSED_ARGS = [PTR, I32, I32, I32, PTR, PTR, I32, I32] + [PTR] * 5 + [I32] * 6 + [F32]
SAMPLE_MARGIN = 1e-6  # sampling_accept: rows whose inverse-CDF target is this close to a cdf value may differ
CUT_MARGIN = 1e-6  # warp_softmax: rows whose top-p cut is this close (x (1 + max |y|)) are not mask-compared


def ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def n_cap(nb: int, bl: int) -> int:
    return nb * (bl - 1) + 1


class Kernels:
    """ctypes binding of the launchers: the CUDA library (device) or the host library (host)."""

    def __init__(self, library: Path, backend: str) -> None:
        self.backend = backend
        self.device = torch.device("cuda" if backend == "device" else "cpu")
        lib = ctypes.CDLL(str(library))
        if backend == "device":
            lib.redrafterPackBeams.argtypes = [PTR, PTR, I32, I32, I32] + [PTR] * 7
            lib.redrafterPackedArgmax.argtypes = [PTR, I32, I32, I32, PTR, PTR, I32, I32, PTR, PTR]
            lib.redrafterGreedyAccept.argtypes = [PTR, I32, I32, I32] + [PTR] * 4 + [I32] * 4
            lib.redrafterGreedyAccept.argtypes += [PTR, ctypes.c_size_t] + [PTR] * 7
            lib.redrafterGreedyAcceptWorkspaceSize.argtypes = [I32, I32]
            lib.redrafterGreedyAcceptWorkspaceSize.restype = ctypes.c_size_t
            lib.redrafterWarpSoftmax.argtypes = [PTR, I32, PTR, I32, I32, PTR, I32, I32, I32, I32, F32, PTR, PTR]
            lib.redrafterSamplingAccept.argtypes = [PTR] * 6 + [I32] * 6 + [PTR] * 7
            lib.redrafterFusedSamplingAccept.argtypes = FUSED_ARGS + [PTR] * 7
            names = ("redrafterPackBeams", "redrafterPackedArgmax", "redrafterGreedyAccept")
            names += ("redrafterWarpSoftmax", "redrafterSamplingAccept", "redrafterFusedSamplingAccept")
        else:
            lib.redrafterPackBeamsHost.argtypes = [PTR, PTR, I32, I32, I32] + [PTR] * 6
            lib.redrafterPackedArgmaxHost.argtypes = [PTR, I32, I32, I32, PTR, PTR, I32, I32, I32, PTR]
            lib.redrafterGreedyAcceptHost.argtypes = [PTR, I32, I32, I32] + [PTR] * 4 + [I32] * 5 + [PTR] * 6
            lib.redrafterWarpSoftmaxHost.argtypes = [PTR, I32, PTR, I32, I32, PTR, I32, I32, I32, I32, F32, I32, PTR]
            lib.redrafterSamplingAcceptHost.argtypes = [PTR] * 6 + [I32] * 7 + [PTR] * 6
            lib.redrafterFusedSamplingAcceptHost.argtypes = FUSED_ARGS + [I32] + [PTR] * 6
            names = ("redrafterPackBeamsHost", "redrafterPackedArgmaxHost", "redrafterGreedyAcceptHost")
            names += ("redrafterWarpSoftmaxHost", "redrafterSamplingAcceptHost", "redrafterFusedSamplingAcceptHost")
        for name in names:
            getattr(lib, name).restype = I32
        self.lib = lib
        self.workspace = torch.empty(0, dtype=torch.uint8, device=self.device)
        self.gbps = 0.0  # memory bandwidth for the timing table's floor column (main sets it)

    def _stream(self) -> ctypes.c_void_p:
        return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} returned status {status}")

    def pack_outputs(self, bs: int, nb: int, bl: int) -> dict[str, torch.Tensor]:
        cap = n_cap(nb, bl)
        shapes = {
            "tokens": (bs, cap),
            "gen_lengths": (bs,),
            "draft_indices": (bs, nb, bl),
            "offsets": (bs, cap),
            "mask": (bs, cap, (cap + 31) // 32),
            "position_ids": (bs, cap),
        }
        return {k: torch.full(s, -7, dtype=torch.int32, device=self.device) for k, s in shapes.items()}

    def pack(self, beams: torch.Tensor, base: torch.Tensor, out: dict[str, torch.Tensor] | None = None) -> dict:
        """beams int32 [bs, nb, bl], base int32 [bs], both on self.device."""
        bs, nb, bl = beams.shape
        out = out if out is not None else self.pack_outputs(bs, nb, bl)
        args = [ptr(beams), ptr(base), bs, nb, bl, *(ptr(out[k]) for k in PACK_FIELDS)]
        if self.backend == "device":
            self._check(self.lib.redrafterPackBeams(*args, self._stream()), "redrafterPackBeams")
        else:
            self._check(self.lib.redrafterPackBeamsHost(*args), "redrafterPackBeamsHost")
        return out

    def row_offsets(self, bs: int, slots: int) -> torch.Tensor:
        """Padded logits [bs, slots, V] in the launchers' flat form: request b's slot 0 is row b * slots."""
        return torch.arange(bs, dtype=torch.int32, device=self.device) * slots

    def argmax(self, logits: torch.Tensor, gen_lengths: torch.Tensor) -> torch.Tensor:
        bs, slots, vocab = logits.shape
        out = torch.full((bs, slots), -7, dtype=torch.int32, device=self.device)
        code = DTYPE_CODES[logits.dtype]
        offsets = self.row_offsets(bs, slots)
        head = (ptr(logits), code, bs * slots, vocab, ptr(offsets), ptr(gen_lengths), bs, slots)
        if self.backend == "device":
            status = self.lib.redrafterPackedArgmax(*head, ptr(out), self._stream())
        else:
            status = self.lib.redrafterPackedArgmaxHost(*head, 256, ptr(out))
        self._check(status, "packed argmax")
        return out

    def accept_outputs(self, bs: int, bl: int) -> dict[str, torch.Tensor]:
        shapes = [(bs,)] * 4 + [(bs, bl)] * 2
        return {k: torch.full(s, -7, dtype=torch.int32, device=self.device) for k, s in zip(ACCEPT_FIELDS, shapes)}

    def accept(
        self,
        logits: torch.Tensor,
        beams: torch.Tensor,
        indices: torch.Tensor,
        gen_lengths: torch.Tensor,
        out: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        bs, slots, vocab = logits.shape
        _, nb, bl = beams.shape
        out = out if out is not None else self.accept_outputs(bs, bl)
        offsets = self.row_offsets(bs, slots)
        head = [ptr(logits), DTYPE_CODES[logits.dtype], bs * slots, vocab, ptr(offsets), ptr(beams), ptr(indices)]
        head += [ptr(gen_lengths), bs, slots]
        tail = [ptr(out[k]) for k in ACCEPT_FIELDS]
        if self.backend == "device":
            need = self.lib.redrafterGreedyAcceptWorkspaceSize(bs, slots)
            if self.workspace.numel() < need:
                self.workspace = torch.empty(need, dtype=torch.uint8, device=self.device)
            workspace = (ptr(self.workspace), self.workspace.numel())
            status = self.lib.redrafterGreedyAccept(*head, nb, bl, *workspace, *tail, self._stream())
        else:
            status = self.lib.redrafterGreedyAcceptHost(*head, nb, bl, 256, *tail)
        self._check(status, "greedy accept")
        return out

    def warp(
        self,
        logits: torch.Tensor,
        inv_temperature: torch.Tensor,
        gen_lengths: torch.Tensor,
        top_k: int,
        top_p: float,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """warp_softmax: logits [bs, slots, V], inv_temperature [bs] or [1], gen_lengths int32 [bs]."""
        bs, slots, vocab = logits.shape
        out = out if out is not None else torch.full((bs, slots, vocab), -7.0, device=self.device)
        args = [ptr(logits), DTYPE_CODES[logits.dtype], ptr(inv_temperature), DTYPE_CODES[inv_temperature.dtype]]
        args += [inv_temperature.numel(), ptr(gen_lengths), bs, slots, vocab, top_k, top_p]
        if self.backend == "device":
            status = self.lib.redrafterWarpSoftmax(*args, ptr(out), self._stream())
        else:
            status = self.lib.redrafterWarpSoftmaxHost(*args, 256, ptr(out))
        self._check(status, "warp softmax")
        return out

    def sample_accept(
        self,
        probs: torch.Tensor,
        beams: torch.Tensor,
        indices: torch.Tensor,
        gen_lengths: torch.Tensor,
        rand_validation: torch.Tensor,
        rand_sample: torch.Tensor,
        out: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        bs, slots, vocab = probs.shape
        _, nb, bl = beams.shape
        out = out if out is not None else self.accept_outputs(bs, bl)
        head = [ptr(probs), ptr(beams), ptr(indices), ptr(gen_lengths), ptr(rand_validation), ptr(rand_sample)]
        head += [DTYPE_CODES[rand_sample.dtype], bs, slots, vocab, nb, bl]
        tail = [ptr(out[k]) for k in ACCEPT_FIELDS]
        if self.backend == "device":
            status = self.lib.redrafterSamplingAccept(*head, *tail, self._stream())
        else:
            status = self.lib.redrafterSamplingAcceptHost(*head, 256, *tail)
        self._check(status, "sampling accept")
        return out

    def fused_accept(
        self,
        logits: torch.Tensor,
        row_offsets: torch.Tensor,
        inv_temperature: torch.Tensor,
        beams: torch.Tensor,
        indices: torch.Tensor,
        gen_lengths: torch.Tensor,
        rand_validation: torch.Tensor,
        rand_sample: torch.Tensor,
        top_k: int,
        top_p: float,
        out: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """fused_sampling_accept on flat logits [R, V] with row_offsets int32 [bs] (n_cap slots)."""
        rows, vocab = logits.shape
        bs, nb, bl = beams.shape
        out = out if out is not None else self.accept_outputs(bs, bl)
        args = [ptr(logits), DTYPE_CODES[logits.dtype], rows, vocab, ptr(row_offsets), ptr(inv_temperature)]
        args += [DTYPE_CODES[inv_temperature.dtype], inv_temperature.numel(), ptr(beams), ptr(indices)]
        args += [ptr(gen_lengths), ptr(rand_validation), ptr(rand_sample), DTYPE_CODES[rand_sample.dtype], bs]
        args += [n_cap(nb, bl), nb, bl, top_k, top_p]
        tail = [ptr(out[k]) for k in ACCEPT_FIELDS]
        if self.backend == "device":
            status = self.lib.redrafterFusedSamplingAccept(*args, *tail, self._stream())
        else:
            status = self.lib.redrafterFusedSamplingAcceptHost(*args, 256, *tail)
        self._check(status, "fused sampling accept")
        return out


# ---------------------------------------------------------------------------------------------
# random cases (generated on the CPU with a seeded generator, then moved to the device)


def random_beams(gen: torch.Generator, bs: int, nb: int, bl: int, vocab: int) -> torch.Tensor:
    beams = torch.randint(0, vocab, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]  # shared root
    return beams


def random_logits(gen: torch.Generator, shape: tuple[int, int, int], dtype: torch.dtype, kind: str) -> torch.Tensor:
    if kind == "levels":  # few distinct values: ties everywhere
        values = torch.randint(-2, 3, shape, generator=gen).float()
    else:
        values = torch.randn(shape, generator=gen) * 4
    if kind == "specials":
        pick = torch.rand(shape, generator=gen)
        values[pick < 0.02] = float("nan")
        values[(pick >= 0.02) & (pick < 0.05)] = float("inf")
        values[(pick >= 0.05) & (pick < 0.1)] = float("-inf")
        values[(pick >= 0.1) & (pick < 0.15)] = -0.0
    return values.to(dtype)


def plant_chains(gen: torch.Generator, logits: torch.Tensor, beams: torch.Tensor, indices: torch.Tensor) -> None:
    """Make the target agree with a random beam up to a random depth in every row."""
    bs, nb, bl = beams.shape
    for b in range(bs):
        beam = int(torch.randint(nb, (1,), generator=gen))
        depth = int(torch.randint(bl, (1,), generator=gen))
        for j in range(depth):
            row = logits[b, int(indices[b, beam, j])]
            finite = row.float()[torch.isfinite(row.float())]
            top = float(finite.max()) if finite.numel() else 0.0
            tie = bool(torch.rand(1, generator=gen) < 0.2)  # a tie at a lower index stops the beam
            row[int(beams[b, beam, j + 1])] = top if tie else top + 1


def on_device(t: torch.Tensor, device: torch.device, element_offset: int = 0) -> torch.Tensor:
    """Copy to `device`, starting `element_offset` elements into a fresh buffer (any alignment)."""
    buffer = torch.zeros(element_offset + t.numel(), dtype=t.dtype, device=device)
    out = buffer[element_offset:].view(t.shape)
    out.copy_(t)
    return out


# ---------------------------------------------------------------------------------------------
# comparisons (return a list of problems; empty = equal)


def compare_pack(out: dict[str, torch.Tensor], beams: torch.Tensor, base: torch.Tensor) -> list[str]:
    got = {k: v.cpu().long() for k, v in out.items()}
    bs, nb, bl = beams.shape
    cap = n_cap(nb, bl)
    ref = pack_beams(beams)
    n = ref.tokens.shape[1]
    words = (n + 31) // 32
    padding_rows = torch.eye(cap, dtype=torch.bool)[n:].expand(bs, -1, -1)  # slots >= n see only themselves
    checks = {
        "gen_lengths": torch.equal(got["gen_lengths"], ref.gen_lengths),
        "draft_indices": torch.equal(got["draft_indices"], ref.draft_indices),
        "tokens": torch.equal(got["tokens"][:, :n], ref.tokens) and not got["tokens"][:, n:].any(),
        "offsets": torch.equal(got["offsets"][:, :n], ref.position_offsets) and not got["offsets"][:, n:].any(),
        "position_ids": torch.equal(got["position_ids"], base[:, None] + got["offsets"])
        and torch.equal(got["position_ids"][:, :n], base[:, None] + ref.position_offsets),
        "mask": torch.equal(got["mask"][:, :n, :words], ref.packed_mask.long())
        and not got["mask"][:, :n, words:].any()
        and torch.equal(unpack_mask_bits(got["mask"][:, n:], cap), padding_rows),
    }
    return [f"{k} differs" for k, ok in checks.items() if not ok]


def reference_accept(logits_cpu: torch.Tensor, beams: torch.Tensor, indices: torch.Tensor) -> dict[str, torch.Tensor]:
    acc = accept_greedy(logits_cpu.argmax(-1), beams, indices)
    return {
        "num_accepted_tokens": acc.num_accepted_tokens,
        "accepted_beam_index": acc.accepted_beam_index,
        "next_token": acc.next_token,
        "hidden_index": acc.hidden_index,
        "path_indices": acc.path_indices,
        "accepted_tokens": acc.accepted_tokens,
    }


def compare_accept(out: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> list[str]:
    return [f"{k} differs" for k in ACCEPT_FIELDS if not torch.equal(out[k].cpu().long(), ref[k])]


# ---------------------------------------------------------------------------------------------
# correctness


class Tally:
    def __init__(self, name: str) -> None:
        self.name, self.cases, self.mismatches, self.first = name, 0, 0, ""
        self.flagged = 0  # rows allowed to differ by rounding (sampling kernels; see docs/plugins.md)

    def add(self, problems: list[str], describe: Callable[[], str]) -> None:
        self.cases += 1
        if problems:
            self.mismatches += 1
            self.first = self.first or f"{describe()}: {', '.join(problems)}"

    def line(self) -> str:
        text = f"  {self.name:<16} {self.cases:>6} cases   {self.mismatches:>4} mismatches"
        text += f"   ({self.flagged} rows near a rounding boundary)" if self.flagged else ""
        return text + (f"   first: {self.first}" if self.first else "")


EDGE_BEAMS = {
    "one beam": torch.tensor([[[5, 6, 7, 8]], [[1, 1, 1, 1]]]),
    "beam length 1": torch.tensor([[[4], [4], [4]], [[2], [2], [2]]]),
    "identical beams": torch.tensor([[[1, 2, 3, 4]] * 5]),
    "distinct beams": torch.stack([torch.tensor([9, 100 + i, 200 + i]) for i in range(17)])[None],
    "rows differ": torch.tensor([[[1, 2, 3], [1, 2, 3]], [[4, 5, 6], [4, 7, 8]], [[0, 0, 1], [0, 0, 2]]]),
    "docs example": torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]]),
}


def check_pack(kernels: Kernels, cases: int, gen: torch.Generator) -> Tally:
    tally = Tally("pack_beams")
    configs = [(beams, f"edge case '{name}'") for name, beams in EDGE_BEAMS.items()]
    for _ in range(cases):
        bs, nb, bl = (int(torch.randint(1, m + 1, (1,), generator=gen)) for m in (8, 16, 8))
        vocab = int(torch.randint(1, 7, (1,), generator=gen))
        configs.append((random_beams(gen, bs, nb, bl, vocab), f"bs={bs} nb={nb} bl={bl} vocab={vocab}"))
    for beams, label in configs:
        base = torch.randint(0, 1 << 20, (beams.shape[0],), generator=gen)
        out = kernels.pack(on_device(beams.int(), kernels.device), on_device(base.int(), kernels.device))
        tally.add(compare_pack(out, beams, base), lambda label=label: label)
    return tally


def check_accept(kernels: Kernels, cases: int, gen: torch.Generator) -> tuple[Tally, Tally]:
    accept_tally, argmax_tally = Tally("greedy_accept"), Tally("packed_argmax")
    dtypes = list(DTYPE_CODES)
    kinds = ["normal", "levels", "specials"]
    configs = [(beams, 12, torch.float32, "normal", f"edge case '{name}'") for name, beams in EDGE_BEAMS.items()]
    for _ in range(cases):
        bs, nb, bl = (int(torch.randint(1, m + 1, (1,), generator=gen)) for m in (6, 12, 8))
        beams = random_beams(gen, bs, nb, bl, int(torch.randint(1, 7, (1,), generator=gen)))
        vocab = int(torch.randint(int(beams.max()) + 1, 2049, (1,), generator=gen))
        dtype = dtypes[int(torch.randint(3, (1,), generator=gen))]
        kind = kinds[int(torch.randint(3, (1,), generator=gen))]
        configs.append((beams, vocab, dtype, kind, f"bs={bs} nb={nb} bl={bl} V={vocab} {DTYPE_NAMES[dtype]} {kind}"))
    for beams, vocab, dtype, kind, label in configs:
        vocab = max(vocab, int(beams.max()) + 1)
        bs, nb, bl = beams.shape
        tree = pack_beams(beams)
        n = tree.tokens.shape[1]
        slots = [n, n_cap(nb, bl), n_cap(nb, bl) + 3][int(torch.randint(3, (1,), generator=gen))]
        logits = random_logits(gen, (bs, slots, vocab), dtype, kind)
        if kind != "specials":
            plant_chains(gen, logits, beams, tree.draft_indices)
        offset = int(torch.randint(8, (1,), generator=gen))
        device_logits = on_device(logits, kernels.device, offset)
        gen_lengths = on_device(tree.gen_lengths.int(), kernels.device)
        out = kernels.accept(
            device_logits,
            on_device(beams.int(), kernels.device),
            on_device(tree.draft_indices.int(), kernels.device),
            gen_lengths,
        )
        describe = lambda label=label, offset=offset, slots=slots: f"{label} slots={slots} offset={offset}"  # noqa: E731
        accept_tally.add(compare_accept(out, reference_accept(logits, beams, tree.draft_indices)), describe)
        got = kernels.argmax(device_logits, gen_lengths).cpu().long()
        real = torch.arange(slots)[None, :] < tree.gen_lengths[:, None]
        ok = torch.equal(got[real], logits.argmax(-1)[real]) and bool((got[~real] == -1).all())
        argmax_tally.add([] if ok else ["argmax differs"], describe)
    return accept_tally, argmax_tally


def check_large_vocab(kernels: Kernels, gen: torch.Generator, vocabs: list[int]) -> Tally:
    """Realistic vocabularies (many vector iterations per thread), every dtype, vs the CPU reference."""
    tally = Tally("large vocab")
    bs, nb, bl = 4, 8, 5
    for vocab in vocabs:
        for dtype in DTYPE_CODES:
            beams = random_beams(gen, bs, nb, bl, 4) * (vocab // 5)  # token ids spread over the vocabulary
            tree = pack_beams(beams)
            logits = random_logits(gen, (bs, n_cap(nb, bl), vocab), dtype, "normal")
            plant_chains(gen, logits, beams, tree.draft_indices)
            out = kernels.accept(
                on_device(logits, kernels.device),
                on_device(beams.int(), kernels.device),
                on_device(tree.draft_indices.int(), kernels.device),
                on_device(tree.gen_lengths.int(), kernels.device),
            )
            ref = reference_accept(logits, beams, tree.draft_indices)
            tally.add(compare_accept(out, ref), lambda v=vocab, d=dtype: f"V={v} {DTYPE_NAMES[d]}")
    return tally


# ---------------------------------------------------------------------------------------------
# sampling kernels: warp_softmax (vs softmax(warp_logits)) and sampling_accept (vs accept_sampling)


def f32(x: float) -> float:
    return float(torch.tensor(x, dtype=torch.float32))


def warp_reference(x: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    return torch.softmax(warp_logits(x.float(), temperature, top_k, top_p), dim=-1)


def warp_row_problems(got: torch.Tensor, x: torch.Tensor, inv: float, top_k: int, top_p: float) -> list[str] | None:
    """Compare one real row (CPU tensors). None: the row is near a rounding boundary of the cut
    (not compared); [] when equal. Ties across the top-p cut are compared with the kernel's
    documented rule (the whole tie group is kept)."""
    temperature = 1.0 / inv
    y = warp_logits(x.float(), temperature)
    finite = y[torch.isfinite(y)]
    scale = 1.0 + float(finite.abs().max())
    vocab = y.shape[-1]
    ref = warp_reference(x, temperature, top_k, top_p)
    if 0 < top_k < vocab:
        ranked = y.sort(descending=True).values
        kth, after = float(ranked[top_k - 1]), float(ranked[top_k])
        if kth != after and kth - after <= 1e-5 * (1 + abs(kth)):
            return None
    if top_p < 1.0:
        q = warp_reference(x, temperature, top_k, 1.0).double()
        yk = warp_logits(x.float(), temperature, top_k, 1.0)
        order = yk.argsort()
        ascending = yk[order]
        cum = q[order].cumsum(0)
        mass = cum[torch.searchsorted(ascending, ascending, right=True) - 1]  # tie groups whole
        cut = f32(1 - top_p)
        if float(torch.minimum((cum - cut).abs().min(), (mass - cut).abs().min())) < CUT_MARGIN * scale:
            return None
        keep = torch.empty_like(q, dtype=torch.bool)
        keep[order] = (mass > cut) | (ascending == ascending[-1])
        kept = q * (keep & (q > 0))
        ref = (kept / kept.sum()).float()
    kept = ref > 0
    problems = []
    if not torch.equal(got > 0, kept):
        problems.append(f"mask differs at {int(((got > 0) != kept).sum())} tokens")
    elif float(((got - ref).abs() / ref)[kept].max()) > 1e-6 + 5e-7 * scale:
        problems.append(f"probabilities differ (relative {float(((got - ref).abs() / ref)[kept].max()):.2e})")
    return problems


def check_warp_rows(tally: Tally, out: torch.Tensor, logits, inv, gen_lengths, top_k, top_p, describe) -> None:
    got_all = out.cpu()
    problems = []
    for b in range(logits.shape[0]):
        inv_b = float(inv[0 if inv.numel() == 1 else b])
        for p in range(logits.shape[1]):
            if p >= int(gen_lengths[b]):
                if got_all[b, p].any():
                    problems.append(f"padding slot ({b}, {p}) not zero")
                continue
            row = warp_row_problems(got_all[b, p], logits[b, p], inv_b, top_k, top_p)
            if row is None:
                tally.flagged += 1
            else:
                problems += [f"row ({b}, {p}): {m}" for m in row]
    tally.add(problems[:3], describe)


def check_warp(kernels: Kernels, cases: int, gen: torch.Generator, large_vocabs: list[int]) -> Tally:
    tally = Tally("warp_softmax")
    dtypes = list(DTYPE_CODES)
    configs = []
    for _ in range(cases):
        bs, slots = int(torch.randint(1, 5, (1,), generator=gen)), int(torch.randint(1, 9, (1,), generator=gen))
        vocab = int(torch.randint(1, 4097, (1,), generator=gen))
        pick = torch.randint(6, (2,), generator=gen).tolist()
        top_k = [0, 0, 1, vocab, *torch.randint(1, vocab + 1, (2,), generator=gen).tolist()][pick[0]]
        top_p = [1.0, 1.0, 1.0, f32(0.05 + 0.94 * float(torch.rand(1, generator=gen))), f32(0.5), f32(0.9)][pick[1]]
        kind = ["normal", "levels"][int(torch.randint(2, (1,), generator=gen))]
        configs.append((bs, slots, vocab, dtypes[int(torch.randint(3, (1,), generator=gen))], kind, top_k, top_p))
    for vocab in large_vocabs:  # realistic vocabularies, every dtype, top-k 50 and top-p 0.9
        configs += [(2, 3, vocab, dtype, "normal", 50, f32(0.9)) for dtype in dtypes]
    for bs, slots, vocab, dtype, kind, top_k, top_p in configs:
        if kind == "levels":  # few distinct values: ties everywhere
            logits = torch.randint(-2, 3, (bs, slots, vocab), generator=gen).float().to(dtype)
        else:
            logits = (torch.randn(bs, slots, vocab, generator=gen) * 3).to(dtype)
        count = [1, bs][int(torch.randint(2, (1,), generator=gen))]
        inv = (torch.rand(count, generator=gen) * 2 + 0.3).to(dtypes[int(torch.randint(3, (1,), generator=gen))])
        gen_lengths = torch.randint(0, slots + 1, (bs,), generator=gen)
        offset = int(torch.randint(8, (1,), generator=gen))
        dev = kernels.device
        logits_d, inv_d, gen_d = on_device(logits, dev, offset), on_device(inv, dev), on_device(gen_lengths.int(), dev)
        out = kernels.warp(logits_d, inv_d, gen_d, top_k, top_p)
        label = f"bs={bs} slots={slots} V={vocab} {DTYPE_NAMES[dtype]} {kind} top_k={top_k} top_p={top_p:.3f}"
        check_warp_rows(tally, out, logits, inv, gen_lengths, top_k, top_p, lambda label=label: label)
    return tally


def planted_probs(gen: torch.Generator, beams: torch.Tensor, indices: torch.Tensor, vocab: int) -> torch.Tensor:
    """Reference-warped probabilities [bs, n, V] of random logits in which each drafted child is
    boosted at its parent's slot (acceptance lengths vary)."""
    bs, nb, bl = beams.shape
    n = int(indices.max()) + 1
    logits = torch.randn(bs, n, vocab, generator=gen) * 2
    boost = torch.rand(bs, nb, max(bl - 1, 1), generator=gen) * 8
    for j in range(bl - 1):
        rows = torch.arange(bs)[:, None].expand(bs, nb)
        logits[rows, indices[:, :, j], beams[:, :, j + 1]] += boost[:, :, j]
    temperature = [0.5, 1.0, 1.5][int(torch.randint(3, (1,), generator=gen))]
    top_k = [0, 1, 2, 20][int(torch.randint(4, (1,), generator=gen))]
    top_p = [1.0, 0.7][int(torch.randint(2, (1,), generator=gen))]
    return torch.softmax(warp_logits(logits, temperature, top_k, top_p), dim=-1)


def sampling_problems(got: dict, probs, beams, indices, rand_validation, rand_sample) -> tuple[list[str], int]:
    """Compare with accept_sampling; rows may differ only in the sampled token and only when the
    target lies within SAMPLE_MARGIN of a cdf value. Returns (problems, near-boundary rows)."""
    got = {k: v.cpu().long() for k, v in got.items()}
    ref = accept_sampling(probs, beams, indices, rand_validation.float(), rand_sample.float())
    bs, nb, bl = beams.shape
    rows = torch.arange(bs)
    node, depth = ref.hidden_index, ref.num_accepted_tokens - 1
    p_node = probs[rows, node]
    vocab = p_node.shape[-1]
    rejected = depth < bl - 1
    through = indices.gather(2, depth[:, None, None].expand(bs, nb, 1))[..., 0] == node[:, None]
    is_child = through & rejected[:, None]
    tokens = beams.gather(2, (depth + 1).clamp(max=bl - 1)[:, None, None].expand(bs, nb, 1))[..., 0]
    mask = torch.zeros_like(p_node).scatter_reduce(1, torch.where(is_child, tokens, 0), is_child.float(), "amax")
    residual = p_node * (1 - mask)
    cdf = torch.where((residual.sum(-1) > 0)[:, None], residual, p_node).cumsum(-1)
    total = cdf[:, -1]
    target = rand_sample.float() * total
    idx = (cdf <= target[:, None]).sum(-1)
    below = torch.where(idx > 0, cdf.gather(1, (idx - 1).clamp(min=0)[:, None])[:, 0], torch.zeros_like(total))
    at = cdf.gather(1, idx.clamp(max=vocab - 1)[:, None])[:, 0]
    above = torch.where(idx < vocab, at, torch.full_like(total, float("inf")))
    gap = torch.minimum(target - below, above - target).double() / total.double().clamp_min(1e-300)
    near = gap < SAMPLE_MARGIN
    problems = []
    for k in ACCEPT_FIELDS:
        differ = got[k] != getattr(ref, k)
        differ = differ if differ.dim() == 1 else differ.any(-1)
        if k in ("next_token", "accepted_tokens"):
            differ &= ~near  # the sampled token may differ at a rounding boundary; the walk may not
        if differ.any():
            problems.append(f"{k} differs")
    return problems, int(near.sum())


def check_sampling(kernels: Kernels, cases: int, gen: torch.Generator, large_vocabs: list[int]) -> tuple[Tally, Tally]:
    tally, chained = Tally("sampling_accept"), Tally("warp+accept")
    dtypes = list(DTYPE_CODES)
    configs = [(beams, 12, f"edge case '{name}'") for name, beams in EDGE_BEAMS.items()]
    for _ in range(cases):
        bs, nb, bl = (int(torch.randint(1, m + 1, (1,), generator=gen)) for m in (6, 12, 8))
        beams = random_beams(gen, bs, nb, bl, int(torch.randint(1, 7, (1,), generator=gen)))
        vocab = int(torch.randint(int(beams.max()) + 1, 2049, (1,), generator=gen))
        configs.append((beams, vocab, f"bs={bs} nb={nb} bl={bl} V={vocab}"))
    configs += [(random_beams(gen, 4, 8, 5, 4) * (v // 5), v, f"V={v}") for v in large_vocabs]
    dev = kernels.device
    for case, (beams, vocab, label) in enumerate(configs):
        vocab = max(vocab, int(beams.max()) + 1)
        bs, nb, bl = beams.shape
        tree = pack_beams(beams)
        n = tree.tokens.shape[1]
        probs = planted_probs(gen, beams, tree.draft_indices, vocab)
        slots = [n, n_cap(nb, bl), n_cap(nb, bl) + 3][int(torch.randint(3, (1,), generator=gen))]
        padded = torch.full((bs, slots, vocab), float("nan"))  # padding slots must never be read
        padded[:, :n] = probs
        rand_dtype = dtypes[int(torch.randint(3, (1,), generator=gen))]
        rand_validation = torch.rand(bs, nb, bl - 1, generator=gen).to(rand_dtype)
        rand_sample = torch.rand(bs, generator=gen).to(rand_dtype)
        beams_d, indices_d = on_device(beams.int(), dev), on_device(tree.draft_indices.int(), dev)
        gen_d = on_device(tree.gen_lengths.int(), dev)
        rv_d, rs_d = on_device(rand_validation, dev), on_device(rand_sample, dev)
        out = kernels.sample_accept(on_device(padded, dev), beams_d, indices_d, gen_d, rv_d, rs_d)
        problems, near = sampling_problems(out, probs, beams, tree.draft_indices, rand_validation, rand_sample)
        tally.flagged += near
        describe = lambda label=label, slots=slots, dt=rand_dtype: f"{label} slots={slots} u {DTYPE_NAMES[dt]}"  # noqa: E731
        tally.add(problems, describe)
        if case % 10 == 0:  # the two kernels chained, vs accept_sampling on the kernel's own probabilities
            logits = (torch.randn(bs, n_cap(nb, bl), vocab, generator=gen) * 3).to(torch.bfloat16)
            warped = kernels.warp(on_device(logits, dev), on_device(torch.tensor([0.8]), dev), gen_d, 20, f32(0.9))
            out = kernels.sample_accept(warped, beams_d, indices_d, gen_d, rv_d, rs_d)
            problems, near = sampling_problems(
                out, warped.cpu()[:, :n], beams, tree.draft_indices, rand_validation, rand_sample
            )
            chained.flagged += near
            chained.add(problems, describe)
    return tally, chained


def flat_rows(padded: torch.Tensor, gen_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The engine step's flat logits [R, V]: one context row, then each request's real rows."""
    parts, offsets, row = [torch.zeros(1, padded.shape[-1], dtype=padded.dtype)], [], 1
    for b, n in enumerate(gen_lengths.tolist()):
        offsets.append(row)
        parts.append(padded[b, :n])
        row += n
    return torch.cat(parts), torch.tensor(offsets, dtype=torch.int32)


def check_fused(kernels: Kernels, cases: int, gen: torch.Generator, large_vocabs: list[int]) -> Tally:
    """fused_sampling_accept against accept_sampling on warp_softmax's probabilities from the same
    backend (bit-identical to the fused kernel's: the same functions, the same expf): the walk
    exactly, the sampled token except at cdf-boundary rows."""
    tally = Tally("fused_sampling")
    dev = kernels.device
    configs = []
    for _ in range(cases):
        bs, nb, bl = (int(torch.randint(1, m + 1, (1,), generator=gen)) for m in (6, 12, 8))
        beams = random_beams(gen, bs, nb, bl, int(torch.randint(1, 7, (1,), generator=gen)))
        configs.append((beams, int(torch.randint(int(beams.max()) + 1, 4097, (1,), generator=gen))))
    configs += [(random_beams(gen, 4, 8, 5, 4) * (v // 5), v) for v in large_vocabs]
    for beams, vocab in configs:
        bs, nb, bl = beams.shape
        tree = pack_beams(beams)
        n = tree.tokens.shape[1]
        dtype = list(DTYPE_CODES)[int(torch.randint(3, (1,), generator=gen))]
        logits = torch.randn(bs, n_cap(nb, bl), vocab, generator=gen) * 2
        for j in range(bl - 1):  # plant the drafts so that acceptance lengths vary
            rows = torch.arange(bs)[:, None].expand(bs, nb)
            logits[rows, tree.draft_indices[:, :, j], beams[:, :, j + 1]] += 6 * torch.rand(bs, nb, generator=gen)
        logits = logits.to(dtype)
        top_k, top_p = [(0, 1.0), (20, f32(0.9)), (1, 1.0), (0, f32(0.7))][int(torch.randint(4, (1,), generator=gen))]
        inv = torch.tensor([[0.8, 1.0, 1.6][int(torch.randint(3, (1,), generator=gen))]])
        flat, offsets = flat_rows(logits, tree.gen_lengths)
        rv, rs = torch.rand(bs, nb, bl - 1, generator=gen), torch.rand(bs, generator=gen)
        beams_d, indices_d = on_device(beams.int(), dev), on_device(tree.draft_indices.int(), dev)
        gen_d, inv_d = on_device(tree.gen_lengths.int(), dev), on_device(inv[0], dev)
        out = kernels.fused_accept(on_device(flat, dev), on_device(offsets, dev), inv_d, beams_d, indices_d, gen_d,
                                   on_device(rv, dev), on_device(rs, dev), top_k, top_p)  # fmt: skip
        probs = kernels.warp(on_device(logits, dev), inv_d, gen_d, top_k, top_p).cpu()[:, :n]
        problems, near = sampling_problems(out, probs, beams, tree.draft_indices, rv, rs)
        tally.flagged += near
        tally.add(problems, lambda b=beams, v=vocab, d=dtype: f"{tuple(b.shape)} V={v} {DTYPE_NAMES[d]}")
    return tally


# ---------------------------------------------------------------------------------------------
# timing


def timed_us(kernels: Kernels, fn: Callable[[], object], iterations: int, repeats: int) -> float:
    """Median over `repeats` of the mean time per call of `iterations` back-to-back calls."""
    fn()  # warm-up (and first-call allocations)
    results = []
    for _ in range(repeats):
        if kernels.backend == "device":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iterations):
                fn()
            end.record()
            end.synchronize()
            results.append(start.elapsed_time(end) * 1000 / iterations)
        else:
            t0 = time.perf_counter()
            for _ in range(iterations):
                fn()
            results.append((time.perf_counter() - t0) * 1e6 / iterations)
    return statistics.median(results)


def reference_on(device: torch.device, fn: Callable[[], object]) -> Callable[[], object]:
    """Run the reference with `device` as the default device for the tensors it creates."""

    def run() -> object:
        with device:
            return fn()

    return run


PACK_SIZES = [(1, 4, 4), (8, 8, 5), (16, 16, 6), (32, 32, 8), (64, 64, 8)]
ACCEPT_SIZES = [
    (1, 4, 4, 32000, torch.float16),
    (8, 8, 5, 32000, torch.bfloat16),
    (16, 16, 6, 128256, torch.bfloat16),
    (32, 32, 8, 152064, torch.bfloat16),
    (64, 64, 8, 152064, torch.bfloat16),
    (8, 8, 5, 152064, torch.float32),
]


TABLE_HEADER = "  op                bs  nb  bl   vocab dtype  kernel_us  reference_us  speedup   floor_us  x_floor"
# fused_sampling_accept: logits of the dtype on the flat layout; (top_k, top_p); the goal shape
# is nb 8, bl 5, V 128k, bf16 at bs 8 and 64
FUSED_SIZES = [
    (8, 8, 5, 128256, torch.bfloat16, 0, 1.0),
    (8, 8, 5, 128256, torch.bfloat16, 50, 0.9),
    (64, 8, 5, 128256, torch.bfloat16, 0, 1.0),
    (64, 8, 5, 128256, torch.bfloat16, 50, 0.9),
    (8, 64, 8, 152064, torch.float16, 50, 0.9),
]


# warp_softmax: logits of the dtype, top-k 50 and top-p 0.9 (every pass of the kernel) unless noted
WARP_SIZES = [
    (1, 4, 4, 32000, torch.float16, 50, 0.9),
    (8, 8, 5, 32000, torch.bfloat16, 0, 1.0),
    (8, 8, 5, 32000, torch.bfloat16, 50, 0.9),
    (16, 16, 6, 128256, torch.bfloat16, 50, 0.9),
    (32, 32, 8, 152064, torch.bfloat16, 50, 0.9),
]
# sampling_accept: float32 probabilities; the dtype column is the uniforms'
SAMPLE_SIZES = [
    (1, 4, 4, 32000, torch.float32),
    (8, 8, 5, 32000, torch.float32),
    (16, 16, 6, 128256, torch.bfloat16),
    (32, 32, 8, 152064, torch.float32),
    (64, 64, 8, 152064, torch.float32),
]


def time_all(kernels: Kernels, gen: torch.Generator, iterations: int, repeats: int, small: bool) -> list[str]:
    rows = [TABLE_HEADER]
    pack_sizes = PACK_SIZES[:2] if small else PACK_SIZES
    accept_sizes = [(bs, nb, bl, 1000, dt) for bs, nb, bl, _, dt in ACCEPT_SIZES[:2]] if small else ACCEPT_SIZES
    warp_sizes = [(bs, nb, bl, 1000, *rest) for bs, nb, bl, _, *rest in WARP_SIZES[:3]] if small else WARP_SIZES
    sample_sizes = [(bs, nb, bl, 1000, dt) for bs, nb, bl, _, dt in SAMPLE_SIZES[:2]] if small else SAMPLE_SIZES
    for bs, nb, bl in pack_sizes:
        rows.append(time_pack(kernels, gen, bs, nb, bl, iterations, repeats))
    jobs = [("greedy_accept", size, time_accept) for size in accept_sizes]
    jobs += [("warp_softmax", size, time_warp) for size in warp_sizes]
    jobs += [("sampling_accept", size, time_sampling) for size in sample_sizes]
    fused_sizes = [(bs, nb, bl, 1000, *rest) for bs, nb, bl, _, *rest in FUSED_SIZES[:2]] if small else FUSED_SIZES
    jobs += [("fused_sampling", size, time_fused) for size in fused_sizes]
    for op, size, timer in jobs:
        bs, nb, bl, vocab, dtype = size[:5]
        try:
            rows.append(timer(kernels, gen, *size, iterations, repeats))
        except torch.cuda.OutOfMemoryError:
            rows.append(f"  {op:<16}{bs:>4}{nb:>4}{bl:>4}{vocab:>8}{DTYPE_NAMES[dtype]:>6}  out of memory")
        if kernels.backend == "device":
            torch.cuda.empty_cache()
    return rows


def time_pack(kernels: Kernels, gen: torch.Generator, bs: int, nb: int, bl: int, iterations: int, repeats: int) -> str:
    dev = kernels.device
    beams = on_device(random_beams(gen, bs, nb, bl, 8).int(), dev)
    base = on_device(torch.randint(0, 4096, (bs,), generator=gen).int(), dev)
    out = kernels.pack_outputs(bs, nb, bl)
    kernel_us = timed_us(kernels, lambda: kernels.pack(beams, base, out), iterations, repeats)
    beams_long = beams.long()
    ref_us = try_time(kernels, reference_on(dev, lambda: pack_beams(beams_long)), iterations, repeats)
    moved = beams.numel() * 4 * 2 + sum(t.numel() * 4 for t in out.values())  # beams in, draft_indices + outputs
    return table_row("pack_beams", (bs, nb, bl, "-", "-"), kernel_us, ref_us, moved, kernels.gbps)


def timing_tree(gen: torch.Generator, bs: int, nb: int, bl: int, vocab: int, dev: torch.device):
    """Random beams over tokens spread across the vocabulary, their tree, and the int32 inputs the
    acceptance kernels take on `dev`: (tree, beams, indices, gen_lengths)."""
    beams_cpu = random_beams(gen, bs, nb, bl, 8) * (vocab // 8)
    tree = pack_beams(beams_cpu)
    beams, indices = on_device(beams_cpu.int(), dev), on_device(tree.draft_indices.int(), dev)
    return tree, beams, indices, on_device(tree.gen_lengths.int(), dev)


def time_accept(
    kernels: Kernels,
    gen: torch.Generator,
    bs: int,
    nb: int,
    bl: int,
    vocab: int,
    dtype: torch.dtype,
    iterations: int,
    repeats: int,
) -> str:
    dev = kernels.device
    tree, beams, indices, gen_lengths = timing_tree(gen, bs, nb, bl, vocab, dev)
    n = tree.tokens.shape[1]
    logits = torch.randn(bs, n_cap(nb, bl), vocab, device=dev, dtype=dtype)
    out = kernels.accept_outputs(bs, bl)
    kernel_us = timed_us(kernels, lambda: kernels.accept(logits, beams, indices, gen_lengths, out), iterations, repeats)
    beams_long, indices_long, ref_logits = beams.long(), indices.long(), logits[:, :n]
    ref = reference_on(dev, lambda: accept_greedy(ref_logits.argmax(-1), beams_long, indices_long))
    ref_us = try_time(kernels, ref, iterations, repeats)
    moved = int(tree.gen_lengths.sum()) * vocab * logits.element_size()  # every real slot's logits, once
    return table_row("greedy_accept", (bs, nb, bl, str(vocab), DTYPE_NAMES[dtype]), kernel_us, ref_us, moved,
                     kernels.gbps)  # fmt: skip


def time_warp(
    kernels: Kernels,
    gen: torch.Generator,
    bs: int,
    nb: int,
    bl: int,
    vocab: int,
    dtype: torch.dtype,
    top_k: int,
    top_p: float,
    iterations: int,
    repeats: int,
) -> str:
    dev = kernels.device
    tree = pack_beams(random_beams(gen, bs, nb, bl, 8))
    n = tree.tokens.shape[1]
    logits = torch.randn(bs, n_cap(nb, bl), vocab, device=dev, dtype=dtype) * 3
    inv = torch.full((bs,), 1.25, device=dev)
    gen_lengths = on_device(tree.gen_lengths.int(), dev)
    out = torch.empty(bs, n_cap(nb, bl), vocab, device=dev)
    top_p = f32(top_p)
    kernel_us = timed_us(
        kernels, lambda: kernels.warp(logits, inv, gen_lengths, top_k, top_p, out), iterations, repeats
    )
    ref_logits = logits[:, :n]
    ref = reference_on(dev, lambda: torch.softmax(warp_logits(ref_logits.float(), 0.8, top_k, top_p), dim=-1))
    ref_us = try_time(kernels, ref, iterations, repeats)
    name = "warp_softmax" if top_k or top_p < 1 else "warp_softmax T"
    moved = int(tree.gen_lengths.sum()) * vocab * logits.element_size() + out.numel() * 4  # logits in, probs out
    return table_row(name, (bs, nb, bl, str(vocab), DTYPE_NAMES[dtype]), kernel_us, ref_us, moved, kernels.gbps)


def time_sampling(
    kernels: Kernels,
    gen: torch.Generator,
    bs: int,
    nb: int,
    bl: int,
    vocab: int,
    dtype: torch.dtype,
    iterations: int,
    repeats: int,
) -> str:
    dev = kernels.device
    tree, beams, indices, gen_lengths = timing_tree(gen, bs, nb, bl, vocab, dev)
    n = tree.tokens.shape[1]
    probs = torch.rand(bs, n_cap(nb, bl), vocab, device=dev)
    probs /= probs.sum(-1, keepdim=True)
    rand_validation = torch.rand(bs, nb, bl - 1, device=dev).to(dtype)
    rand_sample = torch.rand(bs, device=dev).to(dtype)
    out = kernels.accept_outputs(bs, bl)

    def kernel() -> object:
        return kernels.sample_accept(probs, beams, indices, gen_lengths, rand_validation, rand_sample, out)

    kernel_us = timed_us(kernels, kernel, iterations, repeats)
    beams_long, indices_long, ref_probs = beams.long(), indices.long(), probs[:, :n]
    rv, rs = rand_validation.float(), rand_sample.float()
    ref = reference_on(dev, lambda: accept_sampling(ref_probs, beams_long, indices_long, rv, rs))
    ref_us = try_time(kernels, ref, iterations, repeats)
    moved = int(out["num_accepted_tokens"].sum()) * vocab * 4  # the visited nodes' probability rows, once
    return table_row("sampling_accept", (bs, nb, bl, str(vocab), DTYPE_NAMES[dtype]), kernel_us, ref_us, moved,
                     kernels.gbps)  # fmt: skip


def time_fused(
    kernels: Kernels,
    gen: torch.Generator,
    bs: int,
    nb: int,
    bl: int,
    vocab: int,
    dtype: torch.dtype,
    top_k: int,
    top_p: float,
    iterations: int,
    repeats: int,
) -> str:
    dev = kernels.device
    tree, beams, indices, gen_lengths = timing_tree(gen, bs, nb, bl, vocab, dev)
    n = tree.tokens.shape[1]
    logits_cpu = (torch.randn(bs, n_cap(nb, bl), vocab, generator=gen) * 3).to(dtype)
    flat_cpu, offsets_cpu = flat_rows(logits_cpu, tree.gen_lengths)
    flat, offsets = on_device(flat_cpu, dev), on_device(offsets_cpu, dev)
    inv = on_device(torch.tensor([1.25]), dev)
    rand_validation, rand_sample = torch.rand(bs, nb, bl - 1, device=dev), torch.rand(bs, device=dev)
    out = kernels.accept_outputs(bs, bl)
    top_p = f32(top_p)

    def kernel() -> object:
        return kernels.fused_accept(flat, offsets, inv, beams, indices, gen_lengths, rand_validation, rand_sample,
                                    top_k, top_p, out)  # fmt: skip

    kernel_us = timed_us(kernels, kernel, iterations, repeats)
    ref_logits = on_device(logits_cpu[:, :n], dev)
    beams_long, indices_long, rv, rs = beams.long(), indices.long(), rand_validation, rand_sample

    def reference() -> object:
        probs = torch.softmax(warp_logits(ref_logits.float(), 0.8, top_k, top_p), dim=-1)
        return accept_sampling(probs, beams_long, indices_long, rv, rs)

    ref_us = try_time(kernels, reference_on(dev, reference), iterations, repeats)
    moved = int(out["num_accepted_tokens"].sum()) * vocab * flat.element_size()  # the visited rows, once
    name = "fused_sampling" if top_k or top_p < 1 else "fused_sampling T"
    return table_row(name, (bs, nb, bl, str(vocab), DTYPE_NAMES[dtype]), kernel_us, ref_us, moved, kernels.gbps)


def try_time(kernels: Kernels, fn: Callable[[], object], iterations: int, repeats: int) -> float | None:
    try:
        return timed_us(kernels, fn, iterations, repeats)
    except Exception as error:  # the reference on this device failed: report, keep going
        print(f"  (reference failed: {type(error).__name__}: {error})")
        return None


def measure_bandwidth_gbps(kernels: Kernels) -> float:
    """Achievable memory bandwidth of the backend's device: a 1 GiB copy (read + write), median of 5."""
    src = torch.empty(1 << 28, dtype=torch.float32, device=kernels.device)
    dst = torch.empty_like(src)
    seconds = timed_us(kernels, lambda: dst.copy_(src), 3, 5) / 1e6
    return 2 * src.numel() * 4 / seconds / 1e9


def table_row(op: str, size: tuple, kernel_us: float, ref_us: float | None, floor_bytes: float, gbps: float) -> str:
    """One timing row; floor_us = the bytes the op must move over the memory bandwidth."""
    bs, nb, bl, vocab, dtype = size
    ref = f"{ref_us:14.1f}" if ref_us is not None else f"{'n/a':>14}"
    speedup = f"{ref_us / kernel_us:8.1f}x" if ref_us is not None else f"{'n/a':>9}"
    floor_us = floor_bytes / (gbps * 1e3)
    row = f"  {op:<16}{bs:>4}{nb:>4}{bl:>4}{vocab:>8}{dtype:>6}{kernel_us:11.1f}{ref}{speedup}"
    return row + f"{floor_us:11.2f}{kernel_us / floor_us:8.1f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--backend", choices=["device", "host"], default="device")
    parser.add_argument("--cases", type=int, default=2000, help="random cases per kernel (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--small", action="store_true", help="small timing sizes and vocabularies (dry runs)")
    floor_help = "memory bandwidth for the floor column (default: measured with a device copy)"
    parser.add_argument("--bandwidth-gbps", type=float, default=None, help=floor_help)
    args = parser.parse_args(argv)

    if args.backend == "device":
        if not torch.cuda.is_available():
            print("RESULT: ERROR (torch sees no CUDA device)")
            return 2
        major, minor = torch.cuda.get_device_capability()
        gpu = f"{torch.cuda.get_device_name()} (sm_{major}{minor})"
        where = f"{gpu}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    else:
        where = f"host library on CPU, torch {torch.__version__}"
    print(f"== ReDrafter kernel check: {where}")
    kernels = Kernels(args.library, args.backend)
    gen = torch.Generator().manual_seed(args.seed)

    t0 = time.perf_counter()
    print("correctness (element for element vs the PyTorch reference on CPU)")
    large_vocabs = [1000, 3001] if args.small else [32000, 128256, 152064]
    tallies = [check_pack(kernels, args.cases, gen), *check_accept(kernels, args.cases, gen)]
    tallies.append(check_large_vocab(kernels, gen, large_vocabs))
    tallies.append(check_warp(kernels, max(1, args.cases // 4), gen, large_vocabs))
    tallies += check_sampling(kernels, args.cases, gen, large_vocabs)
    tallies.append(check_fused(kernels, max(1, args.cases // 2), gen, large_vocabs))
    for tally in tallies:
        print(tally.line())
    print(f"  ({time.perf_counter() - t0:.0f} s)")

    if not args.skip_timing:
        clock = "CUDA events" if args.backend == "device" else "perf_counter"
        print(f"timing (microseconds per call, {clock}, median of {args.repeats} x {args.iterations} calls;")
        print("        reference = trtllm_redrafter's PyTorch ops on the same device)")
        kernels.gbps = args.bandwidth_gbps or measure_bandwidth_gbps(kernels)
        source = "given" if args.bandwidth_gbps else "measured: a 1 GiB device copy"
        print(f"        floor = bytes the op must move / {kernels.gbps:.0f} GB/s ({source})")
        for row in time_all(kernels, gen, args.iterations, args.repeats, args.small):
            print(row)

    mismatches = sum(t.mismatches for t in tallies)
    cases = sum(t.cases for t in tallies)
    print(f"RESULT: {'PASS' if mismatches == 0 else 'FAIL'} ({cases} cases, {mismatches} mismatches)")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
