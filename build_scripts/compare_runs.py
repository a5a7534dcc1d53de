#!/usr/bin/env python3
"""Compare two ``trtllm-redrafter train`` runs step by step, and their final checkpoints.

    python build_scripts/compare_runs.py RUN_A RUN_B [--rtol 0]

For every step both runs logged, each number they share (loss, kl, grad_norm, lr, eval_*) is
compared; so is every tensor of ``checkpoint/drafter`` and of the optimizer state. With the
default ``--rtol 0`` the runs must agree bit for bit. Prints one JSON object; exit 0 when they
agree, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

SKIP = {"elapsed_s"}  # wall time differs between any two runs


def close(a: float, b: float, rtol: float) -> bool:
    return a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= rtol * max(abs(a), abs(b)))


def flat(state: object, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        return {k: v for key, sub in state.items() for k, v in flat(sub, f"{prefix}/{key}").items()}
    if isinstance(state, list | tuple):
        return {k: v for i, sub in enumerate(state) for k, v in flat(sub, f"{prefix}/{i}").items()}
    return {}


def compare(a: Path, b: Path, rtol: float) -> dict:
    ha, hb = (json.loads((run / "history.json").read_text()) for run in (a, b))
    steps = min(len(ha), len(hb))
    differ = []
    for ra, rb in zip(ha[:steps], hb[:steps]):
        for key in sorted((ra.keys() & rb.keys()) - SKIP):
            if not close(float(ra[key]), float(rb[key]), rtol):
                differ.append({"step": ra["step"], "key": key, "a": ra[key], "b": rb[key]})
    wa, wb = (load_file(str(run / "checkpoint" / "drafter" / "model.safetensors")) for run in (a, b))
    sa, sb = (torch.load(run / "checkpoint" / "trainer_state.pt", weights_only=False) for run in (a, b))
    oa, ob = flat(sa["optimizer"]), flat(sb["optimizer"])
    weights = sorted(k for k in wa.keys() | wb.keys() if k not in wa or k not in wb or not torch.equal(wa[k], wb[k]))
    optimizer = sorted(k for k in oa.keys() | ob.keys() if k not in oa or k not in ob or not torch.equal(oa[k], ob[k]))
    return {
        "a": str(a),
        "b": str(b),
        "steps_compared": steps,
        "values_compared": sum(len((ra.keys() & rb.keys()) - SKIP) for ra, rb in zip(ha[:steps], hb[:steps])),
        "rtol": rtol,
        "differing_values": differ[:20],
        "weights_compared": len(wa),
        "differing_weights": weights,
        "optimizer_tensors_compared": len(oa),
        "differing_optimizer_tensors": optimizer,
        "identical": not differ and not weights and not optimizer and len(ha) == len(hb),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for logged numbers (0 = exact)")
    args = parser.parse_args()
    result = compare(args.a, args.b, args.rtol)
    print(json.dumps(result, indent=2))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
