"""The parts of a ReDrafter step that are not plugins, as TensorRT-LLM functional ops.

Each function mirrors one function of the PyTorch reference (named in its docstring), with the
same shapes; the functional ops are tensorrt_llm/functional.py's (names as imported by
tensorrt_llm/models/redrafter/redrafter_helper.py at the commits listed in docs/trtllm.md).
``tensorrt_llm`` is imported inside each function, so importing this module is free.

Shapes: bs = requests, bs_gen = generation requests, nb = beams, bl = beam length, dl = bl - 1,
V = vocabulary, V' = the drafter head's rows (V' < V with a reduced draft vocabulary, else V),
H = hidden size, G = longest packed tree this step, n_cap = nb * dl + 1.

Every data-dependent length is bounded when the engine is built (docs/trtllm.md, defect 1): G by
``bounded_longest`` (at most n_cap), index ranges by ``first_slots`` (slices of a constant arange),
row reads clamped to the last row, as TensorRT-LLM's own ReDrafter helper does.
"""

from __future__ import annotations

from typing import Any

Tensor = Any  # tensorrt_llm.functional.Tensor (not imported at module level)

INT = "int32"


def generation_row_offsets(gen_lengths: Tensor, num_ctx: Tensor) -> Tensor:
    """The flat row of each generation request's slot 0: num_ctx + the lengths before it [bs_gen].

    The step's logits and hidden states are flat, [rows, X]: one row per context request, then each
    generation request's packed tree (gen_lengths[b] rows), concatenated (the runtime's order). Slot j
    of generation request b is row ``offsets[b] + j``. The plugins read the flat logits through these
    offsets, so no [bs_gen, G, V] copy is made (docs/trtllm.md, defect 11). Reference layout:
    ``HFTarget.verify``'s logits[b, j] for the packed tree of ``tree.pack_beams``.
    """
    from tensorrt_llm.functional import cumsum

    return num_ctx + cumsum(gen_lengths, dim=0) - gen_lengths  # [bs_gen]


def rows_at(flat: Tensor, row_offsets: Tensor, slots: Tensor) -> Tensor:
    """flat [rows, X], row_offsets [bs_gen], slots [bs_gen] -> flat[row_offsets[b] + slots[b]] [bs_gen, X].

    The drafter's context of each generation request: the hidden state at its last accepted slot
    (``hidden_index``), read from the flat rows without unpacking them. The row is clamped to the last
    one, so a malformed index reads a real row, as TensorRT-LLM's helper clamps its unpack indices
    (``minimum(..., max_index_allowed)``, redrafter_helper.py @ 20709ce9). Mirror of the
    ``tree_hidden.gather(1, acc.hidden_index ...)`` step of ``trtllm_redrafter.runtime.decode.Decoder.stream``.
    """
    from tensorrt_llm.functional import index_select, minimum, shape

    rows = minimum(row_offsets + slots, shape(flat, 0, INT) - 1)  # [bs_gen]
    return index_select(flat, dim=0, index=rows)


def bounded_longest(gen_lengths: Tensor, capacity: int) -> Tensor:
    """max(gen_lengths) as a scalar in [0, capacity]: a data-dependent length with a static bound.

    TensorRT-LLM's helper bounds its own (``_get_gen_token_indices_for_unpack``: ``minimum`` with
    nb * bl - nb + 1, then ``maximum`` with 0; redrafter_helper.py @ 20709ce9), so that shape
    inference, and the memory TensorRT reserves, never see an unbounded size. capacity = nb * dl + 1.
    """
    from tensorrt_llm.functional import constant_to_tensor_, max, maximum, minimum

    zero = constant_to_tensor_(0, to_array=False)
    return maximum(minimum(max(gen_lengths, dim=0), constant_to_tensor_(capacity, to_array=False)), zero)


def first_slots(size: Tensor, capacity: int) -> Tensor:
    """[0, 1, ..., size - 1] int32 as a slice of the constant arange(capacity), never a data-dependent arange.

    The pattern of TensorRT-LLM's ``_get_draft_token_array`` (``slice(constant(np.arange(nb * bl)), ...)``,
    redrafter_helper.py @ 20709ce9): the result's largest possible size is known when the engine is built.
    """
    import numpy as np
    from tensorrt_llm.functional import constant, slice, unsqueeze

    return slice(constant(np.arange(capacity, dtype=np.int32)), starts=[0], sizes=unsqueeze(size, 0))


