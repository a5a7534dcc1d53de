"""The target LLM behind one narrow seam.

The decode loop never touches a model library. It sees a ``Target`` with four operations:

    prefill(input_ids [bs, T], valid [bs, T])          -> logits [bs, V], hidden [bs, H] at the last token
    verify(tokens [bs, n], position_ids [bs, n],
           tree_mask [bs, n, n], valid [bs, n])        -> logits [bs, n, V], hidden [bs, n, H]
    keep(indices [bs, k], valid [bs, k])               -> keep only these of the n tokens just verified
    select_rows(rows [bs'])                            -> drop finished rows from the batch

plus ``embed(tokens)`` (the frozen input embedding the drafter reads). ``hidden`` is the
last-layer hidden state after the final norm, i.e. the input of the LM head.

KV cache layout (``HFTarget``): one padded tensor per layer, [bs, kv_heads, S, head_dim], with a
boolean ``kv_valid [bs, S]``. Rows accept different numbers of tokens each step, so a row may
have masked-out holes; positions are explicit, so holes change nothing. ``verify`` appends n
slots to every row; ``keep`` rewrites those n slots with the accepted ones and truncates, so the
cache holds exactly the accepted path: no recompute, no stale entries.
"""

from __future__ import annotations

import inspect
from typing import Protocol

import torch


class Target(Protocol):
    vocab_size: int
    hidden_size: int
    max_positions: int
    dtype: torch.dtype

    def embed(self, tokens: torch.Tensor) -> torch.Tensor: ...

    def prefill(self, input_ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def verify(
        self, tokens: torch.Tensor, position_ids: torch.Tensor, tree_mask: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def keep(self, indices: torch.Tensor, valid: torch.Tensor, in_place: bool | None = None) -> None: ...

    def select_rows(self, rows: torch.Tensor) -> None: ...


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """bool [bs, q, kv] (True = may attend) -> additive float mask [bs, 1, q, kv]."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    neg = torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, neg)[:, None]


class HFTarget:
    """Any HF ``AutoModelForCausalLM`` through its custom 4D attention-mask support."""

    def __init__(self, model) -> None:
        from transformers import DynamicCache

        self._cache_cls = DynamicCache
        self.model = model
        self.decoder = model.get_decoder()  # the transformer body: returns post-norm hidden states
        self.lm_head = model.get_output_embeddings()
        self.embedding = model.get_input_embeddings()
        cfg = model.config
        self.vocab_size: int = self.lm_head.weight.shape[0]
        self.hidden_size: int = cfg.hidden_size
        self.max_positions: int = getattr(cfg, "max_position_embeddings", 1 << 30)
        self.dtype: torch.dtype = self.lm_head.weight.dtype
        self.device: torch.device = self.lm_head.weight.device
        params = inspect.signature(self.decoder.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.x
        self.cache = None
        self.kv_valid: torch.Tensor | None = None  # [bs, S] bool

    # ---- the seam ------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embedding(tokens)

    @torch.no_grad()
    def prefill(self, input_ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # input_ids, valid: [bs, T], left padded
        bs, t = input_ids.shape
        positions = (valid.long().cumsum(-1) - 1).clamp(min=0)  # [bs, T]
        causal = torch.ones(t, t, dtype=torch.bool, device=valid.device).tril()  # [T, T]
        allowed = causal[None] & valid[:, None, :]  # [bs, T, T]
        allowed |= torch.eye(t, dtype=torch.bool, device=valid.device)[None]  # padded queries see themselves only
        self.cache = self._cache_cls(config=self.model.config)
        self.kv_valid = torch.zeros(bs, 0, dtype=torch.bool, device=valid.device)
        hidden = self._forward(input_ids, positions, allowed, valid)  # [bs, T, H]
        last = hidden[:, -1]  # left padding: the last column is every row's last real token
        return self.lm_head(last).float(), last

    @torch.no_grad()
    def verify(
        self, tokens: torch.Tensor, position_ids: torch.Tensor, tree_mask: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # tokens, position_ids, valid: [bs, n]; tree_mask: [bs, n, n] (True = ancestor or self)
        hidden = self._forward(tokens, position_ids, tree_mask, valid)  # [bs, n, H]
        return self.lm_head(hidden).float(), hidden

    @torch.no_grad()
    def keep(self, indices: torch.Tensor, valid: torch.Tensor, in_place: bool | None = None) -> None:
        # indices, valid: [bs, k]; indices point into the n slots appended by the last verify
        n = self._pending
        k = indices.shape[1]
        # beam 0 is packed first, so when it wins (and always in AR mode) its path is slots 0..k-1:
        # the accepted entries already sit in place and only the tail is cut. The decoder passes
        # in_place from its host copy of the paths; computing it here would wait for the device.
        if in_place is None:
            in_place = bool((indices == torch.arange(k, device=indices.device)).all())
        for layer in self.cache.layers:
            for name in ("keys", "values"):
                kv = getattr(layer, name)  # [bs, heads, S + n, d]
                s = kv.shape[2] - n
                if not in_place:
                    idx = indices[:, None, :, None].expand(-1, kv.shape[1], -1, kv.shape[3])
                    kv[:, :, s : s + k] = kv[:, :, s:].gather(2, idx)  # in place: O(n), not O(S)
                setattr(layer, name, kv[:, :, : s + k])
        self.kv_valid = torch.cat([self.kv_valid[:, :-n], valid], dim=1)  # [bs, S + k]
        assert self.kv_valid.shape[1] == self.cache.layers[0].keys.shape[2], (k, n)

    def select_rows(self, rows: torch.Tensor) -> None:
        for layer in self.cache.layers:
            layer.keys = layer.keys[rows]
            layer.values = layer.values[rows]
        self.kv_valid = self.kv_valid[rows]

    # ---- HF specifics --------------------------------------------------------------------
    def _forward(
        self, tokens: torch.Tensor, positions: torch.Tensor, new_mask: torch.Tensor, new_valid: torch.Tensor
    ) -> torch.Tensor:
        bs, n = tokens.shape
        past = self.kv_valid[:, None, :].expand(bs, n, -1)  # [bs, n, S]: every real cache slot
        allowed = torch.cat([past, new_mask & new_valid[:, None, :]], dim=-1)  # [bs, n, S + n]
        allowed[:, :, -n:] |= torch.eye(n, dtype=torch.bool, device=tokens.device)[None]
        out = self.decoder(
            input_ids=tokens,
            position_ids=positions,
            attention_mask=additive_mask(allowed, self.dtype),
            **{self._cache_kwarg: self.cache},
            use_cache=True,
        )
        self.kv_valid = torch.cat([self.kv_valid, new_valid], dim=1)
        self._pending = n
        return out.last_hidden_state
