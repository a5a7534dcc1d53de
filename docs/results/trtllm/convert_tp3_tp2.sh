#!/usr/bin/env bash
# Issue 14, defect 13: the default model with its shipped drafter (V' = 8192) converts at tp 3 (the
# drafter head padded to 8193 rows, 2731 a rank); tp 2 is refused (9 attention heads).
#   bash docs/results/trtllm/convert_tp3_tp2.sh > docs/results/trtllm/convert_tp3_tp2.txt 2>&1
set -uo pipefail
work=$(mktemp -d)
cd "$work"
echo '$ trtllm-redrafter convert --output ckpt --tp-size 3'
trtllm-redrafter convert --output ckpt --tp-size 3 2>&1 | grep -v 'it/s'
echo "exit status: ${PIPESTATUS[0]}"
python - <<'PY'
import json
from safetensors import safe_open
config = json.load(open("ckpt/config.json"))
print("config: tp_size", config["mapping"]["tp_size"], "redrafter_draft_vocab_size", config["redrafter_draft_vocab_size"])
for r in range(3):
    with safe_open(f"ckpt/rank{r}.safetensors", "pt") as f:
        print(f"rank{r}: drafter.lm_head.weight", f.get_slice("drafter.lm_head.weight").get_shape(),
              "drafter.draft_vocab", f.get_slice("drafter.draft_vocab").get_shape())
PY
echo
echo '$ trtllm-redrafter convert --output ckpt2 --tp-size 2'
trtllm-redrafter convert --output ckpt2 --tp-size 2 2>&1
echo "exit status: $?; ckpt2 exists: $([ -e ckpt2 ] && echo yes || echo no)"
rm -rf "$work"