def beam_search(
    drafter: Any,
    embedding: Any,
    lm_head: Any,
    hidden: Tensor,
    root: Tensor,
    num_beams: int,
    draft_len: int,
) -> tuple[Tensor, Tensor]:
    """Beams [bs, nb, bl] int32 (base token ids) and their drafter log-probs [bs, nb, dl, V'] float32.

    Mirror of ``trtllm_redrafter.runtime.beam_search.beam_search`` (with ``return_logp=True``): one live
    beam at the start (scores [0, -inf, ...]); each step adds the drafter's float32 log-softmax to
    the beam scores, keeps the top nb of nb*V' extensions, maps the chosen draft ids to base token
    ids (``drafter.to_target_ids``: a gather through ``draft_vocab``, the identity without one), and
    gathers tokens, RNN state and the per-position log-probs along the chosen parent beams.
    ``hidden`` [bs, H] is the target's hidden state at the last accepted token, ``root`` [bs] the
    token the target chose next. The log-probs stay over the head's V' columns, as the reference's;
    ``draft_columns_to_vocab`` spreads them over V for the engine output.
    """
    import numpy as np
    from tensorrt_llm.functional import (
        cast,
        concat,
        constant,
        expand,
        gather_nd,
        log_softmax,
        shape,
        slice,
        squeeze,
        topk,
        unsqueeze,
        view,
    )

    nb = num_beams
    vocab = drafter.head_size  # V'
    bs = shape(hidden, 0, INT)
    context = expand(unsqueeze(hidden, 1), concat([bs, nb, shape(hidden, 1, INT)]))  # [bs, nb, H]
    tokens = expand(unsqueeze(unsqueeze(root, 1), 2), concat([bs, nb, 1]))  # [bs, nb, 1]
    first = np.full((1, nb), -np.inf, dtype=np.float32)
    first[0, 0] = 0.0  # one live beam at the start
    scores = expand(constant(first), concat([bs, nb]))  # [bs, nb]
    state = None  # s_0 = 0
    log_probs = None  # [bs, nb, t, V']
    for step in range(draft_len):
        last = squeeze(slice(tokens, starts=[0, 0, step], sizes=concat([bs, nb, 1])), -1)  # [bs, nb]
        state = drafter.next_state(state, embedding(last))  # [bs, nb, H]
        logp = log_softmax(cast(drafter(context, state, lm_head), "float32"), dim=-1)  # [bs, nb, V']
        total = view(unsqueeze(scores, 2) + logp, concat([bs, nb * vocab]))  # [bs, nb*V']
        scores, flat = topk(total, k=nb, dim=-1)  # [bs, nb]
        parent = flat // vocab  # [bs, nb]
        token = drafter.to_target_ids(flat - parent * vocab)  # [bs, nb] base token ids
        along = unsqueeze(parent, -1)  # [bs, nb, 1]: gather along each row's parent beams
        tokens = concat([gather_nd(tokens, along, batch_dims=1), unsqueeze(token, -1)], dim=2)
        state = gather_nd(state, along, batch_dims=1)
        new = unsqueeze(gather_nd(logp, along, batch_dims=1), 2)  # [bs, nb, 1, V']
        log_probs = new if log_probs is None else concat([gather_nd(log_probs, along, batch_dims=1), new], dim=2)
    return tokens, log_probs


