"""The package's layers: no import cycle, no import that runs upward, few top-level modules."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "build_scripts" / "import_graph.py"
spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
ig = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ig)


def test_the_package_has_no_cycle_no_upward_import_and_no_unplaced_module():
    g = ig.graph()
    assert "trtllm_redrafter.runtime.decode" in g and "trtllm_redrafter.cli.engine" in g
    assert ig.cycles(g) == []
    assert ig.upward(g) == []
    assert ig.unplaced(g) == []


def test_function_level_imports_count(tmp_path):
    pkg = tmp_path / "trtllm_redrafter"
    (pkg / "runtime").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "runtime" / "__init__.py").write_text("")
    (pkg / "api.py").write_text("from trtllm_redrafter.runtime import decode\n")
    (pkg / "runtime" / "decode.py").write_text("def f():\n    from trtllm_redrafter.api import g\n")
    g = ig.graph(pkg)
    assert g["trtllm_redrafter.api"] == {"trtllm_redrafter.runtime.decode"}
    assert g["trtllm_redrafter.runtime.decode"] == {"trtllm_redrafter.api"}
    assert ig.cycles(g) == [["trtllm_redrafter.api", "trtllm_redrafter.runtime.decode"]]
    assert ig.upward(g) == [("trtllm_redrafter.runtime.decode", "trtllm_redrafter.api")]


def test_peers_may_not_import_each_other_and_new_top_level_modules_are_flagged():
    g = {"trtllm_redrafter.training.train": {"trtllm_redrafter.trtllm.convert"}, "trtllm_redrafter.util": set()}
    assert ig.upward(g) == [("trtllm_redrafter.training.train", "trtllm_redrafter.trtllm.convert")]
    assert ig.unplaced(g) == ["trtllm_redrafter.util"]
    assert ig.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_at_most_eight_top_level_modules():
    top = sorted(p.name for p in (REPO / "trtllm_redrafter").glob("*.py"))
    assert len(top) <= 8, top


def test_the_script_prints_the_graph_and_exits_zero():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cli -> bench" in result.stdout and "no cycles, no upward imports" in result.stdout
