"""CLI on the real default model: output format, streaming, and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from trtllm_redrafter.cli import main
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter

pytestmark = pytest.mark.slow
SMOL_VOCAB, SMOL_HIDDEN = 49152, 576


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output_and_ar_agree(capsys, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        json.dumps({"prompt": "Name three colors."})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "Say hi."}]})
        + "\n"
    )
    common = ["--prompts-file", str(prompts), "--json", "--dtype", "float32", "--max-new-tokens", "12"]
    code, out, _ = run_cli(capsys, "run", *common, "--batch-size", "2")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    for r in rows:
        assert 0 < len(r["token_ids"]) <= 12 and isinstance(r["text"], str)
        stats = r["stats"]
        # the default tree: 2 drafter beams of 2 + 1 root, plus the lookup beam's 5 + 1 tokens
        assert stats["new_tokens"] == len(r["token_ids"]) and stats["nb_x_bl"] == 2 * 3 + 6
        assert stats["steps"] >= 1 and 1 <= stats["mean_verified_per_step"] <= 12
    code, out, _ = run_cli(capsys, "run", *common, "--mode", "ar")
    ar = [json.loads(line) for line in out.splitlines()]
    assert [r["token_ids"] for r in ar] == [r["token_ids"] for r in rows]
    assert all(r["stats"]["tokens_per_step"] == 1 for r in ar)


def test_streams_text_and_stats(capsys):
    code, out, err = run_cli(capsys, "run", "Say hello.", "--max-new-tokens", "8", "--dtype", "float32")
    assert code == 0 and out.strip()
    assert "tokens/step" in err and "tok/s" in err


def test_stop_string_cuts_text(capsys):
    code, out, _ = run_cli(
        capsys,
        "run",
        "Count from 1 to 20, separated by commas.",
        "--json",
        "--max-new-tokens",
        "64",
        "--dtype",
        "float32",
        "--stop",
        "5",
    )
    row = json.loads(out)
    assert code == 0 and row["stats"]["stop_reason"] == "stop_string" and "5" not in row["text"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "hi", "--model", "/no/such/model"], "not found"),
        (["run", "hi", "--num-beams", "0"], "num_beams must be >= 1"),
        (["run", "hi", "--draft-len", "0"], "draft_len must be >= 1"),
        (["run", "hi", "--draft-len", "-2"], "draft_len must be >= 1"),
        (["run", "hi", "--max-new-tokens", "0"], "max_new_tokens must be >= 1"),
        (["run", "hi", "--lookup-ngram", "-1"], "lookup needs lookup_ngram >= 0"),
        (["run", "hi", "--lookup-len", "-1"], "lookup_len must be >= 0"),
        (["run", "hi", "--lookup-ngram", "2", "--lookup-min-ngram", "3"], "1 <= lookup_min_ngram <= lookup_ngram"),
        (["run", "   "], "the prompt is empty"),
        (["run", "hi", "--max-new-tokens", "9000"], "beyond the model's context of 8192"),
        (["run", "--prompts-file", "/no/such/file.jsonl"], "not found"),
        (["run", "hi", "--dtype", "float32", "--drafter", "/no/such/drafter"], "not found"),
    ],
)
def test_bad_input_is_refused(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_corrupt_drafter_is_refused(capsys, tmp_path):
    init_drafter(DrafterConfig(SMOL_VOCAB, SMOL_HIDDEN, exit_dim=64)).save(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    code, _, err = run_cli(capsys, "run", "hi", "--drafter", str(tmp_path))
    assert code == 2 and "corrupt or truncated" in err


@pytest.mark.parametrize("vocab, hidden", [(SMOL_VOCAB + 1, SMOL_HIDDEN), (SMOL_VOCAB, 64)])
def test_mismatched_drafter_is_refused(capsys, tmp_path, vocab, hidden):
    init_drafter(DrafterConfig(vocab, hidden, exit_dim=32)).save(tmp_path)
    code, _, err = run_cli(capsys, "run", "hi", "--drafter", str(tmp_path))
    assert code == 2 and "does not fit this target" in err


def test_console_script_exit_code():
    proc = subprocess.run(
        [sys.executable, "-m", "trtllm_redrafter.cli", "run", "hi", "--model", "/no/such/model"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "error: model '/no/such/model' not found" in proc.stderr


def test_chat_keeps_the_conversation(tiny_smol, capsys, monkeypatch):
    import trtllm_redrafter.api as api

    seen: list[list[dict]] = []
    original = api.ReDrafter.encode

    def spy(self, prompt, raw=False):
        seen.append(list(prompt))
        return original(self, prompt, raw)

    lines = iter(["Hello there.", "/reset", "Second chat.", "And again?", "/exit"])
    monkeypatch.setattr("builtins.input", lambda _prompt="": next(lines))
    monkeypatch.setattr(api.ReDrafter, "encode", spy)
    code = main(["chat", "--model", str(tiny_smol), "--max-new-tokens", "4", "--dtype", "float32"])
    assert code == 0
    assert [len(m) for m in seen] == [1, 1, 3]  # /reset dropped the first exchange
    assert seen[2][0]["content"] == "Second chat." and seen[2][1]["role"] == "assistant"
    assert "tokens/step" in capsys.readouterr().err


def test_compare_ar_reports_the_speedup_of_the_same_run(capsys, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        json.dumps({"prompt": "Name three colors."}) + "\n" + json.dumps({"prompt": "Count to 5."}) + "\n"
    )
    args = ["run", "--prompts-file", str(prompts), "--json", "--dtype", "float32", "--max-new-tokens", "10"]
    code, out, _ = run_cli(capsys, *args, "--compare-ar")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["index"], r["mode"]) for r in rows] == [(0, "redrafter"), (0, "ar"), (1, "redrafter"), (1, "ar")]
    (tmp_path / "r.jsonl").write_text(out)
    code, out, _ = run_cli(capsys, "summarize", str(tmp_path / "r.jsonl"), "--json")
    assert code == 0
    summary = json.loads(out)[0]
    assert summary["prompts"] == 2 and summary["ar"]["prompts"] == 2
    assert summary["identical_to_ar"] == "2/2"  # float32: ReDrafter is exact
    assert summary["speedup_vs_ar"] == pytest.approx(
        summary["decode_tokens_per_s_pooled"] / summary["ar"]["decode_tokens_per_s_pooled"]
    )
    assert run_cli(capsys, *args, "--compare-ar", "--mode", "ar")[0] == 2  # needs --mode redrafter


def test_export_drafter_ships_a_smaller_copy(capsys, tmp_path):
    cfg = DrafterConfig(SMOL_VOCAB, SMOL_HIDDEN, exit_dim=SMOL_HIDDEN, draft_vocab_size=512)
    init_drafter(cfg, seed=0).save(tmp_path / "src")
    (tmp_path / "run.json").write_text("{}")
    dst = tmp_path / "ship"
    code, out, _ = run_cli(
        capsys, "export-drafter", str(tmp_path / "src"), str(dst), "--provenance", str(tmp_path / "run.json")
    )
    assert code == 0 and json.loads(out)["dtype"] == "bfloat16"
    assert (dst / "run.json").is_file()
    from trtllm_redrafter.runtime.drafter import Drafter

    assert Drafter.load(dst).input_proj.weight.dtype == torch.float32  # loads in any dtype
    assert run_cli(capsys, "export-drafter", str(tmp_path / "src"), str(dst))[0] == 2  # not empty: refused
    borrowed = DrafterConfig(SMOL_VOCAB, SMOL_HIDDEN, exit_dim=SMOL_HIDDEN, lm_head_from_target=True)
    init_drafter(borrowed, seed=0).save(tmp_path / "b")
    code, _, err = run_cli(capsys, "export-drafter", str(tmp_path / "b"), str(tmp_path / "out2"))
    assert code == 2 and "borrows" in err
