"""`trtllm-redrafter convert` on tiny random Llama / Qwen2 / Mistral models (CPU, seconds).

The reassembly below is written independently of the converter: it undoes TensorRT-LLM's splits
(column-parallel = rows, row-parallel = columns, fused QKV per head group with replicated KV heads)
and must give back every HF / Apple tensor exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import ARCHS, HIDDEN, VOCAB, tiny_model
from safetensors.torch import load_file, save_file

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
from trtllm_redrafter.trtllm.convert import ConvertSettings, convert_checkpoint

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


# ---- fixtures ----------------------------------------------------------------------------------


def save_model(arch: str, path: Path, **overrides) -> dict[str, torch.Tensor]:
    """A tiny random HF model saved as safetensors; returns its float32 state dict."""
    model = tiny_model(arch, torch.float32, **overrides) if not overrides else wide_model(arch, **overrides)
    model.save_pretrained(path)
    return {k: v.clone() for k, v in model.state_dict().items()}


def wide_model(arch: str, heads: int = 8, kv_heads: int = 2, hidden: int = 64, vocab: int = VOCAB):
    """Like conftest.tiny_model, with enough heads for tp = 8."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        pad_token_id=0,
    )
    torch.manual_seed(1)
    model = Qwen2ForCausalLM(Qwen2Config(**common)) if arch == "qwen2" else LlamaForCausalLM(LlamaConfig(**common))
    return model.float().eval()


def save_drafter(path: Path, hidden: int = HIDDEN, vocab: int = VOCAB, **kwargs) -> dict[str, torch.Tensor]:
    config = DrafterConfig(vocab, hidden, **{"exit_dim": hidden, "lm_head_from_target": True, **kwargs})
    drafter = init_drafter(config, seed=3)
    drafter.save(path)
    return {k: v.clone() for k, v in drafter.state_dict().items()}


@pytest.fixture
def tiny(tmp_path):
    """(model dir, HF state, drafter dir, drafter state) for each architecture."""

    def make(arch: str = "llama", **drafter_kwargs):
        state = save_model(arch, tmp_path / arch)
        dstate = save_drafter(tmp_path / f"drafter_{arch}", **drafter_kwargs)
        return tmp_path / arch, state, tmp_path / f"drafter_{arch}", dstate

    return make


