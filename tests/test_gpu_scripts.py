"""The GPU check scripts on a machine without a GPU: one clean RESULT line, exit 0, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: run the script itself")
@pytest.mark.parametrize("script", ["check_training.sh", "run_all.sh"])
def test_the_gpu_scripts_say_no_gpu_and_exit_cleanly(script):
    result = subprocess.run(["bash", str(REPO / "tests" / "gpu" / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("RESULT: NO GPU")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: run the script itself")
def test_the_runtime_check_says_no_gpu_and_exits_cleanly():
    result = subprocess.run([sys.executable, str(REPO / "tests" / "gpu" / "check_runtime.py")], capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("RESULT: NO GPU")
    assert "Traceback" not in result.stdout + result.stderr


def test_the_runtime_check_passes_on_the_cpu():
    """Every stage of tests/gpu/check_runtime.py with --device cpu --quick (the ops, parity with HF
    generate on 3 architectures, the chi-square test; speed skips without --smol)."""
    script = REPO / "tests" / "gpu" / "check_runtime.py"
    result = subprocess.run([sys.executable, str(script), "--device", "cpu", "--quick"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "RESULT: PASS on cpu"
    for stage in ("a ops", "c parity", "d chisq"):
        assert any(line.startswith(f"PASS {stage}:") for line in lines), stage
    assert any(line.startswith("SKIP e speed:") for line in lines)