def draft_columns_to_vocab(log_probs: Tensor, draft_vocab: Tensor, vocab_size: int) -> Tensor:
    """Log-probs over the draft vocabulary [bs, nb, dl, V'] -> over the whole vocabulary [bs, nb, dl, V].

    Column draft_vocab[j] receives column j; every other column is -inf (log 0: the drafter never
    proposes those tokens). Keeps ``next_draft_probs`` at TensorRT-LLM's [bs, nb, bl-1, V], so the
    engine I/O and the sampled acceptance (which reads Q at the drafted base token ids) are those of
    a full-vocabulary drafter. Reference: ``beam_search.beam_search``'s draft_logp [..., V'] is the
    same distribution, indexed by draft id; ``full[..., draft_vocab] = draft_logp``.
    """
    import numpy as np
    from tensorrt_llm.functional import concat, constant, expand, scatter, shape, view

    dims = [shape(log_probs, i, INT) for i in range(3)]  # bs, nb, dl
    floor = expand(constant(np.full((1, 1, 1, 1), -np.inf, dtype=np.float32)), concat([*dims, vocab_size]))
    columns = expand(view(draft_vocab, [1, 1, 1, -1]), shape(log_probs, cast_to_dtype=INT))  # [bs, nb, dl, V']
    return scatter(floor, dim=3, indices=columns, updates=log_probs)  # [bs, nb, dl, V]


def unpack_mask_bits(packed: Tensor, size: Tensor, capacity: int) -> Tensor:
    """Bit-packed tree mask [bs, n_cap, W] int32 -> bool [bs, G, G] for the first G = ``size`` slots.

    ``size`` comes from ``bounded_longest`` (at most ``capacity`` = n_cap), and the columns are
    ``first_slots``: every shape here has a static bound.

    Mirror of ``trtllm_redrafter.runtime.tree.unpack_mask_bits``: column q is bit (q % 32) of word q // 32,
    least significant first; bit 31 is the sign bit. Bit k < 31 of a word w is (w // 2^k) % 2 with
    floor division and floor modulo (TensorRT's FLOOR_DIV; exact for negative w as well, since
    w = u - 2^32 only shifts w // 2^k by an even number), and bit 31 is w < 0 (2^31 is not an int32).
    """
    import numpy as np
    from tensorrt_llm.functional import (
        cast,
        concat,
        constant,
        expand,
        gather,
        index_select,
        shape,
        slice,
        view,
        where,
    )

    bs = shape(packed, 0, INT)
    words = shape(packed, 2, INT)
    cols = first_slots(size, capacity)  # [G]
    word_of = cols // 32  # [G]
    bit_of = cols - word_of * 32  # [G]
    rows = slice(packed, starts=[0, 0, 0], sizes=concat([bs, size, words]))  # [bs, G, W]
    index = expand(view(word_of, [1, 1, -1]), concat([bs, size, size]))  # [bs, G, G]
    word = gather(rows, dim=2, indices=index)  # [bs, G, G]: the word holding column q
    sign = cast(word < 0, INT)  # bit 31
    powers = constant(np.array([1 << min(k, 30) for k in range(32)], dtype=np.int32))  # 2^k, k < 31
    divisor = view(index_select(powers, dim=0, index=bit_of), [1, 1, -1])  # [1, 1, G]
    low_bit = (word // divisor) % 2  # int32 0/1; floor division and modulo: right for w < 0 too
    is_bit31 = expand(view(bit_of == 31, [1, 1, -1]), shape(word))
    return cast(where(is_bit31, sign, low_bit), "bool")  # select on int32, then bool


def select_valid(x: Tensor, lengths: Tensor, capacity: int) -> Tensor:
    """x [bs, n_cap], lengths [bs] -> the first lengths[b] entries of every row, concatenated [sum].

    The runtime's packed layout (``next_flat_tokens``, ``packed_position_ids``; see
    docs/explicit_draft_tokens_contract.md); in the reference the same selection is
    ``tree.tokens[tree.valid]`` of ``trtllm_redrafter.runtime.tree.pack_beams``.
    """
    import numpy as np
    from tensorrt_llm.functional import constant, expand, masked_select, shape, unsqueeze

    slots = expand(constant(np.arange(capacity, dtype=np.int32)[None, :]), shape(x, cast_to_dtype=INT))
    return masked_select(x, slots < unsqueeze(lengths, 1))


def first_columns(x: Tensor, width: Tensor) -> Tensor:
    """x [bs, n_cap] -> x[:, :width] [bs, G]."""
    from tensorrt_llm.functional import concat, shape, slice

    return slice(x, starts=[0, 0], sizes=concat([shape(x, 0, INT), width]))
