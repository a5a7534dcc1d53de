"""Drafter: Apple's checkpoint layout, both RNN formulas, and refusal of bad checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.beam_search import beam_search
from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig, check_compatible, init_drafter


def test_apple_layout_names_and_shapes(tmp_path):
    cfg = DrafterConfig(vocab_size=50, hidden_size=8, exit_dim=12, num_draft_layers=2)
    init_drafter(cfg, seed=0).save(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "input_proj.weight": (12, 16),
        "input_proj.bias": (12,),
        "lm_head.0.linear.weight": (12, 12),
        "lm_head.0.linear.bias": (12,),
        "lm_head.1.linear.weight": (12, 12),
        "lm_head.1.linear.bias": (12,),
        "lm_head.2.weight": (50, 12),
        "rnn_u.weight": (8, 8),
        "rnn_u.bias": (8,),
        "rnn_w.weight": (8, 8),
    }
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["exit_dim"] == 12 and config["rnn"] is True and config["num_draft_layers"] == 2


def test_no_input_proj_when_exit_dim_is_2h(tmp_path):
    cfg = DrafterConfig(vocab_size=50, hidden_size=8, exit_dim=16, num_draft_layers=1, rnn=False)
    init_drafter(cfg).save(tmp_path)
    assert set(load_file(str(tmp_path / "model.safetensors"))) == {
        "lm_head.0.linear.weight",
        "lm_head.0.linear.bias",
        "lm_head.1.weight",
    }


def test_round_trip_is_exact(tmp_path):
    drafter = init_drafter(DrafterConfig(vocab_size=40, hidden_size=8, exit_dim=10), seed=3)
    drafter.save(tmp_path)
    loaded = Drafter.load(tmp_path)
    for (k, a), (_, b) in zip(drafter.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_rnn_formulas():
    torch.manual_seed(0)
    apple = init_drafter(DrafterConfig(40, 8, 10, rnn_formula="apple"), seed=1)
    trt = init_drafter(DrafterConfig(40, 8, 10, rnn_formula="trtllm"), seed=1)
    e1, e2 = torch.randn(2, 8), torch.randn(2, 8)
    w, u = apple.rnn_w, apple.rnn_u
    s1 = torch.nn.functional.silu(w(e1) + u.bias)  # s_0 = 0
    torch.testing.assert_close(apple.next_state(None, e1), s1)
    torch.testing.assert_close(apple.next_state(s1, e2), torch.nn.functional.silu(w(e2) + u(s1)))
    t1 = trt.rnn_w(e1)  # no SiLU, and no U (nor its bias) at the first step
    torch.testing.assert_close(trt.next_state(None, e1), t1)
    torch.testing.assert_close(trt.next_state(t1, e2), trt.rnn_w(e2) + trt.rnn_u(t1))


def test_beam_search_shapes_and_scores():
    drafter = init_drafter(DrafterConfig(30, 8, 10), seed=0)
    emb = torch.nn.Embedding(30, 8)
    hidden, root = torch.randn(3, 8), torch.tensor([1, 2, 3])
    out = beam_search(drafter, emb, hidden, root, num_beams=5, draft_len=3, return_logp=True)
    assert out.draft_tokens.shape == (3, 5, 4) and (out.draft_tokens[:, :, 0] == root[:, None]).all()
    assert out.draft_logp.shape == (3, 5, 3, 30)
    # scores are the summed log-probs of each beam's drafted tokens, sorted best first
    picked = out.draft_logp.gather(-1, out.draft_tokens[:, :, 1:, None])[..., 0].sum(-1)
    torch.testing.assert_close(picked, out.scores)
    assert (out.scores[:, :-1] >= out.scores[:, 1:]).all()
    # beams are distinct
    for b in range(3):
        assert len({tuple(x) for x in out.draft_tokens[b].tolist()}) == 5


def test_refuses_corrupt_and_truncated(tmp_path):
    init_drafter(DrafterConfig(40, 8, 10)).save(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(RedrafterError, match="corrupt or truncated"):
        Drafter.load(tmp_path)
    weights.write_bytes(b"not a safetensors file at all")
    with pytest.raises(RedrafterError, match="corrupt or truncated"):
        Drafter.load(tmp_path)


def test_refuses_config_weight_mismatch(tmp_path):
    init_drafter(DrafterConfig(40, 8, 10)).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "exit_dim": 12}))
    with pytest.raises(RedrafterError, match="do not match its config"):
        Drafter.load(tmp_path)


def test_refuses_missing_pieces(tmp_path):
    with pytest.raises(RedrafterError, match="not found"):
        Drafter.load(tmp_path / "nope")
    with pytest.raises(RedrafterError, match="no config.json"):
        Drafter.load(tmp_path)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(RedrafterError, match="not valid JSON"):
        Drafter.load(tmp_path)


def test_refuses_other_target():
    with pytest.raises(RedrafterError, match="does not fit this target"):
        check_compatible(DrafterConfig(40, 8, 10), vocab_size=41, hidden_size=8)
    with pytest.raises(RedrafterError, match="does not fit this target"):
        check_compatible(DrafterConfig(40, 8, 10), vocab_size=40, hidden_size=16)


def test_lm_head_from_target_is_borrowed_not_saved(tmp_path):
    cfg = DrafterConfig(vocab_size=40, hidden_size=8, exit_dim=8, lm_head_from_target=True)
    drafter = init_drafter(cfg, seed=0)
    assert "lm_head.1.weight" not in dict(drafter.named_parameters())
    head = torch.randn(40, 8)
    drafter.attach_target_head(head)
    drafter.save(tmp_path)
    assert "lm_head.1.weight" not in load_file(str(tmp_path / "model.safetensors"))
    with pytest.raises(RedrafterError, match="borrows the target's LM head"):
        Drafter.load(tmp_path)
    loaded = Drafter.load(tmp_path, target_head=head)
    h, s = torch.randn(3, 8), torch.randn(3, 8)
    torch.testing.assert_close(loaded(h, s), drafter(h, s))
    torch.testing.assert_close(loaded(h, s), loaded.lm_head[:-1](loaded.input_proj(torch.cat([h, s], -1))) @ head.T)
    with pytest.raises(RedrafterError, match="needs exit_dim == hidden_size"):
        DrafterConfig(vocab_size=40, hidden_size=8, exit_dim=12, lm_head_from_target=True)
