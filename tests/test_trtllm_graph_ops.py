"""The network's non-plugin parts against the PyTorch reference, on CPU, through a stand-in.

``graph_ops`` and ``drafter_module`` are written with TensorRT-LLM's functional ops, which cannot be
installed here. This test runs them on a small torch-backed stand-in for the ~30 ops they use, each
with the semantics tensorrt_llm/functional.py documents (shape tensors, rank-0 reductions,
``gather_nd`` with batch dims, floor division and modulo, ...), and compares the results with the
reference functions the code claims to mirror. It checks the algorithms (bit unpacking, beam
bookkeeping, row unpacking, both RNN formulas, the reduced draft vocabulary), not TensorRT-LLM
itself. Skipped where the real tensorrt_llm is installed: the engine tests cover the real thing there.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_llm") is not None, reason="the real tensorrt_llm is installed"
)

DTYPES = {"int32": torch.int32, "float32": torch.float32, "bool": torch.bool, "float16": torch.float16}


def _dtype(d):
    return DTYPES[d] if isinstance(d, str) else d


def _as_tensor(x):
    return x if isinstance(x, torch.Tensor) else torch.tensor(x)


def _shape_list(shape):
    if isinstance(shape, torch.Tensor):
        return [int(v) for v in shape.reshape(-1).tolist()]
    return [int(v) for v in shape]


def fake_functional() -> types.ModuleType:
    f = types.ModuleType("tensorrt_llm.functional")
    f.Tensor = torch.Tensor
    f.arange = lambda start, end, dtype: torch.arange(int(start), int(end), dtype=_dtype(dtype))
    f.argmax = lambda x, dim, keepdim=False: x.argmax(dim, keepdim=keepdim).to(torch.int32)
    f.cast = lambda x, dtype: x.to(_dtype(dtype))
    f.concat = lambda items, dim=0: torch.cat(
        [_as_tensor(i).to(torch.int32).reshape(1) if _as_tensor(i).dim() == 0 else _as_tensor(i) for i in items], dim
    )
    f.constant = lambda array: torch.from_numpy(np.ascontiguousarray(array))

    def constant_to_tensor_(value, dtype=None, to_array=True):
        dtype = _dtype(dtype) if dtype is not None else (torch.int32 if isinstance(value, int) else torch.float32)
        return torch.tensor([value] if to_array else value, dtype=dtype)

    f.constant_to_tensor_ = constant_to_tensor_
    f.cumsum = lambda x, dim: torch.cumsum(x, dim).to(x.dtype)
    f.expand = lambda x, shape: x.expand(*_shape_list(shape))

    def expand_dims(x, dims):
        for d in dims:
            x = x.unsqueeze(d)
        return x

    f.expand_dims = expand_dims
    f.gather = lambda x, dim, indices: torch.gather(x, dim, indices.long())

    def gather_nd(x, indices, batch_dims=1):
        assert batch_dims == 1
        k = indices.shape[-1]
        b = torch.arange(x.shape[0]).view(-1, *([1] * (indices.dim() - 2)))
        return x[(b.expand(indices.shape[:-1]), *[indices[..., j].long() for j in range(k)])]

    f.gather_nd = gather_nd
    f.scatter = lambda x, dim, indices, updates: torch.scatter(x, dim, indices.long(), updates)
    f.index_select = lambda x, dim, index: torch.index_select(x, dim, index.long())
    f.log_softmax = lambda x, dim: torch.log_softmax(x, dim)
    f.masked_select = lambda x, mask: x[mask]

    def max_(x, dim, keepdim=False):  # an empty reduction gives the identity, the dtype's minimum
        if x.shape[dim] == 0:
            low = torch.iinfo(x.dtype).min if not x.dtype.is_floating_point else float("-inf")
            return torch.full([*x.shape[:dim], *x.shape[dim + 1 :]], low, dtype=x.dtype)
        return x.max(dim, keepdim=keepdim).values

    f.max = max_
    f.maximum = lambda a, b: torch.maximum(_as_tensor(a), _as_tensor(b))
    f.minimum = lambda a, b: torch.minimum(_as_tensor(a), _as_tensor(b))

    def shape(x, dim=None, cast_to_dtype=None):
        return torch.tensor(list(x.shape), dtype=torch.int32) if dim is None else torch.tensor(x.shape[dim])

    f.shape = shape

    def slice_(x, starts, sizes):
        sizes = _shape_list(sizes)
        return x[tuple(slice(int(s), int(s) + n) for s, n in zip(starts, sizes))]

    f.slice = slice_
    f.squeeze = lambda x, dim: x.squeeze(dim)
    f.silu = nn.functional.silu
    f.topk = lambda x, k, dim: (lambda r: (r.values, r.indices.to(torch.int32)))(torch.topk(x, k, dim=dim))
    f.unsqueeze = lambda x, axis: x.unsqueeze(axis)
    f.view = lambda x, shape, zero_is_placeholder=True: x.reshape(_shape_list(shape))
    f.where = lambda c, a, b: torch.where(c, _as_tensor(a), _as_tensor(b))
    f.sum = lambda x, dim, keepdim=False: x.sum(dim, keepdim=keepdim).to(x.dtype)
    return f


class FakeColumnLinear(nn.Linear):
    def __init__(self, in_features, out_features, bias=True, dtype=None, tp_group=None, tp_size=1, gather_output=True):
        super().__init__(in_features, out_features, bias=bias, dtype=torch.float64)


class FakeParameter:
    """tensorrt_llm.parameter.Parameter: ``value`` is the tensor the graph reads (here, the weight itself)."""

    def __init__(self, value=None, shape=None, dtype=None):
        self.value = value if value is not None else torch.zeros(shape, dtype=_dtype(dtype))


@pytest.fixture
def fake_trtllm(monkeypatch):
    from trtllm_redrafter.trtllm import drafter_module

    root = types.ModuleType("tensorrt_llm")
    layers = types.ModuleType("tensorrt_llm.layers")
    layers.ColumnLinear = FakeColumnLinear
    module = types.ModuleType("tensorrt_llm.module")
    module.Module, module.ModuleList = nn.Module, nn.ModuleList
    parameter = types.ModuleType("tensorrt_llm.parameter")
    parameter.Parameter = FakeParameter
    for name, mod in (
        ("tensorrt_llm", root),
        ("tensorrt_llm.functional", fake_functional()),
        ("tensorrt_llm.layers", layers),
        ("tensorrt_llm.module", module),
        ("tensorrt_llm.parameter", parameter),
    ):
        monkeypatch.setitem(sys.modules, name, mod)
    drafter_module.drafter_classes.cache_clear()
    yield
    drafter_module.drafter_classes.cache_clear()


def random_beams(bs: int, nb: int, bl: int, vocab: int, seed: int) -> torch.Tensor:
    """Beams with shared prefixes (tiny vocabulary) and a common root, as beam search makes them."""
    gen = torch.Generator().manual_seed(seed)
    beams = torch.randint(0, vocab, (bs, nb, bl), generator=gen)
    beams[:, :, 0] = beams[:, :1, 0]
    return beams


@pytest.mark.parametrize(("nb", "bl"), [(3, 3), (8, 5), (12, 4)])  # n_cap 7, 33 (bit 31, 2 words), 37
def test_unpack_mask_bits_mirrors_reference(fake_trtllm, nb, bl):
    from trtllm_redrafter.runtime.tree import pack_beams
    from trtllm_redrafter.trtllm import graph_ops

    for seed in range(20):
        tree = pack_beams(random_beams(4, nb, bl, vocab=3 if seed % 2 else 50, seed=seed))
        n = tree.mask.shape[-1]
        longest = graph_ops.bounded_longest(tree.gen_lengths.to(torch.int32), nb * (bl - 1) + 1)
        assert int(longest) == n
        got = graph_ops.unpack_mask_bits(tree.packed_mask, longest, nb * (bl - 1) + 1)
        assert got.dtype == torch.bool and torch.equal(got, tree.mask)


def test_select_valid_and_rows_mirror_reference(fake_trtllm):
    from trtllm_redrafter.runtime.tree import pack_beams
    from trtllm_redrafter.trtllm import graph_ops

    tree = pack_beams(random_beams(5, 4, 4, vocab=4, seed=1))
    n = tree.tokens.shape[1]
    capacity = 4 * 3 + 1
    padded = torch.zeros(5, capacity, dtype=torch.int32)
    padded[:, :n] = tree.tokens
    flat = graph_ops.select_valid(padded, tree.gen_lengths.to(torch.int32), capacity)
    assert torch.equal(flat, tree.tokens[tree.valid].to(torch.int32))
    assert torch.equal(graph_ops.first_columns(padded, torch.tensor(n)), tree.tokens.to(torch.int32))

    # the step's flat rows: 2 context rows, then the generation requests' trees (the runtime's order)
    hidden = torch.randn(5, n, 3, dtype=torch.float64)
    context_rows = torch.randn(2, 3, dtype=torch.float64)
    flat_hidden = torch.cat([context_rows, hidden[tree.valid]])  # [2 + sum(gen_lengths), 3]
    offsets = graph_ops.generation_row_offsets(tree.gen_lengths.to(torch.int32), torch.tensor(2))
    index = torch.tensor([0, 1, 2, 0, 1], dtype=torch.int32)
    assert torch.equal(graph_ops.rows_at(flat_hidden, offsets, index), hidden[torch.arange(5), index.long()])
    for b in range(5):  # slot j of request b is flat row offsets[b] + j
        length = int(tree.gen_lengths[b])
        assert torch.equal(flat_hidden[offsets[b] : offsets[b] + length], hidden[b, :length])
    clamped = graph_ops.rows_at(flat_hidden, offsets, torch.full((5,), 99, dtype=torch.int32))
    assert torch.equal(clamped, flat_hidden[-1:].expand(5, 3))  # a bad index reads the last real row


def test_lengths_have_static_bounds(fake_trtllm):
    """Defect 1: G is clamped to [0, n_cap], and index ranges are slices of a constant arange."""
    from trtllm_redrafter.trtllm import graph_ops

    assert int(graph_ops.bounded_longest(torch.tensor([3, 7, 5], dtype=torch.int32), 13)) == 7
    assert int(graph_ops.bounded_longest(torch.tensor([3, 70], dtype=torch.int32), 13)) == 13  # malformed input
    assert int(graph_ops.bounded_longest(torch.zeros(0, dtype=torch.int32), 13)) == 0  # no generation request
    assert torch.equal(graph_ops.first_slots(torch.tensor(4), 13), torch.arange(4, dtype=torch.int32))
    assert graph_ops.first_slots(torch.tensor(0), 13).shape == (0,)


def load_reference_weights(head, drafter) -> None:
    """Copy a reference Drafter's weights into the stand-in ReDrafterHead (TensorRT-LLM names)."""
    from trtllm_redrafter.trtllm.convert import drafter_tensors

    params = dict(head.named_parameters())
    with torch.no_grad():
        for name, value in drafter_tensors(drafter).items():
            key = name.removeprefix("drafter.")
            if key in params:
                params[key].copy_(value)
            elif isinstance(getattr(head, key, None), FakeParameter):  # draft_vocab: an int32 table
                assert getattr(head, key).value.shape == value.shape
                getattr(head, key).value = value.clone()


