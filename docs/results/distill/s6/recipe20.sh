#!/usr/bin/env bash
# Issue 16: the shipped drafter's recipe (docs/distillation.md) for its first 20 steps, the old code
# path (81945c8, checked out in /tmp/oldtree) against this checkout with --device cpu, on the same
# features (3 corpus shards; the old code's features are made too and must hash the same). The two
# runs go side by side, one thread each (the thread count is fixed, so the reductions are too).
#   git worktree add /tmp/oldtree 81945c8 && bash docs/results/distill/s6/recipe20.sh
set -euo pipefail
cd /work/main
. .venv/bin/activate
OUT=runs/s6
mkdir -p $OUT
[ -f $OUT/features_new/manifest.json ] || trtllm-redrafter distill-features \
  --data data/distill/smollm2-135m-instruct --out $OUT/features_new --max-shards 3 --device cpu
[ -f $OUT/features_old/manifest.json ] || (cd /tmp/oldtree && PYTHONPATH=/tmp/oldtree python -m trtllm_redrafter.cli \
  distill-features --data /work/main/data/distill/smollm2-135m-instruct --out /work/main/$OUT/features_old --max-shards 3)
for f in old new; do (cd $OUT/features_$f && sha256sum shards/*.safetensors) > $OUT/features_$f.sha256; done
diff $OUT/features_old.sha256 $OUT/features_new.sha256 && echo "features: old and new identical"
RECIPE="--data /work/main/data/distill/smollm2-135m-instruct --features /work/main/$OUT/features_new --init-drafter /work/main/trtllm_redrafter/assets/drafters/smollm2-135m-instruct --steps 20 --warmup 30 --lr 2e-3 --tokens-per-batch 4096 --draft-vocab-size 8192 --own-lm-head --num-draft-layers 2 --hidden-scale 0.1 --state-scale 1.0 --eval-every 100 --eval-batches 16 --save-every 50"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
(cd /tmp/oldtree && PYTHONPATH=/tmp/oldtree python -m trtllm_redrafter.cli train $RECIPE \
  --out /work/main/$OUT/recipe20_old > /work/main/$OUT/old.log 2>&1) &
trtllm-redrafter train $RECIPE --out $OUT/recipe20_new --device cpu > $OUT/new.log 2>&1 &
wait
python build_scripts/compare_runs.py $OUT/recipe20_old $OUT/recipe20_new > $OUT/recipe20_compare.json || true
cat $OUT/recipe20_compare.json
