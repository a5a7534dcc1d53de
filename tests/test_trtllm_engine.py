"""Engines built and run with TensorRT-LLM (marker ``trtllm``): NVIDIA container with a GPU only.

Skipped elsewhere with the reason. Never run so far (docs/trtllm.md, "What is verified where").

    docker run --rm --gpus all trtllm-redrafter docker/run_gpu_tests.sh
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trtllm_redrafter.trtllm.availability import trtllm_status

STATUS = trtllm_status()
pytestmark = [pytest.mark.trtllm, pytest.mark.skipif(not STATUS.available, reason=STATUS.message)]


@pytest.fixture(scope="module")
def plugin_library():
    from trtllm_redrafter.ops.plugins import plugin_library_path

    try:
        return str(plugin_library_path())
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def build(tmp: Path, model: str, drafter: Path, plugin_library: str, dtype: str = "float32", **kwargs) -> Path:
    from trtllm_redrafter.trtllm.builder import BuildSettings, build_engines
    from trtllm_redrafter.trtllm.convert import ConvertSettings, convert_checkpoint

    checkpoint = convert_checkpoint(
        ConvertSettings(output_dir=tmp / "checkpoint", model=model, drafter=str(drafter), dtype=dtype, **kwargs)
    ).output_dir
    settings = BuildSettings(max_batch_size=4, max_input_len=256, max_seq_len=512, plugin_library=plugin_library)
    return build_engines(checkpoint, tmp / "engine", settings)


def test_engine_io_names(tmp_path, tiny_smol, plugin_library):
    """The built engine exposes every name of engine_io (unused inputs of greedy engines included)."""
    import tensorrt as trt

    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
    from trtllm_redrafter.trtllm import engine_io

    vocab = json.loads((Path(tiny_smol) / "config.json").read_text())["vocab_size"]
    init_drafter(DrafterConfig(vocab, 32, exit_dim=32, lm_head_from_target=True)).save(tmp_path / "drafter")
    engine_dir = build(tmp_path, str(tiny_smol), tmp_path / "drafter", plugin_library)
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(
        (engine_dir / "rank0.engine").read_bytes()
    )
    names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
    missing = {t.name for t in engine_io.ENGINE_TENSORS} - names
    assert not missing, missing


@pytest.mark.parametrize("rnn_formula", ["apple", "trtllm"])
def test_tiny_engine_is_exact(tmp_path, tiny_smol, plugin_library, rnn_formula):
    """Greedy tokens of a float32 engine = transformers' greedy generate of the same tiny model."""
    from conftest import hf_greedy
    from transformers import AutoModelForCausalLM

    from trtllm_redrafter.runtime.decode import DecodeConfig, stats_of
    from trtllm_redrafter.runtime.decode import RowState as Row
    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
    from trtllm_redrafter.trtllm.runtime import run_trtllm

    vocab = json.loads((Path(tiny_smol) / "config.json").read_text())["vocab_size"]
    config = DrafterConfig(vocab, 32, exit_dim=32, lm_head_from_target=True, rnn_formula=rnn_formula)
    init_drafter(config).save(tmp_path / "drafter")
    engine_dir = build(tmp_path, str(tiny_smol), tmp_path / "drafter", plugin_library, num_beams=4, draft_len=3)
    prompts = [[1, 520, 1312, 30], [1, 4000, 77, 901, 55, 13]]
    cfg = DecodeConfig(num_beams=4, draft_len=3, max_new_tokens=24, eos_token_ids=(2,))
    got = run_trtllm(engine_dir, prompts, cfg, plugin_library=plugin_library)
    model = AutoModelForCausalLM.from_pretrained(tiny_smol, dtype=torch.float32).eval()
    want = hf_greedy(model, prompts, 24, eos=[2])
    assert [r["token_ids"] for r in got] == want
    assert all(set(r["stats"]) == set(stats_of(Row(), 4 * 4)) for r in got)


@pytest.mark.slow
def test_default_model_engine(tmp_path, smol_dir, plugin_library):
    """SmolLM2-135M in float32: the engine's greedy tokens = transformers' greedy generate.

    (transformers' generate, not the reference runtime: the container's transformers may be older
    than the CPU install's; greedy ReDrafter = greedy generate is what docs/parity.md shows.)
    """
    from conftest import hf_greedy
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trtllm_redrafter.api import encode_prompt
    from trtllm_redrafter.runtime.decode import DecodeConfig
    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
    from trtllm_redrafter.trtllm.runtime import run_trtllm

    init_drafter(DrafterConfig(49152, 576, exit_dim=576, lm_head_from_target=True)).save(tmp_path / "drafter")
    engine_dir = build(tmp_path, "smollm2-135m-instruct", tmp_path / "drafter", plugin_library)
    tokenizer = AutoTokenizer.from_pretrained(smol_dir)
    prompts = [encode_prompt(tokenizer, "Name three colors."), encode_prompt(tokenizer, "What is 2 + 2?")]
    eos = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    cfg = DecodeConfig(max_new_tokens=32, eos_token_ids=tuple(eos))
    got = run_trtllm(engine_dir, prompts, cfg, plugin_library=plugin_library)
    model = AutoModelForCausalLM.from_pretrained(smol_dir, dtype=torch.float32).eval()
    assert [r["token_ids"] for r in got] == hf_greedy(model, prompts, 32, eos=eos)
    assert all(r["stats"]["steps"] >= 1 for r in got)
