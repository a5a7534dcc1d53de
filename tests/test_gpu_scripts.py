"""The GPU check scripts on a machine without a GPU: one clean RESULT line, exit 0, no traceback."""

from __future__ import annotations

import subprocess
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
