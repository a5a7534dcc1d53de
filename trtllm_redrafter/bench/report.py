"""Benchmark metrics and outputs: results.json, results.md and the plots.

Per method, per task and over all tasks (``records`` are the per-run dicts of ``bench.record_of``):

    decode tokens/s     tokens after the first emission / time from first to last emission, per run;
                        median with IQR and min-max over runs (prompts x repeats)
    pooled tokens/s     the same, pooled: sum of decode tokens / sum of decode seconds
    speedup (headline)  pooled decode tokens/s of the method / that of its baseline (hf; for trtllm the
                        base engine), over the same prompts and repeats
    speedup, median     median over runs of the per-run ratio (same prompt, same repeat)
    speedup, e2e        pooled new tokens / pooled wall time of the whole call, over the baseline's
    TTFT, TPOT          medians of time to first token and of decode seconds per decode token
    tokens/step         pooled: tokens accepted per target forward after the first emission (bonus
                        included); 1 for plain decoding
    verified/step       pooled packed tree tokens per verify forward (ReDrafter), next to nb x bl
    exact match         share of runs whose token ids equal hf's for the same prompt and repeat
    common prefix       mean number of leading tokens equal to hf's
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

TABLE_COLUMNS = (
    "method",
    "decode tok/s, median [IQR]",
    "speedup (pooled)",
    "speedup (median ratio)",
    "speedup (e2e)",
    "TTFT ms",
    "TPOT ms",
    "tokens/step",
    "verified/step (nb·bl)",
    "exact match",
    "common prefix / length",
)


# ---- numbers -------------------------------------------------------------------------------


def values(records: list[dict], key: str) -> list[float]:
    return [r[key] for r in records if r.get(key) is not None]


def spread(xs: list[float]) -> dict | None:
    if not xs:
        return None
    p25, p50, p75 = np.percentile(xs, [25, 50, 75]).tolist()
    return {"median": p50, "p25": p25, "p75": p75, "min": min(xs), "max": max(xs)}


def median(xs: list[float]) -> float | None:
    return float(np.median(xs)) if xs else None


def mean(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


def pooled(records: list[dict], numerator: str, denominator: str) -> float | None:
    pairs = [(r[numerator], r[denominator]) for r in records if r.get(numerator) is not None and r.get(denominator)]
    den = sum(d for _, d in pairs)
    return sum(n for n, _ in pairs) / den if den > 0 else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def add_agreement(records: list[dict], baseline: str) -> None:
    """Set exact_match and common_prefix of every record against the baseline's run of the same prompt."""
    reference = {(r["task_id"], r["repeat"]): r["token_ids"] for r in records if r["method"] == baseline}
    for r in records:
        ref = reference.get((r["task_id"], r["repeat"]))
        r["exact_match"] = None if ref is None else r["token_ids"] == ref
        r["common_prefix"] = None if ref is None else common_prefix(r["token_ids"], ref)
        r["reference_tokens"] = None if ref is None else len(ref)


def summarize_method(records: list[dict], base: list[dict] | None, baseline: str | None) -> dict:
    """Metrics of one method over ``records``; speedups against ``base`` (the baseline's runs)."""
    matches = values(records, "exact_match")
    with_steps = [r for r in records if r.get("verified") is not None]
    summary = {
        "runs": len(records),
        "prompts": len({r["task_id"] for r in records}),
        "mean_new_tokens": mean([r["new_tokens"] for r in records]),
        "decode_tokens_per_s": spread(values(records, "decode_tokens_per_s")),
        "pooled_decode_tokens_per_s": pooled(records, "decode_tokens", "decode_s"),
        "e2e_tokens_per_s": pooled(records, "new_tokens", "total_s"),
        "ttft_s_median": median(values(records, "ttft_s")),
        "tpot_s_median": median(values(records, "tpot_s")),
        "tokens_per_step": pooled(records, "step_tokens", "steps"),
        "verified_per_step": pooled(with_steps, "verified", "steps"),
        "nb_x_bl": next((r["nb_x_bl"] for r in records if r.get("nb_x_bl")), None),
        "exact_match_rate": mean(matches),
        "mean_common_prefix": mean(values(records, "common_prefix")),
        "mean_reference_tokens": mean(values(records, "reference_tokens")),
        "baseline": baseline,
    }
    if base is None:
        return summary
    by_key = {(r["task_id"], r["repeat"]): r for r in base}
    paired = [(r, by_key[(r["task_id"], r["repeat"])]) for r in records if (r["task_id"], r["repeat"]) in by_key]
    mine, theirs = [r for r, _ in paired], [b for _, b in paired]
    ratios = [
        r["decode_tokens_per_s"] / b["decode_tokens_per_s"]
        for r, b in paired
        if r["decode_tokens_per_s"] and b["decode_tokens_per_s"]
    ]
    ratio_spread = spread(ratios)
    summary.update(
        speedup_pooled=ratio(pooled(mine, "decode_tokens", "decode_s"), pooled(theirs, "decode_tokens", "decode_s")),
        speedup_median_ratio=ratio_spread["median"] if ratio_spread else None,
        speedup_ratio_iqr=[ratio_spread["p25"], ratio_spread["p75"]] if ratio_spread else None,
        speedup_e2e_pooled=ratio(pooled(mine, "new_tokens", "total_s"), pooled(theirs, "new_tokens", "total_s")),
    )
    return summary