def make_head(**kwargs):
    """The stand-in ReDrafterHead (float64 linears, tp 1)."""
    from trtllm_redrafter.trtllm.drafter_module import drafter_classes

    _, head_cls = drafter_classes()
    return head_cls(dtype="float64", mapping=types.SimpleNamespace(tp_group=None, tp_size=1), **kwargs)


@pytest.mark.parametrize("draft_vocab_size", [0, 13])
@pytest.mark.parametrize("rnn_formula", ["apple", "trtllm"])
@pytest.mark.parametrize("rnn", [True, False])
def test_drafter_and_beam_search_mirror_reference(fake_trtllm, rnn_formula, rnn, draft_vocab_size):
    from trtllm_redrafter.runtime.beam_search import beam_search
    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
    from trtllm_redrafter.trtllm import graph_ops

    vocab, hidden_size, nb, dl = 40, 16, 5, 4
    config = DrafterConfig(
        vocab,
        hidden_size,
        exit_dim=24,
        num_draft_layers=2,
        rnn=rnn,
        rnn_formula=rnn_formula,
        draft_vocab_size=draft_vocab_size,
    )
    drafter = init_drafter(config, seed=7).double()
    embed = nn.Embedding(vocab, hidden_size).double()
    head = make_head(
        hidden_size=hidden_size,
        exit_dim=24,
        num_layers=2,
        vocab_size=vocab,
        is_rnn=rnn,
        rnn_formula=rnn_formula,
        own_lm_head=True,
        draft_vocab_size=draft_vocab_size,
    )
    assert head.head_size == config.head_size and head.lm_head.weight.shape == (config.head_size, 24)
    load_reference_weights(head, drafter)

    hidden = torch.randn(3, hidden_size, dtype=torch.float64)
    root = torch.tensor([3, 17, 3])
    with torch.no_grad():
        want = beam_search(drafter, embed, hidden, root, nb, dl, return_logp=True)
        tokens, log_probs = graph_ops.beam_search(head, embed, None, hidden, root.to(torch.int32), nb, dl)
    assert torch.equal(tokens.long(), want.draft_tokens)
    assert log_probs.shape == (3, nb, dl, config.head_size)  # over the head's V' columns, as the reference
    assert log_probs.dtype == torch.float32 and torch.allclose(log_probs, want.draft_logp, atol=1e-6)
    if draft_vocab_size:  # every drafted token is a base id from the table, and not all are below V'
        drafted = tokens[:, :, 1:].long()
        assert torch.isin(drafted, drafter.draft_vocab.long()).all() and drafted.max() >= draft_vocab_size
        ids = torch.tensor([[0, 12], [5, 7]], dtype=torch.int32)
        assert torch.equal(head.to_target_ids(ids).long(), drafter.to_target_ids(ids.long()))

    # one drafter step on its own: next_state and forward
    emb = embed(torch.tensor([[1, 2], [3, 4], [5, 6]]))
    ctx = hidden[:, None].expand(3, 2, hidden_size)
    state = None
    for _ in range(2):
        with torch.no_grad():
            ref_state = drafter.next_state(state, emb)
            got_state = head.next_state(state, emb)
        assert torch.allclose(got_state, ref_state, atol=1e-12)
        state = ref_state
    with torch.no_grad():
        assert torch.allclose(head(ctx, state), drafter(ctx, state), atol=1e-12)


