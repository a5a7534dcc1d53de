"""summarize: pooled tokens per step over `run --json` rows."""

from __future__ import annotations

import json

import pytest

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


def test_by_category_pools_each_category(tmp_path):
    from trtllm_redrafter.bench.summary import by_category

    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"category": c}) + "\n" for c in ["a", "a", "b"]))

    def row(i: int, mode: str, steps: int, tps: float, speed: float) -> str:
        stats = {
            "new_tokens": 1 + int(steps * tps),
            "steps": steps,
            "tokens_per_step": tps,
            "decode_tokens_per_s": speed,
            "mean_verified_per_step": 3.0,
            "nb_x_bl": 10,
        }
        return json.dumps({"index": i, "mode": mode, "token_ids": [], "stats": stats}) + "\n"

    results = tmp_path / "r.jsonl"
    results.write_text(
        row(0, "redrafter", 10, 2.0, 20.0)
        + row(0, "ar", 20, 1.0, 10.0)
        + row(1, "redrafter", 10, 3.0, 30.0)
        + row(1, "ar", 30, 1.0, 10.0)
        + row(2, "redrafter", 5, 1.0, 5.0)
        + row(2, "ar", 5, 1.0, 10.0)
    )
    cats = {c["category"]: c for c in by_category(results, questions)}
    assert cats["a"]["prompts"] == 2 and cats["a"]["tokens_per_step"] == pytest.approx(2.5)  # (20 + 30) / 20
    assert cats["a"]["speedup_vs_ar"] == pytest.approx(2.5)  # 50 tokens in 2 s against 50 tokens in 5 s
    assert cats["b"]["speedup_vs_ar"] == pytest.approx(0.5)
