#!/usr/bin/env bash
# Issue 16: the shipped drafter's recipe (docs/distillation.md, session 4) for its first 3 steps, the
# old code path (81945c8, checked out in /tmp/oldtree) against this checkout with --device cpu, on the
# same features (3 corpus shards). 20 steps do not fit one session here: about 5 min a step, bf16 is
# emulated on this AVX2-only CPU.
set -euo pipefail
cd /work/main
. .venv/bin/activate
RECIPE="--data /work/main/data/distill/smollm2-135m-instruct --features /work/main/runs/s5/features_new --init-drafter /work/main/trtllm_redrafter/assets/drafters/smollm2-135m-instruct --steps 3 --warmup 30 --lr 2e-3 --tokens-per-batch 4096 --draft-vocab-size 8192 --own-lm-head --num-draft-layers 2 --hidden-scale 0.1 --state-scale 1.0 --eval-every 100 --eval-batches 16 --save-every 50"
(cd /tmp/oldtree && PYTHONPATH=/tmp/oldtree python -m trtllm_redrafter.cli train $RECIPE --out /work/main/runs/s5/recipe3_old)
trtllm-redrafter train $RECIPE --out /work/main/runs/s5/recipe3_new --device cpu
python build_scripts/compare_runs.py runs/s5/recipe3_old runs/s5/recipe3_new > runs/s5/recipe3_compare.json || true
cat runs/s5/recipe3_compare.json
