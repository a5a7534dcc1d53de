"""summarize: pooled tokens per step over `run --json` rows."""

from __future__ import annotations

import json

from trtllm_redrafter.cli import main


def row(steps: int, tps: float, verified: float, speed: float) -> dict:
    stats = {
        "new_tokens": int(steps * tps) + 1,
        "steps": steps,
        "tokens_per_step": tps,
        "decode_tokens_per_s": speed,
        "time_to_first_token_s": 0.1,
        "mean_verified_per_step": verified,
        "nb_x_bl": 40,
        "stop_reason": "length",
    }
    return {"index": 0, "token_ids": [], "text": "", "stats": stats}


def test_pooled_over_steps(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [row(10, 3.0, 20.0, 50.0), row(30, 1.0, 10.0, 20.0)]))
    assert main(["summarize", str(path), "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["tokens_per_step"] == (10 * 3.0 + 30 * 1.0) / 40  # pooled, not the mean of rows (2.0)
    assert summary["verified_per_step"] == (10 * 20.0 + 30 * 10.0) / 40
    assert summary["decode_tokens_per_s_median"] == 35.0


def test_missing_file(tmp_path, capsys):
    assert main(["summarize", str(tmp_path / "nope.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
