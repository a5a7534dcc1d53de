"""The recurrent drafter as a TensorRT-LLM ``Module`` (mirror of ``trtllm_redrafter.runtime.drafter.Drafter``).

Parameter names match the checkpoint (convert.py) under the model attribute ``drafter``:

    input_proj.{weight,bias}      ColumnLinear(2H -> E), only when E != 2H
    layers.{j}.linear.{weight,bias}  ResBlock j: y + SiLU(Linear(y))
    lm_head.weight                ColumnLinear(E -> V'p), absent when the base LM head is borrowed;
                                  V'p = V' padded to a multiple of tp (convert.py), and the padded
                                  columns are cut off the logits (``forward``), so they are never drafted
    draft_vocab                   int32 [V'] Parameter, only with a reduced draft vocabulary (V' > 0)
    rnn_u.{weight,bias}           U, applied to the state
    rnn_w.weight                  W, applied to the token embedding

V' is ``redrafter_draft_vocab_size`` when > 0, else V. With a reduced draft vocabulary the head
always is the drafter's own [V', E] weight: for an ``lm_head_from_target`` drafter the checkpoint
holds the base head's ``draft_vocab`` rows (convert.py), so the base LM head is not borrowed then.

Every linear is column-parallel with ``gather_output=True``, as in TensorRT-LLM's own drafter
(tensorrt_llm/models/redrafter/drafter.py), so each rank computes full activations.

The classes subclass TensorRT-LLM's ``Module``; they are created on first use by
``drafter_classes()`` so that importing this module does not import tensorrt_llm.
"""

from __future__ import annotations

import functools
from typing import Any

from trtllm_redrafter.trtllm.sharding import padded_rows

RNN_FORMULAS = ("apple", "trtllm")


def borrows_base_lm_head(lm_head_from_target: bool, draft_vocab_size: int) -> bool:
    """Does the drafter run on the base model's ``lm_head`` (rather than its own ``lm_head.weight``)?

    Only a full-vocabulary ``lm_head_from_target`` drafter does; a reduced one owns its [V', E] rows.
    """
    return lm_head_from_target and not draft_vocab_size