def summarize(records: list[dict], baselines: dict[str, str | None], default_baseline: str) -> dict:
    """{"overall": {method: ...}, "by_task": {task: {method: ...}}}, methods in run order."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    tasks = list(dict.fromkeys(r["task"] for r in records))

    def group(rows: list[dict]) -> dict:
        out = {}
        for m in methods:
            mine = [r for r in rows if r["method"] == m]
            if not mine:
                continue
            baseline = baselines.get(m, default_baseline)
            base = [r for r in rows if r["method"] == baseline] if baseline and baseline in methods else None
            out[m] = summarize_method(mine, base, baseline if base is not None else None)
        return out

    return {
        "headline": "speedup_pooled: pooled decode tokens/s of a method over its baseline's, same prompts and repeats",
        "overall": group(records),
        "by_task": {t: group([r for r in records if r["task"] == t]) for t in tasks},
    }


def sweep_cell(
    num_beams: int, draft_len: int, records: list[dict], baseline_rate: float | None, max_tree_tokens: int
) -> dict:
    rate = pooled(records, "decode_tokens", "decode_s")
    return {
        "num_beams": num_beams,
        "draft_len": draft_len,
        "nb_x_bl": max_tree_tokens,  # nb·bl, plus the lookup beam's tokens when it is on
        "runs": len(records),
        "pooled_decode_tokens_per_s": rate,
        "decode_tokens_per_s": spread(values(records, "decode_tokens_per_s")),
        "tokens_per_step": pooled(records, "step_tokens", "steps"),
        "verified_per_step": pooled(records, "verified", "steps"),
        "speedup_vs_hf_pooled": ratio(rate, baseline_rate),
    }


# ---- machine -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(dtype: str) -> dict:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "llama_cpp_python": _version("llama-cpp-python"),
        "tensorrt_llm": _version("tensorrt_llm") or _version("tensorrt-llm"),
        "dtype": dtype,
    }


# ---- outputs -------------------------------------------------------------------------------


def _f(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "–" if value is None else format(value * scale, spec)


def table_row(method: str, s: dict) -> list[str]:
    rate = s["decode_tokens_per_s"]
    rate_text = "–" if rate is None else f"{rate['median']:.1f} [{rate['p25']:.1f}–{rate['p75']:.1f}]"
    nb_x_bl = f" ({s['nb_x_bl']})" if s.get("nb_x_bl") else ""
    match = "–" if s["exact_match_rate"] is None else f"{s['exact_match_rate']:.0%}"
    prefix = (
        "–"
        if s["mean_common_prefix"] is None
        else f"{s['mean_common_prefix']:.1f} / {_f(s['mean_reference_tokens'], '.1f')}"
    )
    return [
        method,
        rate_text,
        _f(s.get("speedup_pooled"), ".2f") + ("×" if s.get("speedup_pooled") else ""),
        _f(s.get("speedup_median_ratio"), ".2f"),
        _f(s.get("speedup_e2e_pooled"), ".2f"),
        _f(s["ttft_s_median"], ".1f", 1e3),
        _f(s["tpot_s_median"], ".1f", 1e3),
        _f(s["tokens_per_step"], ".2f"),
        _f(s["verified_per_step"], ".1f") + nb_x_bl,
        match,
        prefix,
    ]


def markdown(results: dict) -> str:
    settings, machine, summary = results["settings"], results["machine"], results["summary"]
    lines = [
        "# trtllm-redrafter bench",
        "",
        f"Model `{settings['model']}`, dtype {settings['dtype']}, dataset `{settings['dataset']}`, "
        f"max_new_tokens {settings['max_new_tokens'] or 'per request'}, repeats {settings['repeats']}, "
        f"warm-up {settings['warmup']}, ReDrafter nb={settings['num_beams']} draft_len={settings['draft_len']}.",
        f"Machine: {machine['cpu_model']}, {machine['cpu_count']} cores ({machine['torch_threads']} torch threads), "
        f"GPU {machine['gpu'] or 'none'}; torch {machine['torch']}, transformers {machine['transformers']}, "
        f"Python {machine['python']}.",
        "",
        "Headline: **speedup (pooled)** = pooled decode tokens/s of the method / that of its baseline (hf; "
        "trtllm: the base engine) over the same prompts and repeats. Decode tokens/s excludes the first token "
        "(prefill); e2e = whole call. Exact match and common prefix compare token ids with hf's.",
    ]
    groups = [("all tasks", summary["overall"])] + [(f"task `{t}`", g) for t, g in summary["by_task"].items()]
    for title, group in groups:
        lines += ["", f"## {title}", "", "| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
        lines += ["| " + " | ".join(table_row(m, s)) + " |" for m, s in group.items()]
    not_run = {m: s for m, s in results["methods"].items() if s["status"] != "ran"}
    if not_run:
        lines += ["", "## Not run", ""]
        lines += [f"- `{m}` ({s['status']}): {s['reason']}" for m, s in not_run.items()]
    if "sweep" in results:
        sweep = results["sweep"]
        length = sweep.get("lookup_len") or "draft_len"
        with_lookup = (
            f", plus the lookup beam (n-gram {sweep['lookup_ngram']}, lookup_len {length})"
            if sweep.get("lookup_ngram")
            else ""
        )
        lines += ["", f"## ReDrafter sweep (num_beams × draft_len{with_lookup})", ""]
        lines += [
            "| nb | draft_len | nb·bl | pooled decode tok/s | tokens/step | speedup vs hf |",
            "|---|---|---|---|---|---|",
        ]
        for c in sweep["cells"]:
            rate, per_step = _f(c["pooled_decode_tokens_per_s"], ".1f"), _f(c["tokens_per_step"], ".2f")
            lines.append(
                f"| {c['num_beams']} | {c['draft_len']} | {c['nb_x_bl']} | {rate} | {per_step} "
                f"| {_f(c['speedup_vs_hf_pooled'], '.2f')} |"
            )
        best = sweep["best"]
        lines += ["", f"Best shape by decode tokens/s: nb={best['num_beams']}, draft_len={best['draft_len']}."]
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_speedup(summary: dict, path: Path) -> bool:
    """Grouped bars: pooled speedup per task (and overall) per method. False when there is nothing to plot."""
    groups = {**summary["by_task"], "all": summary["overall"]}
    methods = [m for m, s in summary["overall"].items() if s.get("speedup_pooled") is not None and s["baseline"] != m]
    if not methods:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) * max(1, len(methods)) / 2), 4))
    width = 0.8 / len(methods)
    x = np.arange(len(groups))
    for k, m in enumerate(methods):
        heights = [g.get(m, {}).get("speedup_pooled") or 0.0 for g in groups.values()]
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, heights, width, label=m)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(x, list(groups), rotation=20)
    ax.set_ylabel("speedup over baseline (pooled decode tok/s)")
    ax.set_title("speedup per task")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_accepted(records: list[dict], method: str, path: Path, beam_len: int) -> bool:
    """Histogram of tokens accepted per step (1 .. beam_len = draft_len + 1)."""
    accepted = [a for r in records if r["method"] == method and r.get("accepted") for a in r["accepted"]]
    if not accepted:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(beam_len, max(accepted))
    ax.hist(accepted, bins=np.arange(0.5, top + 1.5), rwidth=0.85)
    ax.set_xticks(range(1, top + 1))
    ax.set_xlabel("tokens accepted per step (bonus included)")
    ax.set_ylabel("steps")
    ax.set_title(f"{method}: {len(accepted)} steps, mean {np.mean(accepted):.2f} tokens/step")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_sweep(sweep: dict, path: Path) -> None:
    beams, lens = sweep["beams"], sweep["draft_lens"]
    grids = {key: np.full((len(beams), len(lens)), np.nan) for key in ("pooled_decode_tokens_per_s", "tokens_per_step")}
    for c in sweep["cells"]:
        for key, grid in grids.items():
            if c[key] is not None:
                grid[beams.index(c["num_beams"]), lens.index(c["draft_len"])] = c[key]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (key, grid), title in zip(axes, grids.items(), ("decode tokens/s (pooled)", "tokens/step (pooled)")):
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
        ax.set_xticks(range(len(lens)), [str(d) for d in lens])
        ax.set_yticks(range(len(beams)), [str(b) for b in beams])
        ax.set_xlabel("draft_len")
        ax.set_ylabel("num_beams")
        ax.set_title(title)
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.1f}" if key.endswith("_s") else f"{v:.2f}", ha="center", va="center", color="w")
        fig.colorbar(image, ax=ax)
    fig.suptitle("ReDrafter sweep" + (" + lookup beam" if sweep.get("lookup_ngram") else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(results: dict, out: Path) -> list[str]:
    """results.json, results.md, speedup.png and accepted_hist.png (when there is data for them)."""
    written = ["results.json", "results.md"]
    if plot_speedup(results["summary"], out / "speedup.png"):
        written.append("speedup.png")
    if plot_accepted(results["records"], "redrafter", out / "accepted_hist.png", results["settings"]["draft_len"] + 1):
        written.append("accepted_hist.png")
    if "sweep" in results:
        written += ["sweep.json", "sweep.png"]
    results["files"] = written
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(markdown(results))
    return written


def write_sweep(sweep: dict, out: Path) -> None:
    (out / "sweep.json").write_text(json.dumps(sweep, indent=1))
    plot_sweep(sweep, out / "sweep.png")
