"""The recurrent drafter as a TensorRT-LLM ``Module`` (mirror of ``trtllm_redrafter.drafter.Drafter``).

Parameter names match the checkpoint (convert.py) under the model attribute ``drafter``:

    input_proj.{weight,bias}      ColumnLinear(2H -> E), only when E != 2H
    layers.{j}.linear.{weight,bias}  ResBlock j: y + SiLU(Linear(y))
    lm_head.weight                ColumnLinear(E -> V), absent when the base LM head is borrowed
    rnn_u.{weight,bias}           U, applied to the state
    rnn_w.weight                  W, applied to the token embedding

Every linear is column-parallel with ``gather_output=True``, as in TensorRT-LLM's own drafter
(tensorrt_llm/models/redrafter/drafter.py), so each rank computes full activations.

The classes subclass TensorRT-LLM's ``Module``; they are created on first use by
``drafter_classes()`` so that importing this module does not import tensorrt_llm.
"""

from __future__ import annotations

import functools
from typing import Any

RNN_FORMULAS = ("apple", "trtllm")


@functools.cache
def drafter_classes() -> tuple[type, type]:
    """(ResBlock, ReDrafterHead), defined against the installed tensorrt_llm."""
    from tensorrt_llm.functional import Tensor, concat, constant_to_tensor_, expand, expand_dims, shape, silu
    from tensorrt_llm.layers import ColumnLinear
    from tensorrt_llm.module import Module, ModuleList

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
        """Mirror of ``trtllm_redrafter.drafter.ResBlock``: x + SiLU(Linear(x))."""

        def __init__(self, dim: int, dtype: str, mapping: Any) -> None:
            super().__init__()
            self.linear = column(dim, dim, True, dtype, mapping)

        def forward(self, x: Tensor) -> Tensor:
            return x + silu(self.linear(x))

    class ReDrafterHead(Module):
        """Mirror of ``trtllm_redrafter.drafter.Drafter`` (``next_state`` and ``forward``)."""

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
        ) -> None:
            super().__init__()
            if rnn_formula not in RNN_FORMULAS:
                raise ValueError(f"redrafter_rnn_formula must be one of {RNN_FORMULAS}, got {rnn_formula!r}")
            self.is_rnn = is_rnn
            self.rnn_formula = rnn_formula
            self.vocab_size = vocab_size
            self.input_proj = (
                column(2 * hidden_size, exit_dim, True, dtype, mapping) if exit_dim != 2 * hidden_size else None
            )
            self.layers = ModuleList([ResBlock(exit_dim, dtype, mapping) for _ in range(num_layers)])
            self.lm_head = column(exit_dim, vocab_size, False, dtype, mapping) if own_lm_head else None
            if is_rnn:
                self.rnn_u = column(hidden_size, hidden_size, True, dtype, mapping)
                self.rnn_w = column(hidden_size, hidden_size, False, dtype, mapping)

        def next_state(self, state: Tensor | None, token_emb: Tensor) -> Tensor:
            """s_t [bs, nb, H] from s_{t-1} (None for s_0 = 0) and e(g_{t-1}) [bs, nb, H].

            Mirror of ``trtllm_redrafter.drafter.Drafter.next_state``:
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

        def forward(self, context: Tensor, state: Tensor, lm_head: Any = None) -> Tensor:
            """Logits [bs, nb, V] from the target hidden state [bs, nb, H] and the RNN state [bs, nb, H].

            Mirror of ``trtllm_redrafter.drafter.Drafter.forward``; ``lm_head`` is the base model's
            head for a drafter that borrows it (``redrafter_lm_head_from_target``).
            """
            x = concat([context, state], dim=-1)  # [bs, nb, 2H]
            if self.input_proj is not None:
                x = self.input_proj(x)  # [bs, nb, E]
            for layer in self.layers:
                x = layer(x)
            head = self.lm_head if self.lm_head is not None else lm_head
            return head(x)  # [bs, nb, V]

    return ResBlock, ReDrafterHead


def make_drafter(config: Any, vocab_size: int) -> Any:
    """The drafter module for a TensorRT-LLM PretrainedConfig carrying our ``redrafter_*`` fields."""
    _, head_cls = drafter_classes()
    return head_cls(
        hidden_size=config.redrafter_hidden_size,
        exit_dim=config.redrafter_exit_dim,
        num_layers=config.redrafter_num_layers,
        vocab_size=vocab_size,
        is_rnn=config.redrafter_is_rnn,
        rnn_formula=getattr(config, "redrafter_rnn_formula", "apple"),
        own_lm_head=not getattr(config, "redrafter_lm_head_from_target", False),
        dtype=config.dtype,
        mapping=config.mapping,
    )
