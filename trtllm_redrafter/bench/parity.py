"""Check `run --json` output against transformers greedy ``generate`` on the same prompts.

For every prompt it reports whether the token ids are identical; at the first differing position
it reports the gap between the target's top two logits there (a near tie explains a low-precision
divergence: verifying a tree and decoding one token at a time round differently).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from trtllm_redrafter.api import encode_prompt, eos_ids
from trtllm_redrafter.devices import resolve_device
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import read_prompts_file
from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model


def first_difference(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


@torch.no_grad()
def compare_with_hf(args: argparse.Namespace) -> dict:
    prompts = read_prompts_file(Path(args.prompts_file))
    path = Path(args.results)
    if not path.is_file():
        raise RedrafterError(f"results file {path} not found")
    results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if len(results) != len(prompts):
        raise RedrafterError(f"{path} has {len(results)} results for {len(prompts)} prompts")
    model, tokenizer = load_target_model(resolve_model(args.model), parse_dtype(args.dtype))
    model.to(resolve_device(getattr(args, "device", "auto")))
    eos = list(eos_ids(model, tokenizer))
    rows = []
    for prompt, res in tqdm(list(zip(prompts, results)), desc="HF generate", unit="prompt"):
        ids = torch.tensor([encode_prompt(tokenizer, prompt, args.raw)], device=model.device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=args.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=eos[0],
        )
        ref = out[0, ids.shape[1] :].tolist()
        ours = res["token_ids"]
        pos = first_difference(ours, ref)
        row = {"index": res.get("index"), "identical": pos is None, "new_tokens": len(ref)}
        if pos is not None and pos < min(len(ours), len(ref)):
            prefix = torch.cat([ids, torch.tensor([ref[:pos]], dtype=torch.long, device=model.device)], dim=1)
            logits = model(input_ids=prefix).logits[0, -1].float()
            top = logits.topk(2)
            row.update(
                position=pos,
                hf_token=ref[pos],
                redrafter_token=ours[pos],
                top2_logit_gap=float(top.values[0] - top.values[1]),
                redrafter_token_rank=int((logits > logits[ours[pos]]).sum()),
            )
        elif pos is not None:
            row.update(position=pos, note="one output is a prefix of the other")
        rows.append(row)
    identical = sum(r["identical"] for r in rows)
    return {
        "model": args.model,
        "dtype": args.dtype,
        "max_new_tokens": args.max_new_tokens,
        "total": len(rows),
        "identical": identical,
        "rate": identical / len(rows),
        "rows": rows,
    }
