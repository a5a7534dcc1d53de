#!/usr/bin/env bash
# the prompts: the first 10 lines of docs/results/sampling/prompts_mt_bench_80.jsonl
# Issue 15: --kernels ops against --kernels torch on the first 10 MT-Bench first turns, float64, CPU,
# default settings (the drafter plus the lookup beam, whose length differs from the drafter's: PAD tails).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. .venv/bin/activate
for k in torch ops; do
  trtllm-redrafter run --prompts-file docs/results/kernels/mt10_prompts.jsonl --json --kernels $k --device cpu --dtype float64 --max-new-tokens 96 > docs/results/kernels/mt10_$k.jsonl
done
python3 - <<'PY'
import json
rows = {k: [json.loads(l) for l in open(f"docs/results/kernels/mt10_{k}.jsonl")] for k in ("torch", "ops")}
same = [a["token_ids"] == b["token_ids"] for a, b in zip(rows["torch"], rows["ops"])]
tps = {k: sum(r["stats"]["new_tokens"] for r in v) / sum(r["stats"]["steps"] for r in v) for k, v in rows.items()}
print(json.dumps({"prompts": len(same), "identical": sum(same), "tokens": sum(r["stats"]["new_tokens"] for r in rows["ops"]), "tokens_per_step": tps}))
PY
