"""Summarise `run --json` outputs: pooled tokens per step, verified tokens, decode speed.

trtllm-redrafter summarize greedy.jsonl t07.jsonl t10.jsonl
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError


def summarize_file(path: Path) -> dict:
    """Pooled figures of one results file; a `run --compare-ar` file also gets its AR side and the speedup."""
    if not path.is_file():
        raise RedrafterError(f"results file {path} not found")
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise RedrafterError(f"{path} is not `run --json` output: {exc}") from exc
    if not rows:
        raise RedrafterError(f"{path} holds no results")
    ar = [r for r in rows if r.get("mode") == "ar"]
    main = [r for r in rows if r.get("mode") != "ar"] or ar
    out = {"file": str(path), **pooled(main)}
    if ar and main is not ar:
        side = pooled(ar)
        out["ar"] = side
        out["speedup_vs_ar"] = out["decode_tokens_per_s_pooled"] / side["decode_tokens_per_s_pooled"]
        by_index = {r["index"]: r["token_ids"] for r in ar}
        same = [r["token_ids"] == by_index.get(r["index"]) for r in main]
        out["identical_to_ar"] = f"{sum(same)}/{len(same)}"
    return out


def by_category(path: Path, questions: Path) -> list[dict]:
    """Per-category figures of a results file whose index i is line i of a question file with a
    ``category`` field (MT-Bench / Spec-Bench ``question.jsonl``, in file order)."""
    if not questions.is_file():
        raise RedrafterError(f"question file {questions} not found")
    cats = [json.loads(line).get("category", "?") for line in questions.read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if any(r["index"] >= len(cats) for r in rows):
        raise RedrafterError(f"{path} has more prompts than {questions} has questions")
    out = []
    for cat in dict.fromkeys(cats[r["index"]] for r in rows):
        mine = [r for r in rows if cats[r["index"]] == cat]
        main = [r for r in mine if r.get("mode") != "ar"]
        ar = [r for r in mine if r.get("mode") == "ar"]
        row = {"category": cat, **pooled(main)}
        if ar:
            row["speedup_vs_ar"] = row["decode_tokens_per_s_pooled"] / pooled(ar)["decode_tokens_per_s_pooled"]
        out.append(row)
    return out


def pooled(rows: list[dict]) -> dict:
    stats = [r["stats"] for r in rows]
    steps = sum(s["steps"] for s in stats)
    accepted = sum((s["tokens_per_step"] or 0) * s["steps"] for s in stats)
    verified = sum((s["mean_verified_per_step"] or 0) * s["steps"] for s in stats)
    speeds = [s["decode_tokens_per_s"] for s in stats if s["decode_tokens_per_s"]]
    decode_s = sum((s["new_tokens"] - 1) / s["decode_tokens_per_s"] for s in stats if s["decode_tokens_per_s"])
    decode_tokens = sum(s["new_tokens"] - 1 for s in stats if s["decode_tokens_per_s"])
    return {
        "prompts": len(rows),
        "new_tokens": sum(s["new_tokens"] for s in stats),
        "steps": steps,
        "tokens_per_step": accepted / steps if steps else None,  # pooled over all steps, bonus included
        "verified_per_step": verified / steps if steps else None,
        "nb_x_bl": stats[0]["nb_x_bl"],
        "decode_tokens_per_s_median": statistics.median(speeds) if speeds else None,
        "decode_tokens_per_s_min": min(speeds) if speeds else None,
        "decode_tokens_per_s_max": max(speeds) if speeds else None,
        "decode_tokens_per_s_pooled": decode_tokens / decode_s if decode_s else None,  # all tokens / all time
    }


def markdown(rows: list[dict]) -> str:
    def f(v, fmt=".2f"):
        return "n/a" if v is None else format(v, fmt)

    lines = [
        "| results | mode | prompts | new tokens | steps | tokens/step | verified/step (of nb·bl) "
        "| decode tok/s median (min–max) | pooled tok/s | speedup vs AR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sides = [("redrafter", r)] + ([("ar", r["ar"])] if "ar" in r else [])
        for mode, x in sides:
            speedup = f(r["speedup_vs_ar"]) + "x" if mode == "redrafter" and "speedup_vs_ar" in r else ""
            lines.append(
                f"| `{Path(r['file']).name}` | {mode} | {x['prompts']} | {x['new_tokens']} | {x['steps']} "
                f"| {f(x['tokens_per_step'])} | "
                f"{f(x['verified_per_step'], '.1f')} (of {x['nb_x_bl']}) | {f(x['decode_tokens_per_s_median'], '.1f')} "
                f"({f(x['decode_tokens_per_s_min'], '.1f')}–{f(x['decode_tokens_per_s_max'], '.1f')}) "
                f"| {f(x['decode_tokens_per_s_pooled'], '.1f')} | {speedup} |"
            )
    return "\n".join(lines)
