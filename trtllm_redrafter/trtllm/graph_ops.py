"""The parts of a ReDrafter step that are not plugins, as TensorRT-LLM functional ops.

Each function mirrors one function of the PyTorch reference (named in its docstring), with the
same shapes; the functional ops are tensorrt_llm/functional.py's (names as imported by
tensorrt_llm/models/redrafter/redrafter_helper.py at the commits listed in docs/trtllm.md).
``tensorrt_llm`` is imported inside each function, so importing this module is free.

Shapes: bs = requests, bs_gen = generation requests, nb = beams, bl = beam length, dl = bl - 1,
V = vocabulary, V' = the drafter head's rows (V' < V with a reduced draft vocabulary, else V),
H = hidden size, G = longest packed tree this step, n_cap = nb * dl + 1.
"""

from __future__ import annotations

from typing import Any

Tensor = Any  # tensorrt_llm.functional.Tensor (not imported at module level)

INT = "int32"


def unpack_generation_rows(flat: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Per-request rows from the packed generation tokens.

    flat [sum(lengths), X] (requests' packed tree tokens, concatenated), lengths [bs_gen]
    -> rows [bs_gen, G, X] with G = max(lengths), and G (a scalar). Slots past a request's own
    length hold a valid but meaningless row (the index is clamped), as the plugins expect.

    Mirror of the layout ``trtllm_redrafter.runtime.target.HFTarget.verify`` returns (logits [bs, n, V],
    hidden [bs, n, H]) for the packed tree of ``trtllm_redrafter.runtime.tree.pack_beams``.
    """
    from tensorrt_llm.functional import (
        arange,
        concat,
        constant_to_tensor_,
        cumsum,
        index_select,
        max,
        maximum,
        minimum,
        shape,
        unsqueeze,
        view,
    )

    zero = constant_to_tensor_(0, to_array=False)
    longest = maximum(max(lengths, dim=0), zero)  # scalar; 0 when there is no generation request
    starts = cumsum(lengths, dim=0) - lengths  # [bs_gen] first packed row of each request
    slots = arange(zero, longest, dtype=INT)  # [G]
    index = unsqueeze(starts, 1) + unsqueeze(slots, 0)  # [bs_gen, G]
    index = minimum(index, shape(flat, 0, INT) - 1)  # padding slots read a real row
    rows = index_select(flat, dim=0, index=view(index, [-1]))  # [bs_gen * G, X]
    out_shape = concat([shape(lengths, 0, INT), longest, shape(flat, 1, INT)])
    return view(rows, out_shape, zero_is_placeholder=False), longest


def gather_row(x: Tensor, index: Tensor) -> Tensor:
    """x [bs, n, X], index [bs] -> x[b, index[b]] [bs, X].

    Mirror of the ``tree_hidden.gather(1, acc.hidden_index ...)`` step of
    ``trtllm_redrafter.runtime.decode.Decoder.stream`` (the drafter's context hidden state).
    """
    from tensorrt_llm.functional import gather_nd, unsqueeze

    return gather_nd(x, unsqueeze(index, -1), batch_dims=1)


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


def unpack_mask_bits(packed: Tensor, size: Tensor) -> Tensor:
    """Bit-packed tree mask [bs, n_cap, W] int32 -> bool [bs, G, G] for the first G = ``size`` slots.

    Mirror of ``trtllm_redrafter.runtime.tree.unpack_mask_bits``: column q is bit (q % 32) of word q // 32,
    least significant first; bit 31 is the sign bit. Bit k < 31 of a word w is (w // 2^k) % 2 with
    floor division and floor modulo (TensorRT's FLOOR_DIV; exact for negative w as well, since
    w = u - 2^32 only shifts w // 2^k by an even number), and bit 31 is w < 0 (2^31 is not an int32).
    """
    import numpy as np
    from tensorrt_llm.functional import (
        arange,
        cast,
        concat,
        constant,
        constant_to_tensor_,
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
    cols = arange(constant_to_tensor_(0, to_array=False), size, dtype=INT)  # [G]
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


def sampled_acceptance(
    logits: Tensor,
    inverted_temperature: Tensor,
    draft_tokens: Tensor,
    draft_indices: Tensor,
    draft_log_probs: Tensor,
    rand_validation: Tensor,
    rand_sample: Tensor,
    num_beams: int,
    beam_length: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Sampling engines (redrafter_greedy_search false): TensorRT-LLM's acceptance rule.

    logits [bs_gen, G, V] float32, inverted_temperature [bs_gen], draft_tokens / draft_indices
    [bs_gen, nb, bl], draft_log_probs [bs_gen, nb, dl, V], rand_validation [bs_gen, nb, dl],
    rand_sample [bs_gen] -> (num_accepted_tokens, accepted_beam_index, next_token, hidden_index),
    each [bs_gen]. A drafted token x is accepted while u < P(x) / Q(x); the beam with the longest
    accepted prefix wins; the next token is drawn from P after a fully accepted beam, else from
    relu(P - Q) at the first rejection (docs/explicit_draft_tokens_contract.md, "Verification and
    acceptance"). The project's own exact sampling rule (trtllm_redrafter/runtime/sampling.py) is not
    mirrored yet; greedy engines use the RedrafterGreedyAccept plugin instead.
    """
    import numpy as np
    from tensorrt_llm.functional import (
        cast,
        categorical_sample,
        concat,
        constant,
        cumsum,
        exp,
        expand_dims,
        gather,
        gather_nd,
        log_softmax,
        relu,
        shape,
        slice,
        squeeze,
        sum,
        topk,
        unsqueeze,
        view,
        where,
    )

    nb, bl = num_beams, beam_length
    dl = bl - 1
    bs = shape(draft_tokens, 0, INT)
    vocab = shape(logits, 2, INT)
    logp = log_softmax(logits * expand_dims(cast(inverted_temperature, "float32"), [1, 2]), dim=-1)
    flat_index = view(draft_indices, concat([bs, nb * bl, 1]))
    per_beam = view(gather_nd(logp, flat_index, batch_dims=1), concat([bs, nb, bl, vocab]))  # [bs, nb, bl, V]
    base = slice(per_beam, starts=[0, 0, 0, 0], sizes=concat([bs, nb, dl, vocab]))  # scores drafts
    last = squeeze(slice(per_beam, starts=[0, 0, dl, 0], sizes=concat([bs, nb, 1, vocab])), 2)  # [bs, nb, V]
    q = cast(draft_log_probs, "float32")
    drafted = unsqueeze(slice(draft_tokens, starts=[0, 0, 1], sizes=concat([bs, nb, dl])), -1)  # [bs, nb, dl, 1]
    log_p = squeeze(gather(base, dim=-1, indices=drafted), -1)  # [bs, nb, dl]
    log_q = squeeze(gather(q, dim=-1, indices=drafted), -1)
    accepted = cast(cast(rand_validation, "float32") < exp(log_p - log_q), INT)  # [bs, nb, dl]
    prefix = constant(np.arange(1, bl, dtype=np.int32))  # [dl]
    run = sum(cast(cumsum(accepted, dim=-1) == prefix, INT), dim=-1)  # [bs, nb] leading accepts
    best_run, best_beam = topk(run, k=1, dim=-1)
    n, beam = squeeze(best_run, -1), squeeze(best_beam, -1)  # [bs]
    along = unsqueeze(beam, -1)
    beam_p, beam_q = gather_nd(base, along, batch_dims=1), gather_nd(q, along, batch_dims=1)  # [bs, dl, V]
    beam_last = gather_nd(last, along, batch_dims=1)  # [bs, V]
    at = unsqueeze(n - cast(n == dl, INT), -1)  # first rejection, clamped to dl - 1
    residual = relu(exp(gather_nd(beam_p, at, batch_dims=1)) - exp(gather_nd(beam_q, at, batch_dims=1)))
    probs = where(unsqueeze(n == dl, -1), exp(beam_last), residual)  # [bs, V]
    next_token = categorical_sample(probs, cast(rand_sample, "float32"))
    hidden_index = gather_nd(draft_indices, concat([unsqueeze(beam, 1), unsqueeze(n, 1)], dim=1), batch_dims=1)
    return n + 1, beam, next_token, hidden_index
