"""Where a drafter agrees with its target: teacher-forced top-1 by corpus, source and temperature,
and on MT-Bench answers by category.

    python build_scripts/drafter_breakdown.py \\
        --drafter trtllm_redrafter/assets/drafters/smollm2-135m-instruct \\
        --trained-on data/distill/smollm2-135m-instruct \\
        --corpora data/distill/smollm2-135m-instruct,data/distill/smollm2-135m-instruct-chat32 \\
        --mt-bench docs/results/distill/mt80_256_compare_ar.jsonl \\
        --questions ../shared/data/mt_bench/question.jsonl --per-group 40 --out breakdown.json

Every sample is one the drafter never trained on. From ``--trained-on`` (the corpora the drafter
was trained on) only their held-out split is used, as ``train`` holds out (``--nth``,
``--heldout-by``; training/split.py). From any other corpus, a sample is left out when its prompt
is one of the trained-on corpora's training prompts; ``--seen`` scores exactly those instead (a
check on how much a seen prompt is worth). Every prompt of an ``--also-seen`` corpus counts as
seen: for a warm-started drafter, the corpus its starting point trained on. A sample's source
and temperature come from replaying the corpus's own job plan (``plan_jobs`` with its manifest's
settings), checked against the prompt stored in the shard.
The scores are those of ``eval-drafter``: the target's argmax at each response position, the
target run online in float32, one sample at a time; a target argmax outside V' is a miss.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from trtllm_redrafter.api import ReDrafter, encode_prompt
from trtllm_redrafter.cli.common import default_data_dir
from trtllm_redrafter.models import resolve_model
from trtllm_redrafter.training.batches import load_corpus
from trtllm_redrafter.training.corpus import (
    DistillSettings,
    load_training_prompts,
    plan_jobs,
    read_manifest,
)
from trtllm_redrafter.training.evaluate import teacher_forced_eval
from trtllm_redrafter.training.fingerprint import model_fingerprint
from trtllm_redrafter.training.split import HELDOUT_RULES, held_out_mask

Pair = tuple[list[int], list[int]]  # (prompt ids, response ids)
KEYS = ("eval_top1_pos1", "eval_top1_pos2", "eval_top1_pos3", "eval_top1_pos4", "eval_tokens_per_step_est")


def corpus_samples(corpus: Path, fingerprint: str) -> list[tuple[int, Pair]]:
    """(job id, (prompt, response)) of every usable sample, as ``train`` loads them (untrimmed)."""
    return [
        (s.job_id, (s.tokens[: s.prompt_len], s.tokens[s.prompt_len :]))
        for s in load_corpus(corpus, fingerprint, 1 << 30)
    ]


def job_plan(corpus: Path, data_dir: Path, tokenizer) -> dict[int, tuple[str, float, list[int]]]:
    """job id -> (source, temperature, prompt ids), replayed from the corpus's manifest settings."""
    s = dict(read_manifest(corpus)["settings"])
    s["temperatures"] = tuple(s["temperatures"])
    s["sources"] = tuple(s["sources"])
    s["source_weights"] = tuple((k, float(v)) for k, v in s.get("source_weights", {}).items())
    settings = DistillSettings(**s)
    prompts = load_training_prompts(data_dir, settings.sources)
    shards = plan_jobs(settings, prompts, lambda text: encode_prompt(tokenizer, text))
    return {j.job_id: (j.source, j.temperature, j.prompt_ids) for shard in shards for j in shard}


def trained_split(args: argparse.Namespace, fingerprint: str) -> tuple[set, dict[tuple[Path, int], bool]]:
    """The prompts the drafter trained on (--also-seen's included), and (corpus, job id) -> held out
    and not in --also-seen, for the --trained-on corpora."""
    dirs = [Path(c).resolve() for c in args.trained_on.split(",")]
    samples, origin = [], {}
    for c, d in enumerate(dirs):
        part = load_corpus(d, fingerprint, 1 << 30)
        samples += part
        origin.update((id(s), c) for s in part)
    mask = held_out_mask(args.heldout_by, args.nth, samples, origin, dirs)
    seen = {tuple(s.tokens[: s.prompt_len]) for s, h in zip(samples, mask) if not h}
    also = set()  # e.g. every prompt of the corpus a warm start's drafter trained on
    for d in [Path(c) for c in args.also_seen.split(",") if c]:
        also |= {tuple(s.tokens[: s.prompt_len]) for s in load_corpus(d, fingerprint, 1 << 30)}
    held_out = {
        (dirs[origin[id(s)]], s.job_id): h and tuple(s.tokens[: s.prompt_len]) not in also
        for s, h in zip(samples, mask)
    }
    return seen | also, held_out


