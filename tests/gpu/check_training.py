"""GPU check of distillation: KD on CUDA learns, runs as fast as it should, and agrees with the CPU.

Run through tests/gpu/check_training.sh. Needs torch (with CUDA) and this repository: no
TensorRT, no pytest, no downloads. It makes its own tiny target (a random Llama with a
character-level tokenizer and a chat template) and its own prompts, then drives the real
commands (``distill-data``, ``distill-features``, ``train``) in-process:

    a  learns      tiny target: corpus, features, 40 KD steps on DEVICE; the mean loss of the
                   last 5 steps must be below that of the first 5
    b  online      the same with --online-target (the target runs in the loop): loss falls too
    c  agrees      3 steps in float32 (--dtype float32 --no-autocast) on the CPU and on DEVICE
                   from the same initial drafter: step-1 loss within rel 1e-3 (TF32 matmuls),
                   steps 2-3 within rel 1e-2
    d  smollm2     with --smol DIR (a converted SmolLM2-135M-Instruct directory) and the corpus
                   committed in data/distill/: features of 4 shards, 20 steps of the shipped
                   drafter's recipe; loss falls; positions/s reported
                   (skipped when no directory is given or found)

Each stage prints PASS, FAIL or SKIP and its figures; a table ends the run, then one
``RESULT:`` line. Without CUDA (and without --device cpu) it prints ``RESULT: NO GPU``, exit 0.
``--device cpu`` runs every stage on the CPU: that is how this script was tested without a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from stages import run_stages  # noqa: E402 (tests/gpu, the script's own directory)

from trtllm_redrafter.cli import main as cli  # noqa: E402

CHARS = [chr(c) for c in range(32, 127)] + ["\n"]
SPECIAL = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_target(out: Path) -> Path:
    """A random 2-layer Llama with a character-level tokenizer and a ChatML template."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + CHARS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("<\\|im_(?:start|end)\\|>|."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=None,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(out)
    return out


def prompts(root: Path) -> Path:
    """Training prompts in the shared/data layout (Alpaca-style), none of them an evaluation prompt."""
    (root / "alpaca").mkdir(parents=True)
    rows = [{"instruction": f"Count from {i} to {i + 5} and say why.", "input": "", "output": "x"} for i in range(48)]
    (root / "alpaca" / "a.json").write_text(json.dumps(rows))
    return root


def run(*argv: str) -> None:
    code = cli(list(argv))
    if code != 0:
        raise RuntimeError(f"trtllm-redrafter {' '.join(argv)} exited {code}")


def history(out: Path) -> list[dict]:
    return json.loads((out / "history.json").read_text())


def falls(rows: list[dict], n: int = 5) -> tuple[bool, str]:
    first, last = statistics.mean(r["loss"] for r in rows[:n]), statistics.mean(r["loss"] for r in rows[-n:])
    return last < first, f"loss {first:.4f} -> {last:.4f}"


def speed(rows: list[dict]) -> str:
    """Trained (i, k) positions per second, steps 2.. (the first includes warm-up)."""
    if len(rows) < 3:
        return ""
    seconds = rows[-1]["elapsed_s"] - rows[0]["elapsed_s"]
    return f"{sum(r['positions'] for r in rows[1:]) / max(seconds, 1e-9):,.0f} positions/s"


TRAIN = ("--warmup", "2", "--tokens-per-batch", "1024", "--num-steps", "3", "--eval-every", "1000", "--lr", "3e-3")


def stage_learns(work: Path, device: str, online: bool) -> tuple[bool, str]:
    target, data = work / "target", work / "data"
    corpus, feats = work / "corpus", work / "features"
    if not (corpus / "manifest.json").is_file():
        run("distill-data", "--out", str(corpus), "--model", str(target), "--data-dir", str(data),
            "--sources", "alpaca", "--temperatures", "0,1", "--max-new-tokens", "48", "--batch-size", "16",
            "--dtype", "float32",
            "--device", device)  # fmt: skip
        run("distill-features", "--data", str(corpus), "--out", str(feats), "--model", str(target),
            "--topk", "16", "--dtype", "float32", "--device", device)  # fmt: skip
    out = work / ("online" if online else "features_run")
    source = ("--online-target", "--online-topk", "16") if online else ("--features", str(feats))
    run("train", "--data", str(corpus), "--out", str(out), "--model", str(target), *source, *TRAIN,
        "--steps", "40", "--save-every", "40", "--dtype", "float32", "--device", device)  # fmt: skip
    rows = history(out)
    ok, figures = falls(rows)
    return ok, f"{figures}, {speed(rows)}"


def stage_agrees(work: Path, device: str) -> tuple[bool, str]:
    target, corpus, feats = work / "target", work / "corpus", work / "features"
    losses = {}
    for dev in ("cpu", device):
        out = work / f"agree_{dev.replace(':', '_')}"
        run("train", "--data", str(corpus), "--out", str(out), "--model", str(target), "--features", str(feats),
            *TRAIN, "--steps", "3", "--save-every", "3", "--dtype", "float32", "--no-autocast",
            "--device", dev)  # fmt: skip
        losses[dev] = [r["loss"] for r in history(out)]
    cpu, dev = losses["cpu"], losses[device]
    rel = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(cpu, dev)]
    ok = rel[0] <= 1e-3 and max(rel) <= 1e-2
    return ok, "rel. difference per step " + ", ".join(f"{r:.1e}" for r in rel)


def stage_smollm2(work: Path, device: str, smol: Path | None) -> tuple[bool | None, str]:
    corpus = REPO / "data" / "distill" / "smollm2-135m-instruct"
    if smol is None or not (smol / "config.json").is_file():
        return None, "no SmolLM2 directory (--smol DIR)"
    feats, out = work / "smol_features", work / "smol_run"
    run("distill-features", "--data", str(corpus), "--out", str(feats), "--model", str(smol),
        "--max-shards", "4", "--device", device)  # fmt: skip
    drafter = REPO / "trtllm_redrafter" / "assets" / "drafters" / "smollm2-135m-instruct"
    run("train", "--data", str(corpus), "--features", str(feats), "--out", str(out), "--model", str(smol),
        "--init-drafter", str(drafter), "--steps", "20", "--warmup", "5", "--lr", "2e-3",
        "--tokens-per-batch", "4096", "--draft-vocab-size", "8192", "--own-lm-head", "--num-draft-layers", "2",
        "--hidden-scale", "0.1", "--state-scale", "1.0", "--eval-every", "1000", "--save-every", "20",
        "--device", device)  # fmt: skip
    rows = history(out)
    ok, figures = falls(rows)
    return ok, f"{figures}, {speed(rows)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu to test this script")
    parser.add_argument("--smol", type=Path, default=None, help="a converted SmolLM2-135M-Instruct directory")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        print("RESULT: NO GPU (torch.cuda.is_available() is False); nothing was run")
        return 0
    if args.device != "cpu":
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    with tempfile.TemporaryDirectory(prefix="redrafter-train-check-") as tmp:
        work = Path(tmp)
        tiny_target(work / "target")
        prompts(work / "data")
        stages = [
            ("a learns", lambda: stage_learns(work, args.device, online=False)),
            ("b online", lambda: stage_learns(work, args.device, online=True)),
            ("c agrees", lambda: stage_agrees(work, args.device)),
            ("d smollm2", lambda: stage_smollm2(work, args.device, args.smol)),
        ]
        return run_stages(stages, args.device)


if __name__ == "__main__":
    sys.exit(main())
