"""A run's logs: ``log.csv`` and ``history.json`` (one row per step) and the ``loss.png`` plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def write_logs(history: list[dict], out: Path) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with (out / "log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    (out / "history.json").write_text(json.dumps(history))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot([r["step"] for r in history], [r["loss"] for r in history], lw=0.8, label="train loss")
    ev = [r for r in history if "eval_kl" in r]
    if ev:
        ax[0].plot([r["step"] for r in ev], [r["eval_kl"] for r in ev], "o-", label="held-out KL")
        ax[1].plot([r["step"] for r in ev], [r["eval_tokens_per_step_est"] for r in ev], "o-", label="tokens/step est.")
        ax[1].plot([r["step"] for r in ev], [r["eval_top1_pos1"] for r in ev], "s-", label="top-1, position 1")
    for a in ax:
        a.set_xlabel("step")
        a.legend()
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)
