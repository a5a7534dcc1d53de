"""Summarise `run --json` outputs: pooled tokens per step, verified tokens, decode speed.

trtllm-redrafter summarize greedy.jsonl t07.jsonl t10.jsonl
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError


def summarize_file(path: Path) -> dict:
    if not path.is_file():
        raise RedrafterError(f"results file {path} not found")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise RedrafterError(f"{path} holds no results")
    stats = [r["stats"] for r in rows]
    steps = sum(s["steps"] for s in stats)
    accepted = sum((s["tokens_per_step"] or 0) * s["steps"] for s in stats)
    verified = sum((s["mean_verified_per_step"] or 0) * s["steps"] for s in stats)
    speeds = [s["decode_tokens_per_s"] for s in stats if s["decode_tokens_per_s"]]
    return {
        "file": str(path),
        "prompts": len(rows),
        "new_tokens": sum(s["new_tokens"] for s in stats),
        "steps": steps,
        "tokens_per_step": accepted / steps if steps else None,  # pooled over all steps, bonus included
        "verified_per_step": verified / steps if steps else None,
        "nb_x_bl": stats[0]["nb_x_bl"],
        "decode_tokens_per_s_median": statistics.median(speeds) if speeds else None,
        "decode_tokens_per_s_min": min(speeds) if speeds else None,
        "decode_tokens_per_s_max": max(speeds) if speeds else None,
    }


def markdown(rows: list[dict]) -> str:
    def f(v, fmt=".2f"):
        return "n/a" if v is None else format(v, fmt)

    lines = [
        "| results | prompts | new tokens | steps | tokens/step | verified/step (of nb·bl) "
        "| decode tok/s median (min–max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{Path(r['file']).name}` | {r['prompts']} | {r['new_tokens']} | {r['steps']} "
            f"| {f(r['tokens_per_step'])} | "
            f"{f(r['verified_per_step'], '.1f')} (of {r['nb_x_bl']}) | {f(r['decode_tokens_per_s_median'], '.1f')} "
            f"({f(r['decode_tokens_per_s_min'], '.1f')}–{f(r['decode_tokens_per_s_max'], '.1f')}) |"
        )
    return "\n".join(lines)