@functools.cache
def drafter_classes() -> tuple[type, type]:
    """(ResBlock, ReDrafterHead), defined against the installed tensorrt_llm."""
    from tensorrt_llm.functional import (
        Tensor,
        concat,
        constant_to_tensor_,
        expand,
        expand_dims,
        index_select,
        shape,
        silu,
        slice,
        view,
    )
    from tensorrt_llm.layers import ColumnLinear
    from tensorrt_llm.module import Module, ModuleList
    from tensorrt_llm.parameter import Parameter

    def column(in_features: int, out_features: int, bias: bool, dtype: str, mapping: Any) -> Any:
        return ColumnLinear(
            in_features,
            out_features,
            bias=bias,
            dtype=dtype,
            tp_group=mapping.tp_group,
            tp_size=mapping.tp_size,
            gather_output=True,
        )

    class ResBlock(Module):
        """Mirror of ``trtllm_redrafter.runtime.drafter.ResBlock``: x + SiLU(Linear(x))."""

        def __init__(self, dim: int, dtype: str, mapping: Any) -> None:
            super().__init__()
            self.linear = column(dim, dim, True, dtype, mapping)

        def forward(self, x: Tensor) -> Tensor:
            return x + silu(self.linear(x))

    class ReDrafterHead(Module):
        """Mirror of ``trtllm_redrafter.runtime.drafter.Drafter`` (``next_state`` and ``forward``)."""

        def __init__(
            self,
            *,
            hidden_size: int,
            exit_dim: int,
            num_layers: int,
            vocab_size: int,
            is_rnn: bool,
            rnn_formula: str,
            own_lm_head: bool,
            dtype: str,
            mapping: Any,
            draft_vocab_size: int = 0,
        ) -> None:
            super().__init__()
            if rnn_formula not in RNN_FORMULAS:
                raise ValueError(f"redrafter_rnn_formula must be one of {RNN_FORMULAS}, got {rnn_formula!r}")
            if draft_vocab_size and not own_lm_head:
                raise ValueError("a reduced draft vocabulary needs the drafter's own [V', E] lm_head")
            self.is_rnn = is_rnn
            self.rnn_formula = rnn_formula
            self.vocab_size = vocab_size
            self.head_size = draft_vocab_size or vocab_size  # V': columns of the logits
            self.head_rows = padded_rows(self.head_size, mapping.tp_size)  # V'p: rows of the checkpoint's head
            self.input_proj = (
                column(2 * hidden_size, exit_dim, True, dtype, mapping) if exit_dim != 2 * hidden_size else None
            )
            self.layers = ModuleList([ResBlock(exit_dim, dtype, mapping) for _ in range(num_layers)])
            self.lm_head = column(exit_dim, self.head_rows, False, dtype, mapping) if own_lm_head else None
            # draft id -> base token id, replicated over ranks (convert.py writes drafter.draft_vocab)
            self.draft_vocab = Parameter(shape=(draft_vocab_size,), dtype="int32") if draft_vocab_size else None
            if is_rnn:
                self.rnn_u = column(hidden_size, hidden_size, True, dtype, mapping)
                self.rnn_w = column(hidden_size, hidden_size, False, dtype, mapping)

        def next_state(self, state: Tensor | None, token_emb: Tensor) -> Tensor:
            """s_t [bs, nb, H] from s_{t-1} (None for s_0 = 0) and e(g_{t-1}) [bs, nb, H].

            Mirror of ``trtllm_redrafter.runtime.drafter.Drafter.next_state``:
                no RNN:   s_t = e + s_{t-1}
                trtllm:   s_1 = W e;  s_t = W e + U s_{t-1} + b
                apple:    s_t = SiLU(W e + U s_{t-1} + b), s_0 = 0
            """
            if not self.is_rnn:
                return token_emb if state is None else token_emb + state
            w_e = self.rnn_w(token_emb)
            if self.rnn_formula == "trtllm":
                return w_e if state is None else w_e + self.rnn_u(state)
            if state is None:  # U applied to s_0 = 0 leaves the bias (gathered over ranks by rnn_u)
                zero = constant_to_tensor_(0.0, dtype=token_emb.dtype)
                state = expand(expand_dims(zero, [0, 1]), shape(token_emb))
            return silu(w_e + self.rnn_u(state))

        def to_target_ids(self, draft_ids: Tensor) -> Tensor:
            """Draft ids [bs, nb] (rows of the head) -> base token ids [bs, nb] int32: one gather.

            Mirror of ``trtllm_redrafter.runtime.drafter.Drafter.to_target_ids``.
            """
            if self.draft_vocab is None:
                return draft_ids
            ids = index_select(self.draft_vocab.value, dim=0, index=view(draft_ids, [-1]))  # [bs * nb]
            return view(ids, shape(draft_ids), zero_is_placeholder=False)

        def forward(self, context: Tensor, state: Tensor, lm_head: Any = None) -> Tensor:
            """Logits [bs, nb, V'] from the target hidden state [bs, nb, H] and the RNN state [bs, nb, H].

            Mirror of ``trtllm_redrafter.runtime.drafter.Drafter.forward``; ``lm_head`` is the base model's
            head for a drafter that borrows it (``redrafter_lm_head_from_target``).
            """
            x = concat([context, state], dim=-1)  # [bs, nb, 2H]
            if self.input_proj is not None:
                x = self.input_proj(x)  # [bs, nb, E]
            for layer in self.layers:
                x = layer(x)
            if self.lm_head is None:  # the borrowed base head: V' = V, which tp divides (convert.py)
                return lm_head(x)  # [bs, nb, V]
            logits = self.lm_head(x)  # [bs, nb, V'p]
            if self.head_rows == self.head_size:
                return logits
            # cut the padding rows' columns: a padded draft id can never enter the beam search's top-k
            sizes = concat([shape(logits, 0, "int32"), shape(logits, 1, "int32"), self.head_size])
            return slice(logits, starts=[0, 0, 0], sizes=sizes)  # [bs, nb, V']

    return ResBlock, ReDrafterHead


def make_drafter(config: Any, vocab_size: int) -> Any:
    """The drafter module for a TensorRT-LLM PretrainedConfig carrying our ``redrafter_*`` fields."""
    _, head_cls = drafter_classes()
    draft_vocab_size = getattr(config, "redrafter_draft_vocab_size", 0)
    borrowed = getattr(config, "redrafter_lm_head_from_target", False)
    return head_cls(
        hidden_size=config.redrafter_hidden_size,
        exit_dim=config.redrafter_exit_dim,
        num_layers=config.redrafter_num_layers,
        vocab_size=vocab_size,
        is_rnn=config.redrafter_is_rnn,
        rnn_formula=getattr(config, "redrafter_rnn_formula", "apple"),
        own_lm_head=not borrows_base_lm_head(borrowed, draft_vocab_size),
        dtype=config.dtype,
        mapping=config.mapping,
        draft_vocab_size=draft_vocab_size,
    )
