"""The ReDrafter decode loop (reference runtime).

One step, for every active row of the batch at once:

    1. beam_search(drafter, h, root)        -> draft_tokens [bs, nb, bl]       (beam_search.py)
       (+ with_lookup_beam(history) when lookup_ngram > 0: one more beam copied from the context, lookup.py)
    2. pack_beams(draft_tokens)             -> packed tree, mask, offsets      (tree.py)
    3. target.verify(tree, positions)       -> logits [bs, n, V], hidden       (target.py, ONE forward)
    4. accept_greedy(argmax, tree)          -> num_accepted_tokens, best beam  (accept.py)
       or accept_sampling(probs, tree, u)   exact speculative sampling         (sampling.py)
    5. target.keep(accepted path)           -> cache holds exactly the accepted tokens
    6. emit draft_tokens[best, 1:n] + bonus; h = hidden at the last accepted token; root = bonus

Before the first step, ``prefill`` runs the prompt and the target's argmax there is the first
token and the first root. ``mode="ar"`` is plain greedy decoding through the same seam: a beam
of length 1 (draft_len = 0, no drafter), so every step verifies just the root.

Rows use left padding, keep their own positions and acceptance lengths, and leave the batch
independently when they stop (EOS, max_new_tokens or a stop string).

Everything stays on the target's device. A step waits for the device twice: ``pack_beams`` reads
the tree's width (the widest row's packed tokens), and the step's results are read once to emit
tokens and to cut the cache; with the lookup beam, ``append_right_aligned`` reads the history's
first used column (a third). The random numbers of sampling are drawn on the host, so every
device sees the same uniforms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime import kernels
from trtllm_redrafter.runtime.accept import accept_greedy
from trtllm_redrafter.runtime.beam_search import beam_search
from trtllm_redrafter.runtime.drafter import Drafter
from trtllm_redrafter.runtime.lookup import with_lookup_beam
from trtllm_redrafter.runtime.sampling import accept_sampling, sample_from, warp_logits
from trtllm_redrafter.runtime.target import Target
from trtllm_redrafter.runtime.tree import PAD, pack_beams


@dataclass
class DecodeConfig:
    # the best shape on a 2-core CPU with the shipped SmolLM2 drafter (docs/benchmarks.md, --sweep);
    # a GPU engine verifies bigger trees almost for free and defaults to 8 x 4 (cli/engine.py)
    num_beams: int = 2
    draft_len: int = 2  # drafted tokens per beam; beam length = draft_len + 1
    max_new_tokens: int = 128
    mode: str = "redrafter"  # "redrafter" | "ar"
    eos_token_ids: tuple[int, ...] = ()
    stop_strings: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 = greedy; > 0 = exact speculative sampling (sampling.py)
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    seed: int = 0  # sampling seed: the same seed and inputs give the same output
    # the context-lookup beam (lookup.py, docs/lookup.md): on by default, the best on this CPU
    # (docs/benchmarks.md, --sweep --sweep-lookup); lookup_ngram 0 = the drafter's beams only
    lookup_ngram: int = 3  # match up to this many trailing tokens
    lookup_min_ngram: int = 1  # like HF prompt lookup, fall back to a single-token match
    lookup_len: int = 5  # tokens the lookup beam proposes; 0 = draft_len
    kernels: str = "torch"  # "torch": this package's reference ops; "ops": torch.ops.redrafter (kernels.py)

    def validate(self) -> None:
        if self.mode not in ("redrafter", "ar"):
            raise RedrafterError(f"mode must be 'redrafter' or 'ar', got {self.mode!r}")
        if self.num_beams <= 0:
            raise RedrafterError(f"num_beams must be >= 1, got {self.num_beams}")
        if self.draft_len <= 0:
            raise RedrafterError(f"draft_len must be >= 1, got {self.draft_len}")
        if self.max_new_tokens <= 0:
            raise RedrafterError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise RedrafterError("sampling needs temperature >= 0, top_k >= 0 and 0 < top_p <= 1")
        if self.lookup_len < 0:
            raise RedrafterError(f"lookup_len must be >= 0 (0 = draft_len), got {self.lookup_len}")
        if self.kernels not in ("torch", "ops"):
            raise RedrafterError(f"kernels must be 'torch' or 'ops', got {self.kernels!r}")
        if self.lookup_ngram < 0 or (self.lookup_ngram and not 1 <= self.lookup_min_ngram <= self.lookup_ngram):
            raise RedrafterError(
                f"lookup needs lookup_ngram >= 0 and 1 <= lookup_min_ngram <= lookup_ngram, "
                f"got {self.lookup_ngram} and {self.lookup_min_ngram}"
            )

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    @property
    def beam_shape(self) -> tuple[int, int]:
        """(nb, draft_len) actually used: AR mode verifies one token per step."""
        return (1, 0) if self.mode == "ar" else (self.num_beams, self.draft_len)

    @property
    def lookup(self) -> bool:
        return self.mode == "redrafter" and self.lookup_ngram > 0

    @property
    def lookup_draft_len(self) -> int:
        """Tokens the lookup beam proposes (lookup_len, 0 = draft_len); 0 when the beam is off."""
        return (self.lookup_len or self.draft_len) if self.lookup else 0

    @property
    def max_tree_tokens(self) -> int:
        """Most tokens one step verifies: nb·bl, plus the lookup beam's tokens."""
        nb, dl = self.beam_shape
        return nb * (dl + 1) + (self.lookup_draft_len + 1 if self.lookup else 0)

    @property
    def max_draft_len(self) -> int:
        """The deepest drafted token a step can add (the KV cache needs room for it)."""
        return max(self.beam_shape[1], self.lookup_draft_len)


