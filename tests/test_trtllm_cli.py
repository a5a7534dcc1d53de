"""`convert` / `build` commands without TensorRT-LLM: exit codes, messages, checkpoint left intact.

``build`` is forced onto its "TensorRT-LLM not available" path with $TRTLLM_REDRAFTER_NO_TRTLLM, so
these tests mean the same on a GPU machine with TensorRT-LLM installed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_model
from safetensors.torch import load_file
from test_convert import save_drafter

from trtllm_redrafter import cli
from trtllm_redrafter.cli import engine as cli_commands
from trtllm_redrafter.trtllm.availability import DISABLE_ENV, EXIT_TRTLLM_UNAVAILABLE, UNAVAILABLE

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_trtllm(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")


@pytest.fixture
def tiny_pair(tmp_path):
    tiny_model("llama", torch.float32).save_pretrained(tmp_path / "model")
    save_drafter(tmp_path / "drafter")
    return ["--model", str(tmp_path / "model"), "--drafter", str(tmp_path / "drafter")]


def run(capsys, main, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_convert_command(capsys, tmp_path, tiny_pair):
    code, out, _ = run(capsys, cli_commands.main, "convert", *tiny_pair, "-o", str(tmp_path / "ck"), "--tp-size", "2")
    assert code == 0
    summary = json.loads(out)
    assert summary["checkpoint"] == str(tmp_path / "ck") and summary["tp_size"] == 2 and not summary["reused"]
    code, out, err = run(capsys, cli_commands.main, "convert", *tiny_pair, "-o", str(tmp_path / "ck"), "--tp-size", "3")
    assert code == 2 and "error:" in err and "tp_size=3 does not divide" in err and out == ""


def test_build_stops_after_checkpoint(capsys, tmp_path, tiny_pair, no_trtllm):
    out_dir = tmp_path / "build"
    code, out, err = run(capsys, cli_commands.main, "build", *tiny_pair, "-o", str(out_dir), "--dtype", "float16")
    assert code == EXIT_TRTLLM_UNAVAILABLE != 0
    assert UNAVAILABLE in err and "no engine was built" in err
    checkpoint = out_dir / "checkpoint"
    assert json.loads(out)["checkpoint"] == str(checkpoint)
    assert not (out_dir / "engine").exists()
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["dtype"] == "float16" and config["redrafter_num_beams"] == 8
    weights = load_file(str(checkpoint / "rank0.safetensors"))
    assert "drafter.lm_head.weight" in weights and weights["lm_head.weight"].dtype == torch.float16

    # again, from the checkpoint alone: same stop, the checkpoint untouched
    stamp = {p.name: p.stat().st_mtime_ns for p in checkpoint.iterdir()}
    code, _, err = run(capsys, cli_commands.main, "build", "--checkpoint", str(checkpoint), "-o", str(out_dir))
    assert code == EXIT_TRTLLM_UNAVAILABLE and UNAVAILABLE in err
    assert {p.name: p.stat().st_mtime_ns for p in checkpoint.iterdir()} == stamp


def test_build_bad_input_is_exit_2(capsys, tmp_path, tiny_pair, no_trtllm):
    code, _, err = run(
        capsys, cli_commands.main, "build", *tiny_pair, "-o", str(tmp_path / "b"), "--max-batch-size", "0"
    )
    assert code == 2 and "max_batch_size must be >= 1" in err and not (tmp_path / "b").exists()
    (tmp_path / "junk").mkdir()
    code, _, err = run(
        capsys, cli_commands.main, "build", "--checkpoint", str(tmp_path / "junk"), "-o", str(tmp_path / "c")
    )
    assert code == 2 and "not a TensorRT-LLM checkpoint" in err
    engine = tmp_path / "d" / "engine"
    engine.mkdir(parents=True)
    (engine / "keep.txt").write_text("x")
    code, _, err = run(capsys, cli_commands.main, "build", *tiny_pair, "-o", str(tmp_path / "d"))
    assert code == 2 and "holds no engine" in err and (engine / "keep.txt").exists()


def with_trtllm_commands(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What the two-line cli.py patch does: register convert/build on the main parser."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "build" not in sub.choices:
        cli_commands.add_parsers(sub)
    return parser


def test_through_the_main_cli(capsys, monkeypatch, tmp_path, tiny_pair, no_trtllm):
    build_parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: with_trtllm_commands(build_parser()))
    code, _, err = run(capsys, cli.main, "build", *tiny_pair, "-o", str(tmp_path / "b"))
    assert code == EXIT_TRTLLM_UNAVAILABLE and UNAVAILABLE in err
    code, _, err = run(capsys, cli.main, "convert", *tiny_pair, "-o", str(tmp_path / "c"), "--num-beams", "0")
    assert code == 2 and err.startswith("trtllm-redrafter: error:")


@pytest.mark.slow
def test_build_default_model_without_trtllm(capsys, tmp_path, no_trtllm):
    """The acceptance run: the default model converts, then build stops with exit 3."""
    from test_convert_real_model import SMOL_HIDDEN, SMOL_VOCAB

    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter

    init_drafter(DrafterConfig(SMOL_VOCAB, SMOL_HIDDEN, exit_dim=SMOL_HIDDEN, lm_head_from_target=True)).save(
        tmp_path / "drafter"
    )
    out_dir = tmp_path / "smol"
    code, out, err = run(capsys, cli_commands.main, "build", "--drafter", str(tmp_path / "drafter"), "-o", str(out_dir))
    assert code == EXIT_TRTLLM_UNAVAILABLE and UNAVAILABLE in err
    checkpoint = out_dir / "checkpoint"
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["base_model_architecture"] == "LlamaForCausalLM" and config["num_hidden_layers"] == 30
    assert len(load_file(str(checkpoint / "rank0.safetensors"))) == 30 * 7 + 3 + 8


def test_importing_never_imports_tensorrt():
    modules = ["trtllm_redrafter.cli.engine"] + [
        "trtllm_redrafter.trtllm." + m
        for m in (
            "availability",
            "builder",
            "checkpoint_config",
            "convert",
            "drafter_module",
            "engine_io",
            "graph_ops",
            "hf_model",
            "network",
            "runtime",
            "sharding",
        )
    ]
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorrt', 'tensorrt_llm')]; "
        "assert not bad, bad; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_convert_without_drafter_uses_a_fresh_one(capsys, tmp_path):
    tiny_model("qwen2", torch.float32).save_pretrained(tmp_path / "model")
    argv = ["convert", "--model", str(tmp_path / "model"), "-o", str(tmp_path / "ck"), "--drafter-seed", "5"]
    argv += ["--naming", "1.1"]  # 0.20 has no ReDrafter over Qwen2
    code, _, _ = run(capsys, cli_commands.main, *argv)
    assert code == 0
    provenance = json.loads((tmp_path / "ck" / "trtllm_redrafter.json").read_text())
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert provenance["drafter"] == "fresh-init(seed=5)" and config["redrafter_lm_head_from_target"] is True
    weights = load_file(str(tmp_path / "ck" / "rank0.safetensors"))
    assert torch.equal(weights["drafter.lm_head.weight"], weights["lm_head.weight"])
