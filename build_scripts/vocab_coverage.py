"""How much a draft vocabulary of the V' most frequent response tokens covers, and what its head costs.

    python build_scripts/vocab_coverage.py data/distill/smollm2-135m-instruct 1024 2048 4096 8192
    python build_scripts/vocab_coverage.py data/distill/A,data/distill/B 8192 16384 \\
        --eval docs/results/distill/mt80_256_compare_ar.jsonl \\
        --drafter trtllm_redrafter/assets/drafters/smollm2-135m-instruct

The V' tokens are chosen from the corpora's responses only (training data). ``--eval`` reads a
``run --json`` file and reports the share of its answer tokens (``--mode ar`` rows where there
are any) that the vocabulary holds: a token outside it can never be drafted. ``--drafter`` takes
the architecture of a drafter and reports, for each V', its multiply-accumulates per drafted
token: the vocabulary head (exit_dim x V') and the drafter in all (every Linear weight once).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file


def response_counts(corpus: Path, vocab: int) -> torch.Tensor:
    """[vocab] how often each token occurs in the corpus's responses."""
    counts = torch.zeros(vocab, dtype=torch.long)
    manifest = json.loads((corpus / "manifest.json").read_text())
    for shard in manifest["shards"]:
        t = load_file(str(corpus / shard["file"]))
        tokens, offsets, plens = t["tokens"].long(), t["offsets"].tolist(), t["prompt_lens"].tolist()
        for j, plen in enumerate(plens):
            counts += torch.bincount(tokens[offsets[j] + plen : offsets[j + 1]], minlength=vocab)
    return counts


def answer_tokens(results: Path) -> torch.Tensor:
    """The answer token ids of a ``run --json`` file (its ``ar`` rows when it has them)."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    ar = [r for r in rows if r.get("mode") == "ar"] or rows
    return torch.tensor([t for r in ar for t in r["token_ids"]], dtype=torch.long)


def drafter_macs(drafter_dir: Path, draft_vocab: int) -> tuple[int, int]:
    """(head, whole drafter) multiply-accumulates per drafted token with a draft vocabulary of V'."""
    from dataclasses import replace

    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter

    cfg = DrafterConfig.from_json(json.loads((drafter_dir / "config.json").read_text()))
    model = init_drafter(replace(cfg, draft_vocab_size=draft_vocab, lm_head_from_target=False), seed=0)
    linears = [m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)]
    head = model.lm_head[-1].weight.numel()
    return head, sum(linears)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", help="comma-separated distill-data corpora (their responses choose V')")
    ap.add_argument("sizes", type=int, nargs="+", help="draft vocabulary sizes V'")
    ap.add_argument("--eval", type=Path, help="a run --json file whose answers the vocabulary should cover")
    ap.add_argument("--drafter", type=Path, help="a drafter directory: its architecture prices the head")
    ap.add_argument("--vocab", type=int, default=49152, help="the target's vocabulary size")
    args = ap.parse_args()
    counts = sum(response_counts(Path(c), args.vocab) for c in args.corpora.split(","))
    total = int(counts.sum())
    order = counts.argsort(descending=True, stable=True)  # the most frequent first, ties by token id
    cum = counts[order].cumsum(0)
    out = {"response_tokens": total, "distinct": int((counts > 0).sum()), "coverage": {}}
    answers = answer_tokens(args.eval) if args.eval else None
    for v in args.sizes:
        row = {"train_responses": round(float(cum[v - 1]) / total, 4)}
        if answers is not None:
            held = torch.zeros(args.vocab, dtype=torch.bool)
            held[order[:v]] = True
            row["eval_answers"] = round(float(held[answers].float().mean()), 4)
        if args.drafter:
            row["head_macs"], row["drafter_macs"] = drafter_macs(args.drafter, v)
        out["coverage"][v] = row
    if answers is not None:
        out["eval_answer_tokens"] = int(answers.numel())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