@dataclass
class RowState:
    token_ids: list[int] = field(default_factory=list)
    steps: int = 0  # verify forwards while the row was active
    verified: int = 0  # packed tokens verified over those steps
    accepted: list[int] = field(default_factory=list)  # num_accepted_tokens per step
    prefill_s: float = 0.0
    decode_s: float = 0.0
    done: bool = False
    stop_reason: str = ""
    text: str | None = None  # set when a stop string cut the text


@dataclass
class StepEvent:
    row: int  # index of the prompt in the input list
    new_tokens: list[int]
    done: bool


def stats_of(row: RowState, max_tree_tokens: int) -> dict:
    new = len(row.token_ids)
    decode_tokens = new - 1  # the first token comes from the prefill
    return {
        "new_tokens": new,
        "steps": row.steps,
        "tokens_per_step": (sum(row.accepted) / row.steps) if row.steps else None,
        "decode_tokens_per_s": (decode_tokens / row.decode_s) if row.decode_s > 0 else None,
        "time_to_first_token_s": row.prefill_s,
        "mean_verified_per_step": (row.verified / row.steps) if row.steps else None,
        "nb_x_bl": max_tree_tokens,
        "stop_reason": row.stop_reason,
    }


class Decoder:
    """ReDrafter decoding (greedy, or exact sampling when temperature > 0) against any ``Target``."""

    def __init__(
        self,
        target: Target,
        drafter: Drafter | None,
        config: DecodeConfig,
        detokenize: Callable[[list[int]], str] | None = None,
        proposer: Callable[[torch.Tensor, torch.Tensor, int, int], torch.Tensor] | None = None,
    ) -> None:
        """``proposer(hidden, root, nb, draft_len) -> draft_tokens`` replaces the drafter's beam
        search when given (tests use it for an oracle that knows the true continuation)."""
        config.validate()
        if config.mode == "redrafter" and proposer is None:
            if drafter is None:
                raise RedrafterError("mode 'redrafter' needs a drafter")
            if config.num_beams > drafter.config.head_size:
                raise RedrafterError(
                    f"num_beams={config.num_beams} exceeds the draft vocabulary ({drafter.config.head_size})"
                )
        if config.stop_strings and detokenize is None:
            raise RedrafterError("stop strings need a tokenizer")
        self.target = target
        self.drafter = drafter
        self.config = config
        self.detokenize = detokenize
        self.proposer = proposer
        self.rows: list[RowState] = []

    # ---- public API -----------------------------------------------------------------------
    def generate(self, prompts: list[list[int]]) -> list[RowState]:
        for _ in self.stream(prompts):
            pass
        return self.rows

    def stream(self, prompts: list[list[int]]) -> Iterator[StepEvent]:
        """Decode a batch; yield each row's newly accepted tokens as soon as a step ends."""
        self._check_prompts(prompts)
        cfg = self.config
        nb, draft_len = cfg.beam_shape
        self.rows = [RowState() for _ in prompts]
        dev = getattr(self.target, "device", torch.device("cpu"))
        input_ids, valid = (x.to(dev) for x in left_pad(prompts))  # [bs, T]

        gen = torch.Generator().manual_seed(cfg.seed)  # on the host: the same uniforms on every device
        t0 = time.perf_counter()
        logits, hidden = self.target.prefill(input_ids, valid)  # [bs, V], [bs, H]
        if cfg.sampling:
            root = sample_from(self._probs(logits), torch.rand(len(prompts), generator=gen).to(dev))
        else:
            root = logits.argmax(-1)  # [bs]
        first = root[:, None].tolist()  # waits for the prefill
        prefill_s = time.perf_counter() - t0
        positions = valid.sum(-1)  # [bs] position of the root token
        live = list(range(len(prompts)))  # prompt index of each batch row (host side)
        history = torch.cat([input_ids.masked_fill(~valid, PAD), root[:, None]], dim=1)  # [bs, T+1], lookup.py
        for row in self.rows:
            row.prefill_s = prefill_s
        yield from self._emit(live, first, [1] * len(live))
        t_decode = time.perf_counter()

        while True:
            keep = [b for b, r in enumerate(live) if not self.rows[r].done]
            if not keep:
                break
            if len(keep) < len(live):  # finished rows leave the batch
                idx = torch.tensor(keep, device=dev)
                live = [live[b] for b in keep]
                root, hidden, positions, history = root[idx], hidden[idx], positions[idx], history[idx]
                self.target.select_rows(idx)

            # 1-2. draft (plus the context-lookup beam) and pack
            beams = self.propose(hidden, root, nb, draft_len)  # [bs, nb, bl]
            if cfg.lookup:
                beams = with_lookup_beam(beams, history, cfg.lookup_ngram, cfg.lookup_min_ngram, cfg.lookup_draft_len)
            tree = kernels.pack_beams(beams) if cfg.kernels == "ops" else pack_beams(beams)
            # 3. verify every candidate in one target forward
            logits, tree_hidden = self.target.verify(
                tree.tokens, positions[:, None] + tree.position_offsets, tree.mask, tree.valid
            )
            # 4. accept: greedy, or exact sampling with rand_data_validation / rand_data_sample
            if cfg.sampling:
                bs, n_beams, bl = beams.shape
                rand_validation = torch.rand(bs, n_beams, bl - 1, generator=gen).to(dev)  # [bs, nb(+1), bl-1]
                rand_sample = torch.rand(bs, generator=gen).to(dev)  # [bs]
                probs = self._probs(logits)
                if cfg.kernels == "ops":
                    acc = kernels.accept_sampling(probs, beams, tree, rand_validation, rand_sample)
                else:
                    acc = accept_sampling(probs, beams, tree.draft_indices, rand_validation, rand_sample)
            elif cfg.kernels == "ops":
                acc = kernels.accept_greedy(logits, beams, tree)
            else:
                acc = accept_greedy(logits.argmax(-1), beams, tree.draft_indices)
            # one host read of the step's results, [bs, 2 bl + 2]: accepted tokens, accepted path,
            # their count and the tree's width (the loop's other syncs are listed in the docstring)
            parts = (acc.accepted_tokens, acc.path_indices, acc.num_accepted_tokens[:, None], tree.gen_lengths[:, None])
            read = torch.cat([t.long() for t in parts], dim=1).tolist()
            bl = acc.accepted_tokens.shape[1]
            accepted, paths = [r[:bl] for r in read], [r[bl : 2 * bl] for r in read]
            counts, widths = [r[-2] for r in read], [r[-1] for r in read]
            # 5. keep exactly the accepted path in the cache
            k = max(counts)
            keep_valid = torch.arange(k, device=dev)[None, :] < acc.num_accepted_tokens[:, None]  # [bs, k]
            in_place = all(path[:k] == list(range(k)) for path in paths)  # beam 0 won everywhere (target.py)
            self.target.keep(acc.path_indices[:, :k], keep_valid, in_place)
            # 6. next root and drafter context
            positions = positions + acc.num_accepted_tokens
            hidden = tree_hidden.gather(1, acc.hidden_index[:, None, None].expand(-1, 1, tree_hidden.shape[-1]))[:, 0]
            root = acc.next_token
            if cfg.lookup:
                history = append_right_aligned(history, acc.accepted_tokens, acc.num_accepted_tokens)

            now = time.perf_counter()
            for b, r in enumerate(live):
                row = self.rows[r]
                row.steps += 1
                row.verified += widths[b]
                row.accepted.append(counts[b])
                row.decode_s = now - t_decode
            yield from self._emit(live, accepted, counts)

    def propose(self, hidden: torch.Tensor, root: torch.Tensor, nb: int, draft_len: int) -> torch.Tensor:
        """draft_tokens [bs, nb, draft_len + 1] for the next verify step."""
        if draft_len == 0:
            return root[:, None, None]  # AR: verify the root alone
        if self.proposer is not None:
            return self.proposer(hidden, root, nb, draft_len)
        return beam_search(self.drafter, self.target.embed, hidden, root, nb, draft_len).draft_tokens

    # ---- helpers --------------------------------------------------------------------------
    def _probs(self, logits: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        return torch.softmax(warp_logits(logits.float(), cfg.temperature, cfg.top_k, cfg.top_p), dim=-1)

    def _check_prompts(self, prompts: list[list[int]]) -> None:
        if not prompts:
            raise RedrafterError("no prompts given")
        draft_len = self.config.max_draft_len
        for i, p in enumerate(prompts):
            if len(p) == 0:
                raise RedrafterError(f"prompt {i} is empty")
            need = len(p) + self.config.max_new_tokens + draft_len
            if need > self.target.max_positions:
                raise RedrafterError(
                    f"prompt {i} has {len(p)} tokens; with max_new_tokens={self.config.max_new_tokens} and "
                    f"draft_len={draft_len} it needs {need} positions, beyond the model's context of "
                    f"{self.target.max_positions}"
                )

    def _emit(self, live: list[int], tokens: list[list[int]], counts: list[int]) -> Iterator[StepEvent]:
        """Append each live row's new tokens [bs][k] (first counts[b] valid), applying stop rules."""
        cfg = self.config
        for b, r in enumerate(live):
            row = self.rows[r]
            if row.done:
                continue
            new: list[int] = []
            for tok in tokens[b][: counts[b]]:
                new.append(tok)
                if len(row.token_ids) + len(new) >= cfg.max_new_tokens:
                    row.done, row.stop_reason = True, "length"
                if tok in cfg.eos_token_ids:
                    row.done, row.stop_reason = True, "eos"
                if row.done:
                    break
            row.token_ids.extend(new)
            if cfg.stop_strings:
                text = self.detokenize(row.token_ids)
                hits = [text.index(s) for s in cfg.stop_strings if s in text]
                if hits:
                    row.done, row.stop_reason, row.text = True, "stop_string", text[: min(hits)]
            yield StepEvent(row=r, new_tokens=new, done=row.done)


def append_right_aligned(history: torch.Tensor, tokens: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """history [bs, L] (left-padded with PAD) + the first counts[b] of tokens [bs, k] -> [bs, L'],
    still right-aligned; leading all-PAD columns are dropped."""
    k = tokens.shape[1]
    cat = torch.cat([history, tokens], dim=1)  # [bs, L+k]
    src = (
        torch.arange(cat.shape[1], device=cat.device)[None, :] - (k - counts)[:, None]
    )  # shift each row right by k - count
    out = torch.where(src >= 0, cat.gather(1, src.clamp(min=0)), PAD)
    first = int((out != PAD).any(0).long().argmax())  # first column any row uses
    return out[:, first:]


def left_pad(prompts: list[list[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (input_ids [bs, T], valid [bs, T]), padded on the left."""
    t = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), t), pad_id, dtype=torch.long)
    valid = torch.zeros(len(prompts), t, dtype=torch.bool)
    for i, p in enumerate(prompts):
        ids[i, t - len(p) :] = torch.tensor(p, dtype=torch.long)
        valid[i, t - len(p) :] = True
    return ids, valid
