"""The engine I/O table of docs/trtllm.md, engine_io.py and network.py must agree (no drift)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from trtllm_redrafter.trtllm import engine_io

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "trtllm.md"
NETWORK = REPO / "trtllm_redrafter" / "trtllm" / "network.py"


def doc_table(heading: str) -> list[tuple[str, ...]]:
    """Rows of the first table under ``heading``, cells stripped of backticks."""
    section = DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        rows.append(tuple(cell.strip().strip("`") for cell in line.strip().strip("|").split("|")))
    return rows


def test_io_table_matches_engine_io():
    rows = doc_table("Engine inputs and outputs")
    want = [(t.name, t.direction, t.dtype, t.shape, t.source) for t in engine_io.ENGINE_TENSORS]
    assert rows == want


def test_io_names_are_the_runtimes():
    """The 24 names of TensorRT-LLM's redrafter_utils.get_redrafter_tensor_names (commit 258c7540)."""
    runtime = {
        "spec_decoding_generation_lengths",
        "spec_decoding_position_offsets",
        "spec_decoding_packed_mask",
        "spec_decoding_use",
        "device_request_types",
        "draft_tokens",
        "draft_indices",
        "draft_probs",
        "redrafter_inverted_temperature",
        "rand_data_sample",
        "rand_data_validation",
        "position_ids_base",
        "next_spec_decoding_generation_lengths",
        "next_spec_decoding_position_offsets",
        "spec_decoding_mask",
        "next_draft_tokens",
        "next_draft_indices",
        "next_draft_probs",
        "next_flat_tokens",
        "num_accepted_tokens",
        "accepted_beam_index",
        "max_gen_token",
        "total_gen_token",
        "packed_position_ids",
    }
    names = [t.name for t in engine_io.ENGINE_TENSORS]
    assert len(names) == len(set(names)) == 24 and set(names) == runtime


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


def test_network_takes_every_name_from_engine_io():
    tree = ast.parse(NETWORK.read_text())
    io_names = {t.name for t in engine_io.ENGINE_TENSORS}
    step = _function(tree, "redrafter_step")

    # the outputs: one dict whose keys are exactly OUTPUT_NAMES; no I/O name literal anywhere else
    returned = [n.value for n in ast.walk(step) if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict)]
    assert len(returned) == 1
    keys = [k.value for k in returned[0].keys]
    assert sorted(keys) == sorted(engine_io.OUTPUT_NAMES)
    key_nodes = {id(k) for k in returned[0].keys}
    stray = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and n.value in io_names and id(n) not in key_nodes
    ]
    assert stray == [], f"I/O names spelled out in network.py instead of taken from engine_io: {stray}"

    # the inputs: unpacked from engine_io.INPUT_NAMES into variables of the same names, in order
    unpack = next(
        n
        for n in ast.walk(step)
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Tuple) and "INPUT_NAMES" in ast.unparse(n.value)
    )
    assert [t.id for t in unpack.targets[0].elts] == list(engine_io.INPUT_NAMES)

    # outputs are marked with the names of engine_io.REDRAFTER_OUTPUTS
    forward = ast.unparse(_function(tree, "forward"))
    assert re.search(
        r"for spec in engine_io\.REDRAFTER_OUTPUTS:\s*outputs\[spec\.name\]\.mark_output\(spec\.name\)", forward
    )
    prepare = ast.unparse(_function(tree, "prepare_inputs"))
    assert "for spec in engine_io.REDRAFTER_INPUTS" in prepare and "name=spec.name" in prepare