def replace_file(path: Path, data: bytes) -> None:
    """Write a new file and rename it over ``path`` (a file still memory-mapped is never truncated)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    tmp.replace(path)


def convert(model: Path, drafter: Path, out: Path, **kwargs):
    if model.name == "qwen2":  # TensorRT-LLM 0.20 has no ReDrafter over Qwen2: name it for 1.1+
        kwargs.setdefault("naming", "1.1")
    return convert_checkpoint(ConvertSettings(output_dir=out, model=str(model), drafter=str(drafter), **kwargs))


def load_shards(out: Path) -> tuple[dict, list[dict[str, torch.Tensor]]]:
    config = json.loads((out / "config.json").read_text())
    tp = config["mapping"]["tp_size"]
    assert sorted(p.name for p in out.glob("rank*.safetensors")) == sorted(f"rank{r}.safetensors" for r in range(tp))
    return config, [load_file(str(out / f"rank{r}.safetensors")) for r in range(tp)]


# ---- independent reassembly -------------------------------------------------------------------


def replicated(shards: list[dict], name: str) -> torch.Tensor:
    for shard in shards[1:]:
        assert torch.equal(shard[name], shards[0][name]), f"{name} differs between ranks"
    return shards[0][name]


def cat(shards: list[dict], name: str, dim: int) -> torch.Tensor:
    return torch.cat([s[name] for s in shards], dim=dim)


def reassemble(config: dict, shards: list[dict]) -> tuple[dict, dict]:
    """(HF-named base tensors, Apple-named drafter tensors) from the rank shards."""
    tp = len(shards)
    nh, kv, d = config["num_attention_heads"], config["num_key_value_heads"], config["head_size"]
    kv_per_rank = max(kv, tp) // tp
    base: dict[str, torch.Tensor] = {}
    for i in range(config["num_hidden_layers"]):
        t, h = f"transformer.layers.{i}.", f"model.layers.{i}."
        for kind in ("weight", "bias"):
            name = t + f"attention.qkv.{kind}"
            if name not in shards[0]:
                continue
            parts = [s[name].split([nh * d // tp, kv_per_rank * d, kv_per_rank * d]) for s in shards]
            base[h + f"self_attn.q_proj.{kind}"] = torch.cat([p[0] for p in parts])
            for j, proj in ((1, "k_proj"), (2, "v_proj")):
                pieces = [p[j] for p in parts]
                if kv < tp:  # consecutive ranks hold copies of one KV head
                    reps = tp // kv
                    for r in range(tp):
                        assert torch.equal(pieces[r], pieces[r - r % reps])
                    pieces = pieces[::reps]
                base[h + f"self_attn.{proj}.{kind}"] = torch.cat(pieces)
        base[h + "self_attn.o_proj.weight"] = cat(shards, t + "attention.dense.weight", 1)
        base[h + "mlp.gate_proj.weight"] = cat(shards, t + "mlp.fc.weight", 0)
        base[h + "mlp.up_proj.weight"] = cat(shards, t + "mlp.gate.weight", 0)
        base[h + "mlp.down_proj.weight"] = cat(shards, t + "mlp.proj.weight", 1)
        base[h + "input_layernorm.weight"] = replicated(shards, t + "input_layernorm.weight")
        base[h + "post_attention_layernorm.weight"] = replicated(shards, t + "post_layernorm.weight")
    emb = "transformer.vocab_embedding.weight"
    base["model.embed_tokens.weight"] = (
        cat(shards, emb, 0) if config["use_parallel_embedding"] else replicated(shards, emb)
    )
    base["model.norm.weight"] = replicated(shards, "transformer.ln_f.weight")
    base["lm_head.weight"] = cat(shards, "lm_head.weight", 0)

    drafter: dict[str, torch.Tensor] = {}
    n = config["redrafter_num_layers"]
    names = {"drafter.lm_head.weight": f"lm_head.{n}.weight"}
    for j in range(n):
        for kind in ("weight", "bias"):
            names[f"drafter.layers.{j}.linear.{kind}"] = f"lm_head.{j}.linear.{kind}"
    for name in ("input_proj.weight", "input_proj.bias", "rnn_u.weight", "rnn_u.bias", "rnn_w.weight"):
        names["drafter." + name] = name
    for trt_name, apple_name in names.items():
        if trt_name in shards[0]:
            drafter[apple_name] = cat(shards, trt_name, 0)
    head = f"lm_head.{n}.weight"  # [V'p, E]: zero rows pad V' to a multiple of tp
    rows = config["redrafter_draft_vocab_size"] or config["vocab_size"]
    assert drafter[head].shape[0] == -(-rows // len(shards)) * len(shards), "head not padded to a multiple of tp"
    assert not drafter[head][rows:].any(), "padding rows must be zero"
    drafter[head] = drafter[head][:rows]
    if "drafter.draft_vocab" in shards[0]:  # a lookup table, whole on every rank
        drafter["draft_vocab"] = replicated(shards, "drafter.draft_vocab")
    assert set(shards[0]) == set(_trt_names(config, shards[0])), "unexpected tensors in the checkpoint"
    return base, drafter


def _trt_names(config: dict, shard: dict) -> list[str]:
    """Every name the converter may write (used to catch strays)."""
    names = ["transformer.vocab_embedding.weight", "transformer.ln_f.weight", "lm_head.weight"]
    for i in range(config["num_hidden_layers"]):
        t = f"transformer.layers.{i}."
        names += [t + n for n in ("input_layernorm.weight", "post_layernorm.weight", "attention.qkv.weight")]
        names += [t + n for n in ("attention.dense.weight", "mlp.fc.weight", "mlp.gate.weight", "mlp.proj.weight")]
        names += [t + "attention.qkv.bias"] if config["attn_bias"] else []
    names += [n for n in shard if n.startswith("drafter.")]
    return names


def expected_base(state: dict, tied: bool = False) -> dict:
    out = dict(state)
    if tied or "lm_head.weight" not in out:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out


def assert_same(got: dict, want: dict, dtype: torch.dtype) -> None:
    """Same names and values; floating-point tensors in ``dtype``, integer ones (draft_vocab) as they were."""
    assert set(got) == set(want), sorted(set(got) ^ set(want))
    for name, value in want.items():
        want_dtype = dtype if value.is_floating_point() else value.dtype
        assert got[name].dtype == want_dtype, name
        assert torch.equal(got[name], value.to(want_dtype)), name


# ---- names, shapes, dtypes -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("arch", ARCHS)
def test_names_shapes_dtypes(tiny, tmp_path, arch, dtype):
    model, _, drafter, _ = tiny(arch)
    result = convert(model, drafter, tmp_path / "ckpt", dtype=dtype, tp_size=2)
    config, shards = load_shards(result.output_dir)
    h, v, inter, d, nh, kv, tp = HIDDEN, VOCAB, 64, 8, 4, 2, 2
    want = {
        "transformer.vocab_embedding.weight": (v, h),
        "transformer.ln_f.weight": (h,),
        "lm_head.weight": (v // tp, h),
        "drafter.input_proj.weight": (h // tp, 2 * h),
        "drafter.input_proj.bias": (h // tp,),
        "drafter.layers.0.linear.weight": (h // tp, h),
        "drafter.layers.0.linear.bias": (h // tp,),
        "drafter.lm_head.weight": (v // tp, h),
        "drafter.rnn_u.weight": (h // tp, h),
        "drafter.rnn_u.bias": (h // tp,),
        "drafter.rnn_w.weight": (h // tp, h),
    }
    for i in range(2):
        t = f"transformer.layers.{i}."
        want.update(
            {
                t + "input_layernorm.weight": (h,),
                t + "post_layernorm.weight": (h,),
                t + "attention.qkv.weight": ((nh + 2 * kv) * d // tp, h),
                t + "attention.dense.weight": (h, nh * d // tp),
                t + "mlp.fc.weight": (inter // tp, h),
                t + "mlp.gate.weight": (inter // tp, h),
                t + "mlp.proj.weight": (h, inter // tp),
            }
        )
        if arch == "qwen2":
            want[t + "attention.qkv.bias"] = ((nh + 2 * kv) * d // tp,)
    for shard in shards:
        assert {k: tuple(x.shape) for k, x in shard.items()} == want
        assert {x.dtype for x in shard.values()} == {DTYPES[dtype]}
    assert config["dtype"] == dtype and config["mapping"] == {"world_size": 2, "tp_size": 2, "pp_size": 1}
    assert config["base_model_architecture"] == {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}.get(
        arch, "MistralForCausalLM"
    )


def test_config_fields(tiny, tmp_path):
    model, _, drafter, _ = tiny("qwen2", rnn_formula="trtllm")
    config = convert(model, drafter, tmp_path / "c", num_beams=5, draft_len=3, greedy=False).config
    assert config["architecture"] == "ReDrafterForQWenLM" and config["qwen_type"] == "qwen2"
    assert config["position_embedding_type"] == "rope_gpt_neox" and config["attn_bias"] is True
    assert (config["vocab_size"], config["hidden_size"], config["num_key_value_heads"]) == (VOCAB, HIDDEN, 2)
    assert {k: v for k, v in config.items() if k.startswith("redrafter_")} == {
        "redrafter_num_layers": 1,
        "redrafter_hidden_size": HIDDEN,
        "redrafter_exit_dim": HIDDEN,
        "redrafter_is_rnn": True,
        "redrafter_num_beams": 5,
        "redrafter_draft_len_per_beam": 3,
        "redrafter_greedy_search": False,
        "redrafter_rnn_formula": "trtllm",
        "redrafter_lm_head_from_target": True,
        "redrafter_draft_vocab_size": 0,
    }
    with pytest.raises(
        RedrafterError, match=r"TensorRT-LLM 0.20 has no ReDrafter model over Qwen2ForCausalLM.*--naming 1.1"
    ):
        convert(model, drafter, tmp_path / "q", naming="0.20")
    assert not (tmp_path / "q").exists()
    llama, _, drafter, _ = tiny("llama")
    assert convert(llama, drafter, tmp_path / "l", naming="0.20").config["architecture"] == "ReDrafterForCausalLM"
    assert convert(llama, drafter, tmp_path / "n", naming="1.1").config["architecture"] == "ReDrafterForLLaMALM"


# ---- tensor-parallel round trips ---------------------------------------------------------------


@pytest.mark.parametrize("tp", [1, 2, 4])
@pytest.mark.parametrize("arch", ARCHS)
def test_shards_reassemble(tiny, tmp_path, arch, tp):
    model, state, drafter, dstate = tiny(arch)
    config, shards = load_shards(convert(model, drafter, tmp_path / "ckpt", dtype="float32", tp_size=tp).output_dir)
    base, head = reassemble(config, shards)
    assert_same(base, expected_base(state), torch.float32)
    assert_same(head, {**dstate, "lm_head.1.weight": state["lm_head.weight"]}, torch.float32)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_shards_reassemble_tp8_replicated_kv(tmp_path, arch):
    """8 heads, 2 KV heads, tp 8: every KV head is held by 4 ranks; parallel embedding on."""
    state = save_model(arch, tmp_path / "m", heads=8, kv_heads=2, hidden=64)
    dstate = save_drafter(tmp_path / "d", hidden=64, lm_head_from_target=False, num_draft_layers=2)
    out = convert(
        tmp_path / "m",
        tmp_path / "d",
        tmp_path / "c",
        dtype="float32",
        tp_size=8,
        use_parallel_embedding=True,
        naming="1.1",  # names for both architectures
    )
    config, shards = load_shards(out.output_dir)
    assert shards[0]["transformer.vocab_embedding.weight"].shape == (VOCAB // 8, 64)
    base, head = reassemble(config, shards)
    assert_same(base, expected_base(state), torch.float32)
    assert_same(head, dstate, torch.float32)


@pytest.mark.parametrize(
    "drafter_kwargs",
    [
        {"rnn": False},
        {"exit_dim": 2 * HIDDEN, "lm_head_from_target": False},  # no input projection
        {"num_draft_layers": 0, "rnn_formula": "trtllm"},
    ],
)
def test_drafter_variants(tiny, tmp_path, drafter_kwargs):
    model, state, drafter, dstate = tiny("llama", **drafter_kwargs)
    config, shards = load_shards(convert(model, drafter, tmp_path / "c", dtype="float32", tp_size=2).output_dir)
    _, head = reassemble(config, shards)
    n = config["redrafter_num_layers"]
    want = dict(dstate)
    if drafter_kwargs.get("lm_head_from_target", True):
        want[f"lm_head.{n}.weight"] = state["lm_head.weight"]
    assert_same(head, want, torch.float32)
    assert config["redrafter_is_rnn"] == drafter_kwargs.get("rnn", True)


# ---- reduced draft vocabulary (draft_vocab_size = V' > 0) ------------------------------------------

DRAFT_VOCAB = 24  # V' < VOCAB, divisible by tp 1, 2, 4


@pytest.mark.parametrize("lm_head_from_target", [True, False])
def test_draft_vocab_names_shapes_dtypes(tiny, tmp_path, lm_head_from_target):
    """The head is [V'/tp, E], the table drafter.draft_vocab [V'] int32 on every rank, whatever the dtype."""
    model, state, drafter, dstate = tiny("llama", draft_vocab_size=DRAFT_VOCAB, lm_head_from_target=lm_head_from_target)
    result = convert(model, drafter, tmp_path / "ckpt", dtype="bfloat16", tp_size=2)
    config, shards = load_shards(result.output_dir)
    assert config["redrafter_draft_vocab_size"] == DRAFT_VOCAB
    assert config["redrafter_lm_head_from_target"] is lm_head_from_target
    table = dstate["draft_vocab"]
    assert table.dtype == torch.int32 and table.shape == (DRAFT_VOCAB,)
    for shard in shards:
        assert shard["drafter.draft_vocab"].dtype == torch.int32
        assert torch.equal(shard["drafter.draft_vocab"], table)
        assert shard["drafter.lm_head.weight"].shape == (DRAFT_VOCAB // 2, HIDDEN)
        assert shard["lm_head.weight"].shape == (VOCAB // 2, HIDDEN)  # the base head keeps V rows
        assert {x.dtype for n, x in shard.items() if n != "drafter.draft_vocab"} == {torch.bfloat16}
    head = cat(shards, "drafter.lm_head.weight", 0)
    want = state["lm_head.weight"][table.long()] if lm_head_from_target else dstate["lm_head.1.weight"]
    assert torch.equal(head, want.to(torch.bfloat16))


def _beams_of(drafter, embed, seed: int = 0):
    from trtllm_redrafter.runtime.beam_search import beam_search

    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, HIDDEN, generator=gen)
    root = torch.randint(0, VOCAB, (3,), generator=gen)
    return beam_search(drafter, embed, hidden, root, num_beams=4, draft_len=3, return_logp=True)


@pytest.mark.parametrize("tp", [1, 2, 4])
@pytest.mark.parametrize("lm_head_from_target", [True, False])
def test_draft_vocab_round_trip(tiny, tmp_path, tp, lm_head_from_target):
    """De-converted shards give back the drafter exactly: its tensors, the table, and its beams."""
    from trtllm_redrafter.runtime.drafter import Drafter

    model, state, drafter_dir, dstate = tiny(
        "llama", draft_vocab_size=DRAFT_VOCAB, lm_head_from_target=lm_head_from_target
    )
    out = convert(model, drafter_dir, tmp_path / "ckpt", dtype="float32", tp_size=tp).output_dir
    config, shards = load_shards(out)
    base, head = reassemble(config, shards)
    assert_same(base, expected_base(state), torch.float32)
    want = dict(dstate)
    if lm_head_from_target:  # the checkpoint stores the base head's draft_vocab rows
        want["lm_head.1.weight"] = state["lm_head.weight"][dstate["draft_vocab"].long()]
    assert_same(head, want, torch.float32)

    # rebuild an Apple-layout drafter from the reassembled tensors: same beams as the original
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir()
    (rebuilt / "config.json").write_text((drafter_dir / "config.json").read_text())
    apple = {k: v for k, v in head.items() if not (lm_head_from_target and k == "lm_head.1.weight")}
    save_file({k: v.contiguous() for k, v in apple.items()}, str(rebuilt / "model.safetensors"))
    target_head = base["lm_head.weight"] if lm_head_from_target else None
    original = Drafter.load(drafter_dir, target_head=state["lm_head.weight"] if lm_head_from_target else None)
    again = Drafter.load(rebuilt, target_head=target_head)
    embed = torch.nn.Embedding.from_pretrained(state["model.embed_tokens.weight"])
    want_beams, got_beams = _beams_of(original, embed), _beams_of(again, embed)
    assert torch.equal(got_beams.draft_tokens, want_beams.draft_tokens)
    assert torch.equal(got_beams.draft_logp, want_beams.draft_logp)
    assert torch.isin(got_beams.draft_tokens[:, :, 1:], dstate["draft_vocab"].long()).all()


@pytest.mark.parametrize("tp", [2, 4])
def test_draft_vocab_pads_to_tp(tiny, tmp_path, tp):
    """V' = 30: tp 2 splits it, tp 4 pads the head with zero rows to 32; the table stays [30]."""
    model, state, drafter, dstate = tiny("llama", draft_vocab_size=30, lm_head_from_target=False)
    config, shards = load_shards(convert(model, drafter, tmp_path / "ckpt", dtype="float32", tp_size=tp).output_dir)
    assert config["redrafter_draft_vocab_size"] == 30
    rows = -(-30 // tp) * tp
    assert {s["drafter.lm_head.weight"].shape[0] for s in shards} == {rows // tp}
    assert all(s["drafter.draft_vocab"].shape == (30,) for s in shards)
    _, head = reassemble(config, shards)  # checks the padding rows are zero and strips them
    assert_same(head, dstate, torch.float32)


def test_draft_vocab_refusals(tiny, tmp_path):
    """num_beams must not exceed V' (the first step's top-k runs over the head's rows)."""
    model, _, drafter, _ = tiny("llama", draft_vocab_size=6)
    with pytest.raises(RedrafterError, match=r"num_beams=8 exceeds the draft vocabulary \(6\)"):
        convert(model, drafter, tmp_path / "o2", num_beams=8)
    assert not (tmp_path / "o2").exists()


def test_tied_embeddings_and_bf16(tmp_path, smol_dir):
    """A tied-embedding Llama (SmolLM2's tokenizer, tiny weights): lm_head comes from the embedding."""
    from conftest import save_tiny_with_tokenizer
    from safetensors.torch import load_file as load

    save_tiny_with_tokenizer(smol_dir, tmp_path / "m")
    state = load(str(tmp_path / "m" / "model.safetensors"))
    vocab = state["model.embed_tokens.weight"].shape[0]
    save_drafter(tmp_path / "d", vocab=vocab)
    config, shards = load_shards(convert(tmp_path / "m", tmp_path / "d", tmp_path / "c", dtype="bfloat16").output_dir)
    base, head = reassemble(config, shards)
    assert config["tie_word_embeddings"] is True
    assert_same(base, expected_base(state, tied=True), torch.bfloat16)
    assert torch.equal(head["lm_head.1.weight"], state["model.embed_tokens.weight"].to(torch.bfloat16))


# ---- refusals ------------------------------------------------------------------------------------


def test_refuses_mismatched_drafter(tiny, tmp_path):
    model, _, _, _ = tiny("llama")
    save_drafter(tmp_path / "wrong_vocab", vocab=VOCAB + 4)
    save_drafter(tmp_path / "wrong_hidden", hidden=HIDDEN * 2)
    for name in ("wrong_vocab", "wrong_hidden"):
        with pytest.raises(RedrafterError, match="does not fit this target"):
            convert(model, tmp_path / name, tmp_path / f"out_{name}")
        assert not (tmp_path / f"out_{name}").exists()


def test_refuses_unknown_architecture(tiny, tmp_path):
    model, _, drafter, _ = tiny("llama")
    config = json.loads((model / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(RedrafterError, match="GPT2LMHeadModel.*not supported"):
        convert(model, drafter, tmp_path / "out")


@pytest.mark.parametrize(
    ("tp", "overrides", "match"),
    [
        (3, {}, "num_attention_heads=4"),
        (8, {}, "num_attention_heads=4"),
        (2, {"heads": 2, "kv_heads": 2, "hidden": 64, "vocab": 97}, "vocab_size=97"),
        (4, {"heads": 4, "kv_heads": 3, "hidden": 48}, "num_key_value_heads=3"),
    ],
)
def test_refuses_indivisible_tp(tmp_path, tp, overrides, match):
    if overrides:
        save_model("llama", tmp_path / "m", **overrides)
        save_drafter(tmp_path / "d", hidden=overrides["hidden"], vocab=overrides.get("vocab", VOCAB))
    else:
        save_model("llama", tmp_path / "m")
        save_drafter(tmp_path / "d")
    with pytest.raises(RedrafterError, match=f"tp_size={tp} does not divide.*{match}"):
        convert(tmp_path / "m", tmp_path / "d", tmp_path / "out", tp_size=tp)


@pytest.mark.parametrize("dtype", ["float64", "int8", "fp8"])
def test_refuses_bad_dtype(tiny, tmp_path, dtype):
    model, _, drafter, _ = tiny("llama")
    with pytest.raises(RedrafterError, match="dtype"):
        convert(model, drafter, tmp_path / "out", dtype=dtype)


def test_refuses_missing_and_corrupt_inputs(tiny, tmp_path):
    model, _, drafter, _ = tiny("llama")
    with pytest.raises(RedrafterError, match="not found"):
        convert(tmp_path / "nowhere", drafter, tmp_path / "o1")
    with pytest.raises(RedrafterError, match="drafter .* not found"):
        convert(model, tmp_path / "no_drafter", tmp_path / "o2")

    weights = model / "model.safetensors"
    data = weights.read_bytes()
    replace_file(weights, data[: len(data) // 2])  # truncated
    with pytest.raises(RedrafterError, match="corrupt or truncated"):
        convert(model, drafter, tmp_path / "o3")

    replace_file(weights, data)
    partial = {k: v.clone() for k, v in load_file(str(weights)).items()}
    del partial["model.layers.1.mlp.up_proj.weight"]
    save_file(partial, str(tmp_path / "partial.safetensors"))
    (tmp_path / "partial.safetensors").replace(weights)
    with pytest.raises(RedrafterError, match="weights missing.*up_proj"):
        convert(model, drafter, tmp_path / "o4")

    replace_file(weights, data)
    drafter_weights = (drafter / "model.safetensors").read_bytes()
    replace_file(drafter / "model.safetensors", b"not a safetensors file")
    with pytest.raises(RedrafterError, match="corrupt or truncated"):
        convert(model, drafter, tmp_path / "o5")
    replace_file(drafter / "model.safetensors", drafter_weights)
    (drafter / "config.json").write_text("{ not json")
    with pytest.raises(RedrafterError, match="not valid"):
        convert(model, drafter, tmp_path / "o6")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))


def test_output_directory_is_never_clobbered(tiny, tmp_path):
    model, _, drafter, _ = tiny("llama")
    out = tmp_path / "out"

    # a directory holding something else is refused, even with --overwrite, and left intact
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(RedrafterError, match="holds no checkpoint"):
            convert(model, drafter, out, overwrite=overwrite)
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1
    (out / "notes.txt").unlink()

    first = convert(model, drafter, out, tp_size=2)
    assert not first.reused
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = convert(model, drafter, out, tp_size=2)  # the same conversion: reused as is
    assert again.reused and {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp

    (out / "engine").mkdir()  # something of the user's beside the checkpoint
    with pytest.raises(RedrafterError, match="different checkpoint.*--overwrite"):
        convert(model, drafter, out, tp_size=1)
    assert sorted(p.name for p in out.glob("rank*")) == ["rank0.safetensors", "rank1.safetensors"]
    replaced = convert(model, drafter, out, tp_size=1, overwrite=True)
    assert not replaced.reused and replaced.config["mapping"]["tp_size"] == 1
    assert sorted(p.name for p in out.glob("rank*")) == ["rank0.safetensors"] and (out / "engine").is_dir()
    assert not list(tmp_path.glob(".out.partial-*"))
