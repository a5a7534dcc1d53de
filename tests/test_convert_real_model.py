"""`convert` on the real default model (SmolLM2-135M-Instruct) plus a drafter that borrows its LM head.

SmolLM2-135M has 9 attention heads, 3 KV heads, a 49152 vocabulary and a 1536-wide MLP, so
TensorRT-LLM can split it over 1 or 3 ranks, not 2: tp 2 must be refused with that reason, and tp 3
is the real split tested.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from test_convert import assert_same, expected_base, load_shards, reassemble

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.trtllm.convert import ConvertSettings, convert_checkpoint

pytestmark = pytest.mark.slow
SMOL_VOCAB, SMOL_HIDDEN = 49152, 576


@pytest.fixture(scope="module")
def smol_drafter(tmp_path_factory):
    path = tmp_path_factory.mktemp("smol_drafter")
    drafter = init_drafter(DrafterConfig(SMOL_VOCAB, SMOL_HIDDEN, exit_dim=SMOL_HIDDEN, lm_head_from_target=True))
    drafter.save(path)
    return path, {k: v.clone() for k, v in drafter.state_dict().items()}


@pytest.mark.parametrize(("tp", "dtype"), [(1, "bfloat16"), (3, "float16")])
def test_real_model_round_trip(smol_dir, smol_drafter, tmp_path, tp, dtype):
    drafter_dir, drafter_state = smol_drafter
    result = convert_checkpoint(
        ConvertSettings(
            output_dir=tmp_path / "ckpt",
            model="smollm2-135m-instruct",
            drafter=str(drafter_dir),
            dtype=dtype,
            tp_size=tp,
        )
    )
    config, shards = load_shards(result.output_dir)
    assert (config["architecture"], config["base_model_architecture"]) == ("ReDrafterForLLaMALM", "LlamaForCausalLM")
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["vocab_size"]) == (9, 3, SMOL_VOCAB)
    assert config["tie_word_embeddings"] is True and config["rotary_base"] == 100000.0
    base, head = reassemble(config, shards)
    hf = {k: v.clone() for k, v in load_file(str(smol_dir / "model.safetensors")).items()}
    want_dtype = getattr(torch, dtype)
    assert_same(base, expected_base(hf, tied=True), want_dtype)
    assert_same(head, {**drafter_state, "lm_head.1.weight": hf["model.embed_tokens.weight"]}, want_dtype)


def test_real_model_refuses_tp2(smol_drafter, tmp_path):
    with pytest.raises(RedrafterError, match="tp_size=2 does not divide num_attention_heads=9"):
        convert_checkpoint(ConvertSettings(output_dir=tmp_path / "ckpt", drafter=str(smol_drafter[0]), tp_size=2))
    assert not (tmp_path / "ckpt").exists()


def test_real_model_shipped_drafter_at_tp3(smol_dir, tmp_path):
    """The shipped drafter (V' = 8192, which 3 does not divide) at tp 3: the head is padded to 8193 rows.

    The de-converted checkpoint gives back the shipped drafter's tensors exactly (bf16 in, bf16 out).
    """
    from trtllm_redrafter.api import shipped_drafter

    shipped = shipped_drafter("smollm2-135m-instruct")
    result = convert_checkpoint(ConvertSettings(output_dir=tmp_path / "ckpt", tp_size=3))
    config, shards = load_shards(result.output_dir)
    assert config["redrafter_draft_vocab_size"] == 8192 and config["mapping"]["tp_size"] == 3
    assert [s["drafter.lm_head.weight"].shape[0] for s in shards] == [2731] * 3  # 8193 = 3 * 2731
    _, head = reassemble(config, shards)  # checks that the padding row is zero, then strips it
    assert_same(head, load_file(str(shipped / "model.safetensors")), torch.bfloat16)