def grouped(args: argparse.Namespace, tokenizer) -> tuple[dict[tuple, list[Pair]], dict[str, int]]:
    """(corpus, source, temperature) -> up to --per-group unseen (--seen: seen) samples; and how many were left out."""
    fingerprint = model_fingerprint(resolve_model(args.model))
    seen, held_out = trained_split(args, fingerprint)
    groups: dict[tuple, list[Pair]] = defaultdict(list)
    left_out: dict[str, int] = {}
    for corpus in [Path(c) for c in args.corpora.split(",")]:
        plan = job_plan(corpus, Path(args.data_dir), tokenizer)
        left_out[corpus.name] = 0
        for job, (prompt, response) in corpus_samples(corpus, fingerprint):
            source, temp, planned = plan[job]
            if planned != prompt:
                raise SystemExit(f"{corpus}: job {job}'s stored prompt differs from its replayed plan")
            unseen = held_out.get((corpus.resolve(), job), tuple(prompt) not in seen)
            if unseen == args.seen:
                left_out[corpus.name] += 1
                continue
            group = groups[(corpus.name, source, temp)]
            if len(group) < args.per_group:
                group.append((prompt, response))
    return groups, left_out


def mt_bench_groups(results: Path, questions: Path, encode) -> dict[tuple, list[Pair]]:
    """("mt-bench", category, 0.0) -> (prompt, greedy answer) of the results file's non-ar rows."""
    cats = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[Pair]] = defaultdict(list)
    for r in rows:
        if r.get("mode", "redrafter") != "ar":
            q = cats[r["index"]]
            groups[("mt-bench", q["category"], 0.0)].append((encode(q["turns"][0]), r["token_ids"]))
    return groups


def pooled_rows(rows: list[dict]) -> list[dict]:
    """Per temperature, over every corpus and source but MT-Bench: the groups' figures weighted by
    their answer tokens."""
    out = []
    for temp in sorted({r["temperature"] for r in rows if r["corpus"] != "mt-bench"}):
        group = [r for r in rows if r["corpus"] != "mt-bench" and r["temperature"] == temp]
        tokens = sum(r["answer_tokens"] for r in group)
        means = {k: sum(r[k] * r["answer_tokens"] for r in group) / tokens for k in KEYS}
        samples = sum(r["samples"] for r in group)
        out.append({"corpus": "pooled", "temperature": temp, "samples": samples, "answer_tokens": tokens, **means})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drafter", required=True, help="drafter directory")
    ap.add_argument("--trained-on", required=True, help="corpora the drafter trained on, comma-separated")
    ap.add_argument("--corpora", required=True, help="comma-separated distill-data corpora to score")
    ap.add_argument("--nth", type=int, default=50, help="train's eval_every_nth_sample")
    ap.add_argument("--also-seen", default="", help="corpora all of whose prompts count as seen (a warm start's)")
    ap.add_argument("--heldout-by", choices=list(HELDOUT_RULES), default="job", help="train's --heldout-by")
    ap.add_argument("--per-group", type=int, default=40, help="samples per (corpus, source, temperature)")
    ap.add_argument("--seen", action="store_true", help="score the samples whose prompt it trained on instead")
    ap.add_argument("--mt-bench", type=Path, help="a run --json file of MT-Bench first turns (greedy)")
    ap.add_argument("--questions", type=Path, help="MT-Bench question.jsonl (line i is prompt i)")
    ap.add_argument("--data-dir", default=default_data_dir(), help="shared/data with the training prompt sets")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--out", type=Path, required=True, help="JSON written here")
    args = ap.parse_args()
    rd = ReDrafter.load(args.model, args.drafter, "float32", device="cpu")
    drafter = rd.drafter.float()
    if drafter.config.lm_head_from_target:
        drafter.attach_target_head(rd.model.get_output_embeddings().weight.float())
    groups, left_out = grouped(args, rd.tokenizer)
    if args.mt_bench:
        groups.update(mt_bench_groups(args.mt_bench, args.questions, lambda t: encode_prompt(rd.tokenizer, t)))
    print("| corpus | source | temperature | samples | answer tokens | top-1 pos 1 | pos 2 | pos 3 | pos 4 | est. |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for (corpus, source, temp), pairs in sorted(groups.items()):
        m = teacher_forced_eval(drafter, rd.model, pairs, 4)
        tokens = sum(len(r) for _, r in pairs)
        rows.append(
            {
                "corpus": corpus,
                "source": source,
                "temperature": temp,
                "samples": len(pairs),
                "answer_tokens": tokens,
                **m,
            }
        )
        cells = " | ".join(f"{m[k]:.3f}" for k in KEYS)
        print(f"| {corpus} | {source} | {temp} | {len(pairs)} | {tokens} | {cells} |", flush=True)
    pooled = pooled_rows(rows)
    for p in pooled:
        cells = " | ".join(f"{p[k]:.3f}" for k in KEYS)
        head = f"| pooled | all, answer-token weighted | {p['temperature']} | {p['samples']} | {p['answer_tokens']}"
        print(f"{head} | {cells} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = "left_out_as_unseen" if args.seen else "left_out_as_seen"
    args.out.write_text(
        json.dumps(
            {"drafter": args.drafter, "trained_on": args.trained_on, kept: left_out, "groups": rows, "pooled": pooled},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
