"""GPU check of the reference runtime and the torch ops on CUDA (no TensorRT, no pytest, no downloads).

Run through tests/gpu/run_all.sh (or alone). Stages, each on DEVICE:

    a  ops      torch.ops.redrafter built with CUDA (torch_ops.load compiles plugins/kernels/*.cu)
                against the reference: pack_beams on random trees up to bs 64 x nb 64 x bl 8 (PAD
                tails included) exactly; greedy_accept on fp32 / fp16 / bf16 logits with V from 32k
                to 152k exactly; sampling_accept with the same uniforms: the walk exactly, the token
                except at cdf-boundary rows (<= 1%)
    c  parity   greedy decoding on DEVICE, float32, tiny Llama / Qwen2 / Mistral, kernels torch and
                ops: token ids equal to HF generate on the same DEVICE
    d  chisq    exact sampling on DEVICE (float64 tiny target, a random drafter, T = 1): the joint
                distribution of 3 tokens against the exact one, chi-square p > 1e-3
    e  speed    with --smol DIR (a converted SmolLM2-135M-Instruct directory): decode tok/s on DEVICE
                in bf16 with the shipped drafter for beam shapes 2x2, 4x4, 8x4, 16x4 with --kernels
                torch and ops, against HF generate on the same DEVICE, 128 tokens, order rotated per
                repeat, median of 3 with spread (SKIP without a directory)

Stage b, kernel times against the reference and the HBM floor, is tests/gpu/check_kernels.sh.
Each stage prints PASS, FAIL or SKIP and its figures; a table ends the run, then one ``RESULT:`` line.
Without CUDA (and without --device cpu) it prints ``RESULT: NO GPU`` and exits 0. ``--device cpu
--quick`` runs every stage on the CPU with small shapes: how this script is tested in CI
(tests/test_gpu_scripts.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from exact_sampling import PROMPT, L, V, chi_square_pvalue, exact_joint, tiny_target  # noqa: E402
from tiny_models import ARCHS, HIDDEN, VOCAB, hf_greedy, tiny_model  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "gpu"))
from stages import run_stages  # noqa: E402

from trtllm_redrafter.ops import torch_ops  # noqa: E402
from trtllm_redrafter.runtime import kernels  # noqa: E402
from trtllm_redrafter.runtime.accept import accept_greedy  # noqa: E402
from trtllm_redrafter.runtime.decode import DecodeConfig, Decoder  # noqa: E402
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter  # noqa: E402
from trtllm_redrafter.runtime.sampling import accept_sampling  # noqa: E402
from trtllm_redrafter.runtime.target import HFTarget  # noqa: E402
from trtllm_redrafter.runtime.tree import PAD, pack_beams  # noqa: E402

PROMPTS = [[5, 6, 7, 8, 9, 10], [3, 4], [11, 12, 13, 14, 15, 16, 17, 18, 19]]
FIELDS = ("num_accepted_tokens", "accepted_beam_index", "next_token", "hidden_index", "path_indices")


def random_beams(gen: torch.Generator, bs: int, nb: int, bl: int, pad: bool) -> torch.Tensor:
    beams = torch.randint(0, 4, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]
    if pad:
        lengths = torch.randint(1, bl + 1, (bs, nb, 1), generator=gen)
        beams = beams.masked_fill(torch.arange(bl)[None, None, :] >= lengths, PAD)
    return beams


def ops_shapes(quick: bool) -> list[tuple[int, int, int, int]]:
    """(bs, nb, bl, V) for the acceptance checks; pack uses (bs, nb, bl)."""
    if quick:
        return [(2, 4, 4, 4096), (3, 8, 5, 1000)]
    return [(8, 8, 5, 32000), (64, 8, 5, 49152), (8, 64, 4, 151936), (16, 16, 8, 128256), (1, 2, 3, 151936)]


def stage_ops(device: str, quick: bool) -> tuple[bool, str]:
    torch_ops.load()
    gen = torch.Generator().manual_seed(0)
    packs = 0
    for bs, nb, bl in [(1, 1, 1), (4, 8, 5), (16, 64, 4), (64, 16, 8), (64, 64, 8)][: 2 if quick else None]:
        for pad in (False, True):
            beams = random_beams(gen, bs, nb, bl, pad)
            want, got = pack_beams(beams), kernels.pack_beams(beams.to(device))
            for field in ("tokens", "gen_lengths", "draft_indices", "position_offsets", "packed_mask"):
                if not torch.equal(getattr(got, field).cpu(), getattr(want, field)):
                    return False, f"pack_beams {field} differs at bs {bs} nb {nb} bl {bl} pad {pad}"
            packs += 1
    greedy = sampled = boundary = 0
    for bs, nb, bl, vocab in ops_shapes(quick):
        beams = random_beams(gen, bs, nb, bl, pad=False)
        tree = pack_beams(beams)
        n = tree.tokens.shape[1]
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            logits = (torch.randn(bs, n, vocab, generator=gen) * 3).to(dtype)
            ref = accept_greedy(logits.float().argmax(-1), beams, tree.draft_indices)
            dev_tree = kernels.pack_beams(beams.to(device))
            got = kernels.accept_greedy(logits.to(device), beams.to(device), dev_tree)
            for field in FIELDS:
                if not torch.equal(getattr(got, field).cpu(), getattr(ref, field)):
                    return False, f"greedy_accept {field} differs at {bs}x{nb}x{bl}, V {vocab}, {dtype}"
            greedy += 1
        probs = torch.softmax(torch.randn(bs, n, vocab, generator=gen) * 2, -1)
        rv, rs = torch.rand(bs, nb, bl - 1, generator=gen), torch.rand(bs, generator=gen)
        ref = accept_sampling(probs, beams, tree.draft_indices, rv, rs)
        got = kernels.accept_sampling(probs.to(device), beams.to(device), kernels.pack_beams(beams.to(device)),
                                      rv.to(device), rs.to(device))  # fmt: skip
        for field in FIELDS[:2] + FIELDS[3:]:
            if not torch.equal(getattr(got, field).cpu(), getattr(ref, field)):
                return False, f"sampling_accept {field} differs at {bs}x{nb}x{bl}, V {vocab}"
        boundary += int((got.next_token.cpu() != ref.next_token).sum())
        sampled += bs
    ok = boundary <= max(1, sampled // 100)
    return ok, f"{packs} pack cases, {greedy} greedy cases, {sampled} sampling rows ({boundary} tokens differ)"


def stage_parity(device: str, quick: bool) -> tuple[bool, str]:
    new_tokens = 16 if quick else 40
    checked = []
    for arch in ARCHS:
        model = tiny_model(arch, torch.float32).to(device)
        ref = hf_greedy(model, PROMPTS, new_tokens)
        drafter = init_drafter(DrafterConfig(VOCAB, HIDDEN, exit_dim=48), seed=1).to(device)
        for kernel_path in ("torch", "ops"):
            cfg = DecodeConfig(num_beams=4, draft_len=3, max_new_tokens=new_tokens, kernels=kernel_path)
            rows = Decoder(HFTarget(model), drafter, cfg).generate(PROMPTS)
            if [r.token_ids for r in rows] != ref:
                return False, f"{arch} --kernels {kernel_path}: token ids differ from HF generate on {device}"
            checked.append(f"{arch}/{kernel_path}")
    return True, f"identical to HF generate: {', '.join(checked)} ({new_tokens} tokens x {len(PROMPTS)} prompts)"


def stage_chisq(device: str, quick: bool) -> tuple[bool, str]:
    samples = 4000  # the test of tests/test_sampling.py: enough for bins of expected count >= 5
    model = tiny_target()
    expected = exact_joint(model, DecodeConfig(temperature=1.0))
    drafter = init_drafter(DrafterConfig(V, model.config.hidden_size, exit_dim=48), seed=2).double().to(device)
    cfg = DecodeConfig(num_beams=3, draft_len=2, max_new_tokens=L, temperature=1.0, seed=11, lookup_ngram=0)
    rows = Decoder(HFTarget(model.to(device)), drafter, cfg).generate([PROMPT] * samples)
    counts: dict[tuple[int, ...], int] = {}
    for r in rows:
        counts[tuple(r.token_ids[:L])] = counts.get(tuple(r.token_ids[:L]), 0) + 1
    p = chi_square_pvalue(counts, expected, samples)
    return p > 1e-3, f"{samples} samples of {L} tokens, chi-square p = {p:.3g}"


def stage_speed(device: str, smol: Path | None, quick: bool) -> tuple[bool | None, str]:
    if smol is None:
        return None, "no --smol directory given"
    from trtllm_redrafter.api import ReDrafter, shipped_drafter

    drafter = shipped_drafter("smollm2-135m-instruct")
    rd = ReDrafter.load(str(smol), drafter=str(drafter) if drafter else None, dtype="bfloat16", device=device)
    prompts = [rd.encode(p) for p in ("Explain speculative decoding.", "Write a haiku about GPUs.")]
    shapes = [(2, 2)] if quick else [(2, 2), (4, 4), (8, 4), (16, 4)]
    new_tokens, repeats = (16, 1) if quick else (128, 3)
    methods = ["hf"] + [f"{nb}x{dl}/{k}" for nb, dl in shapes for k in ("torch", "ops")]
    times: dict[str, list[float]] = {m: [] for m in methods}
    tokens: dict[str, int] = {}
    for repeat in range(repeats):
        for m in methods[repeat % len(methods) :] + methods[: repeat % len(methods)]:  # rotate the order
            t0 = time.perf_counter()
            if m == "hf":
                out = hf_greedy(rd.model, prompts, new_tokens)
                tokens[m] = sum(len(o) for o in out)
            else:
                shape, k = m.split("/")
                nb, dl = map(int, shape.split("x"))
                cfg = DecodeConfig(num_beams=nb, draft_len=dl, max_new_tokens=new_tokens, kernels=k, lookup_ngram=0)
                tokens[m] = sum(len(r["token_ids"]) for r in rd.generate(prompts, cfg))
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[m].append(time.perf_counter() - t0)
    rate = {m: tokens[m] / statistics.median(t) for m, t in times.items()}
    spread = {m: (max(t) - min(t)) / statistics.median(t) for m, t in times.items()}
    figures = ", ".join(f"{m} {rate[m]:.0f} tok/s ({rate[m] / rate['hf']:.2f}x, spread {spread[m]:.0%})"
                        for m in methods)  # fmt: skip
    return True, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu to test this script")
    parser.add_argument("--quick", action="store_true", help="small shapes (what CI runs with --device cpu)")
    parser.add_argument("--smol", type=Path, default=None, help="a converted SmolLM2-135M-Instruct directory")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        print("RESULT: NO GPU (torch.cuda.is_available() is False); nothing was run")
        return 0
    if args.device != "cpu":
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    stages = [
        ("a ops", lambda: stage_ops(args.device, args.quick)),
        ("c parity", lambda: stage_parity(args.device, args.quick)),
        ("d chisq", lambda: stage_chisq(args.device, args.quick)),
        ("e speed", lambda: stage_speed(args.device, args.smol, args.quick)),
    ]
    return run_stages(stages, args.device)


if __name__ == "__main__":
    sys.exit(main())