def test_borrowed_lm_head(fake_trtllm):
    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter

    config = DrafterConfig(30, 12, exit_dim=12, lm_head_from_target=True)
    base_head = nn.Linear(12, 30, bias=False).double()
    drafter = init_drafter(config, seed=2).double().attach_target_head(base_head.weight)
    head = make_head(
        hidden_size=12, exit_dim=12, num_layers=1, vocab_size=30, is_rnn=True, rnn_formula="apple", own_lm_head=False
    )
    assert head.lm_head is None and head.draft_vocab is None
    load_reference_weights(head, drafter)
    ctx, state = torch.randn(2, 3, 12, dtype=torch.float64), torch.randn(2, 3, 12, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(head(ctx, state, base_head), drafter(ctx, state), atol=1e-12)


@pytest.mark.parametrize("tp", [3, 4])
def test_tp_padded_head_drafts_like_the_reference(fake_trtllm, tmp_path, tp):
    """V' = 13 over tp 3 / 4: the checkpoint's head has 15 / 16 rows (convert.py pads with zeros).

    The padded columns are cut before the top-k, so the beams and log-probs are the reference's
    whatever the padding rows hold: here huge weights whose logits would win every top-k.
    """
    from trtllm_redrafter.runtime.beam_search import beam_search
    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
    from trtllm_redrafter.trtllm import graph_ops
    from trtllm_redrafter.trtllm.convert import drafter_rank_weights, drafter_tensors
    from trtllm_redrafter.trtllm.drafter_module import make_drafter

    config = DrafterConfig(40, 12, exit_dim=12, draft_vocab_size=13)
    drafter = init_drafter(config, seed=5).double()
    mapping = types.SimpleNamespace(tp_group=None, tp_size=tp)
    head = make_drafter(redrafter_config(redrafter_draft_vocab_size=13, mapping=mapping), 40)
    rows = 15 if tp == 3 else 16
    assert (head.head_size, head.head_rows, head.lm_head.weight.shape) == (13, rows, (rows, 12))
    shards = [drafter_rank_weights(drafter_tensors(drafter), tp, r) for r in range(tp)]
    params = dict(head.named_parameters())
    with torch.no_grad():  # the module holds the ranks' shards gathered (the column-parallel outputs)
        for name in shards[0]:
            key = name.removeprefix("drafter.")
            if key == "draft_vocab":
                head.draft_vocab.value = shards[0][name].clone()
            else:
                params[key].copy_(torch.cat([s[name] for s in shards]))
        assert not head.lm_head.weight[13:].any()  # convert.py's padding rows are zero
        head.lm_head.weight[13:] = 1e6  # rows that would win any top-k if their columns were not cut
    embed = nn.Embedding(40, 12).double()
    hidden, root = torch.randn(3, 12, dtype=torch.float64), torch.tensor([4, 39, 0])
    with torch.no_grad():
        want = beam_search(drafter, embed, hidden, root, 4, 3, return_logp=True)
        tokens, log_probs = graph_ops.beam_search(head, embed, None, hidden, root.to(torch.int32), 4, 3)
    assert torch.equal(tokens.long(), want.draft_tokens)
    assert log_probs.shape == (3, 4, 3, 13) and torch.allclose(log_probs, want.draft_logp, atol=1e-6)


def redrafter_config(**fields) -> types.SimpleNamespace:
    """The PretrainedConfig attributes make_drafter reads (checkpoint_config.redrafter_fields' names)."""
    base = dict(
        redrafter_hidden_size=12,
        redrafter_exit_dim=12,
        redrafter_num_layers=1,
        redrafter_is_rnn=True,
        redrafter_rnn_formula="apple",
        dtype="float64",
        mapping=types.SimpleNamespace(tp_group=None, tp_size=1),
    )
    return types.SimpleNamespace(**{**base, **fields})


def test_borrowed_lm_head_with_draft_vocab(fake_trtllm):
    """lm_head_from_target + V': the module owns the base head's draft_vocab rows (as the checkpoint stores them)."""
    from trtllm_redrafter.runtime.beam_search import beam_search
    from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter
    from trtllm_redrafter.trtllm import graph_ops
    from trtllm_redrafter.trtllm.drafter_module import borrows_base_lm_head, make_drafter

    assert borrows_base_lm_head(True, 0) and not borrows_base_lm_head(True, 9) and not borrows_base_lm_head(False, 0)
    config = DrafterConfig(30, 12, exit_dim=12, lm_head_from_target=True, draft_vocab_size=9)
    base_head = nn.Linear(12, 30, bias=False).double()
    drafter = init_drafter(config, seed=4).double().attach_target_head(base_head.weight)
    head = make_drafter(
        redrafter_config(redrafter_lm_head_from_target=True, redrafter_draft_vocab_size=9, redrafter_num_layers=1), 30
    )
    assert head.lm_head.weight.shape == (9, 12) and head.draft_vocab.value.shape == (9,)
    assert head.draft_vocab.value.dtype == torch.int32
    load_reference_weights(head, drafter)
    assert torch.equal(head.lm_head.weight, base_head.weight[drafter.draft_vocab.long()])

    embed = nn.Embedding(30, 12).double()
    hidden, root = torch.randn(2, 12, dtype=torch.float64), torch.tensor([4, 29])
    with torch.no_grad():
        want = beam_search(drafter, embed, hidden, root, 4, 3, return_logp=True)
        tokens, log_probs = graph_ops.beam_search(head, embed, base_head, hidden, root.to(torch.int32), 4, 3)
    assert torch.equal(tokens.long(), want.draft_tokens)
    assert torch.allclose(log_probs, want.draft_logp, atol=1e-6)

    # the network's expansion of the log-probs to the engine's [bs, nb, dl, V] next_draft_probs
    full = graph_ops.draft_columns_to_vocab(log_probs, head.draft_vocab.value, 30)
    want_full = torch.full((2, 4, 3, 30), float("-inf"))
    want_full[..., drafter.draft_vocab.long()] = want.draft_logp.float()
    assert full.shape == (2, 4, 3, 30) and torch.allclose(full, want_full, atol=1e-6)
    assert torch.allclose(full.exp().sum(-1), torch.ones(2, 4, 3, dtype=torch.float32), atol=1e-5)


def test_make_drafter_heads(fake_trtllm):
    """make_drafter: own / borrowed / reduced heads from the config fields; no table without V'."""
    from trtllm_redrafter.trtllm.drafter_module import make_drafter

    own = make_drafter(redrafter_config(), 30)
    assert own.lm_head.weight.shape == (30, 12) and own.draft_vocab is None and own.head_size == 30
    borrowed = make_drafter(redrafter_config(redrafter_lm_head_from_target=True), 30)
    assert borrowed.lm_head is None and borrowed.head_size == 30
    reduced = make_drafter(redrafter_config(redrafter_draft_vocab_size=8), 30)
    assert reduced.lm_head.weight.shape == (8, 12) and reduced.draft_vocab.value.shape == (8,)
    assert reduced.head_size == 8 and reduced.vocab_size == 30
    with pytest.raises(ValueError, match="own"):
        make_head(
            hidden_size=12,
            exit_dim=12,
            num_layers=1,
            vocab_size=30,
            is_rnn=True,
            rnn_formula="apple",
            own_lm_head=False,
            draft_vocab_size=8,
        )


def test_kv_cache_type_is_the_builders(monkeypatch):
    """Defect 7: a release with two KVCacheType enums; the network must use tensorrt_llm.builder's.

    With the other enum, ``has_ctx_gen_opt_profiles`` would compare PAGED against a foreign PAGED
    and silently pick the contiguous cache's profiles.
    """
    import enum

    from trtllm_redrafter.trtllm.network import _kv_cache_type

    builders = enum.Enum("KVCacheType", "CONTINUOUS PAGED DISABLED")
    llmapi = enum.Enum("KVCacheType", "CONTINUOUS PAGED DISABLED")
    builder = types.ModuleType("tensorrt_llm.builder")
    builder.KVCacheType = builders
    other = types.ModuleType("tensorrt_llm.llmapi.kv_cache_type")
    other.KVCacheType = llmapi
    for name, mod in (
        ("tensorrt_llm", types.ModuleType("tensorrt_llm")),
        ("tensorrt_llm.builder", builder),
        ("tensorrt_llm.llmapi", types.ModuleType("tensorrt_llm.llmapi")),
        ("tensorrt_llm.llmapi.kv_cache_type", other),
    ):
        monkeypatch.setitem(sys.modules, name, mod)
    assert _kv_cache_type(True) is builders.PAGED and _kv_cache_type(True) != llmapi.PAGED
    assert _kv_cache_type(False) is builders.CONTINUOUS
