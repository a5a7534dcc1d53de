"""The recurrent draft head (ReDrafter, arXiv 2403.09919, section 3.1).

Given the target's last hidden state ``h`` [bs, H] and the token ``g`` the target chose next, the
drafter proposes the tokens after ``g`` one at a time:

    s_0 = 0
    s_t = SiLU(W · e(g_{t-1}) + U · s_{t-1} + b)       e = the target's frozen input embedding
    x_t = input_proj([h ; s_t])                          optional, 2H -> exit_dim
    x_t = x_t + SiLU(Linear(x_t))                        num_draft_layers ResBlocks
    logits_t = LM(x_t)                                   exit_dim -> vocab

That is Apple's reference (``rnn_formula="apple"``). TensorRT-LLM has shipped two forms. Its
``Drafter.rnn_embed`` (tensorrt_llm/models/redrafter/drafter.py, read at commit 8fcf9fc2; the
beam search of release 0.12, redrafter_helper.py at 20709ce9, uses it) has no SiLU, and its first
step is ``W·e`` alone, without ``U`` or its bias:

    s_1 = W · e(g_0)          s_t = W · e(g_{t-1}) + U · s_{t-1} + b   (t > 1)

The later beam search (redrafter_helper.py at 2a9abd95) computes Apple's SiLU form.
``rnn_formula="trtllm"`` selects the no-SiLU form, so a checkpoint trained either way runs as trained;
our network definition implements both. ``rnn=False`` replaces the recurrence by a running sum of
embeddings, ``s_t = e(g_{t-1}) + s_{t-1}``, as both references do.

Checkpoint layout: Apple's (``config.json`` + ``model.safetensors``), which TensorRT-LLM's
ReDrafter converter also reads. Parameter names (see docs/explicit_draft_tokens_contract.md):

    input_proj.weight [exit_dim, 2H], input_proj.bias [exit_dim]     (only when 2H != exit_dim)
    lm_head.{i}.linear.weight [exit_dim, exit_dim], .bias            (i < num_draft_layers)
    lm_head.{num_draft_layers}.weight [vocab, exit_dim]              (no bias)
    rnn_u.weight [H, H], rnn_u.bias [H]    U, applied to the state    (only when rnn)
    rnn_w.weight [H, H]                    W, applied to the embedding (only when rnn)

Our extension ``lm_head_from_target``: the vocab projection is the target's own (frozen) LM
head, so it is not stored (a drafter of a few MB instead of V·exit_dim parameters). It needs
exit_dim == H. Exporting to Apple's or TensorRT-LLM's layout writes the target's head as
``lm_head.{num_draft_layers}.weight``, so the stock formats stay complete.

Our extension ``draft_vocab_size`` (V' > 0): the drafter only proposes the V' most frequent
tokens of its training responses. Its head is [V', exit_dim] and ``draft_vocab`` [V'] (int32,
stored in model.safetensors) maps a draft id to the target's token id:

    logits_t [..., V'] = LM(x_t)              beam search picks draft ids d
    token = draft_vocab[d]                    one gather; the RNN then reads e(token)

A worked example: draft_vocab = [13, 7, 42] and a step's draft logits [0.1, 2.0, -1.0] propose
draft id 1, i.e. the target's token 7. The head shrinks by V / V' (49152 / 8192 = 6x for
SmolLM2) and so does the beam search's top-k. Nothing else changes: acceptance compares target
token ids, and exact sampling never reads the drafter's probabilities (sampling.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from trtllm_redrafter.errors import RedrafterError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class DrafterConfig:
    vocab_size: int
    hidden_size: int  # H: the target's hidden size (and the RNN state size)
    exit_dim: int  # width of the ResBlocks; 2H means no input projection
    num_draft_layers: int = 1
    rnn: bool = True
    rnn_formula: str = "apple"  # "apple": SiLU(W e + U s + b) | "trtllm": W e [+ U s + b], no SiLU
    lm_head_from_target: bool = False  # ours: the vocab projection is the target's frozen LM head
    draft_vocab_size: int = 0  # ours: > 0 = the head covers only these many target tokens (draft_vocab)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "exit_dim"):
            if getattr(self, name) <= 0:
                raise RedrafterError(f"drafter config: {name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.draft_vocab_size <= self.vocab_size:
            raise RedrafterError(
                f"drafter config: draft_vocab_size must be in [0, vocab_size={self.vocab_size}], "
                f"got {self.draft_vocab_size}"
            )
        if self.num_draft_layers < 0:
            raise RedrafterError("drafter config: num_draft_layers must be >= 0")
        if self.lm_head_from_target and self.exit_dim != self.hidden_size:
            raise RedrafterError("drafter config: lm_head_from_target needs exit_dim == hidden_size")
        if self.rnn_formula not in ("apple", "trtllm"):
            raise RedrafterError(f"drafter config: rnn_formula must be 'apple' or 'trtllm', got {self.rnn_formula!r}")

    @classmethod
    def from_json(cls, data: dict) -> DrafterConfig:
        known = {f.name for f in fields(cls)}
        missing = {"vocab_size", "hidden_size", "exit_dim"} - data.keys()
        if missing:
            raise RedrafterError(f"drafter config.json lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def head_size(self) -> int:
        """Rows of the vocab projection: V' for a reduced draft vocabulary, else V."""
        return self.draft_vocab_size or self.vocab_size


class ResBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + nn.functional.silu(self.linear(x))


class Drafter(nn.Module):
    def __init__(self, config: DrafterConfig) -> None:
        super().__init__()
        self.config = config
        h, d = config.hidden_size, config.exit_dim
        self.input_proj = nn.Linear(2 * h, d) if 2 * h != d else nn.Identity()
        self.lm_head = nn.Sequential(
            *[ResBlock(d) for _ in range(config.num_draft_layers)],
            nn.Linear(d, config.head_size, bias=False),
        )
        if config.draft_vocab_size:  # draft id -> target token id
            self.register_buffer("draft_vocab", torch.arange(config.draft_vocab_size, dtype=torch.int32))
        if config.lm_head_from_target:
            # borrowed, frozen and never saved: attach_target_head() points it at the target's weight
            out = self.lm_head[-1]
            del out.weight
            out.register_buffer("weight", torch.empty(0), persistent=False)
        if config.rnn:
            self.rnn_u = nn.Linear(h, h, bias=True)  # U: state -> state, carries the bias b
            self.rnn_w = nn.Linear(h, h, bias=False)  # W: embedding -> state

    def attach_target_head(self, weight: torch.Tensor) -> Drafter:
        """Use the target's LM head [V, H] (its draft_vocab rows) as the vocab projection."""
        v, d = self.config.vocab_size, self.config.exit_dim
        if tuple(weight.shape) != (v, d):
            raise RedrafterError(f"target LM head has shape {tuple(weight.shape)}, the drafter needs {(v, d)}")
        if self.config.draft_vocab_size:
            weight = weight[self.draft_vocab.long()]  # [V', H]
        self.lm_head[-1].weight = weight.detach()
        return self

    def to_target_ids(self, draft_ids: torch.Tensor) -> torch.Tensor:
        """Draft ids (indices into the head's rows) -> the target's token ids."""
        if not self.config.draft_vocab_size:
            return draft_ids
        return self.draft_vocab.long()[draft_ids]

    @property
    def needs_target_head(self) -> bool:
        return self.config.lm_head_from_target and self.lm_head[-1].weight.numel() == 0

    def next_state(self, state: torch.Tensor | None, token_emb: torch.Tensor) -> torch.Tensor:
        """s_t [..., H] from s_{t-1} (None for s_0 = 0) and e(g_{t-1}) [..., H]."""
        if not self.config.rnn:
            return token_emb if state is None else token_emb + state
        if self.config.rnn_formula == "trtllm":
            w_e = self.rnn_w(token_emb)
            return w_e if state is None else w_e + self.rnn_u(state)
        state = torch.zeros_like(token_emb) if state is None else state
        return nn.functional.silu(self.rnn_w(token_emb) + self.rnn_u(state))

    def forward(self, hidden: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Logits [..., V] from the target hidden state h [..., H] and the RNN state s_t [..., H]."""
        return self.lm_head(self.input_proj(torch.cat([hidden, state], dim=-1)))

    # ---- checkpoints (Apple's layout) -----------------------------------------------------
    def save(self, out_dir: str | Path) -> None:
        from trtllm_redrafter.files import save_safetensors

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        config = {"model_type": "recurrent_drafting_drafter", **asdict(self.config)}
        (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_safetensors(state, out / WEIGHTS_FILE, metadata={"format": "pt"})

    @classmethod
    def load(
        cls, path: str | Path, dtype: torch.dtype = torch.float32, target_head: torch.Tensor | None = None
    ) -> Drafter:
        """Load a drafter directory; ``target_head`` is the target's LM head for lm_head_from_target drafters."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_dir():
            raise RedrafterError(f"drafter {path} not found (expected a directory with {CONFIG_FILE}, {WEIGHTS_FILE})")
        try:
            config = DrafterConfig.from_json(json.loads((path / CONFIG_FILE).read_text()))
        except FileNotFoundError as exc:
            raise RedrafterError(f"drafter {path} has no {CONFIG_FILE}") from exc
        except json.JSONDecodeError as exc:
            raise RedrafterError(f"drafter {path / CONFIG_FILE} is not valid JSON: {exc}") from exc
        try:
            state = load_file(str(path / WEIGHTS_FILE))
        except FileNotFoundError as exc:
            raise RedrafterError(f"drafter {path} has no {WEIGHTS_FILE}") from exc
        except (SafetensorError, OSError, ValueError) as exc:
            raise RedrafterError(f"drafter weights {path / WEIGHTS_FILE} are corrupt or truncated: {exc}") from exc
        drafter = cls(config)
        expected = {k: tuple(v.shape) for k, v in drafter.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in state.items()}
        if expected != got:
            diff = sorted(set(expected.items()) ^ set(got.items()))[:6]
            raise RedrafterError(f"drafter weights in {path} do not match its config.json; first differences: {diff}")
        drafter.load_state_dict(state)
        if config.draft_vocab_size:
            ids = drafter.draft_vocab.long()
            if int(ids.min()) < 0 or int(ids.max()) >= config.vocab_size or ids.unique().numel() != ids.numel():
                raise RedrafterError(
                    f"drafter {path}: draft_vocab must hold distinct token ids below {config.vocab_size}"
                )
        drafter = drafter.to(dtype).eval()
        if config.lm_head_from_target:
            if target_head is None:
                raise RedrafterError(f"drafter {path} borrows the target's LM head; load it with its target")
            drafter.attach_target_head(target_head.to(dtype))
        return drafter


def init_drafter(config: DrafterConfig, seed: int = 0, hidden_scale: float = 1.0) -> Drafter:
    """A freshly initialised drafter, deterministic for a given seed."""
    gen = torch.Generator().manual_seed(seed)
    drafter = Drafter(config)
    with torch.no_grad():
        for p in drafter.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (p.shape[-1] ** -0.5) * hidden_scale)
        if config.draft_vocab_size:  # a random subset, sorted (training sets the real one)
            ids = torch.randperm(config.vocab_size, generator=gen)[: config.draft_vocab_size].sort().values
            drafter.draft_vocab.copy_(ids.to(torch.int32))
    return drafter.eval()


def check_compatible(config: DrafterConfig, vocab_size: int, hidden_size: int, where: str = "drafter") -> None:
    """Refuse a drafter built for another target."""
    if config.vocab_size != vocab_size or config.hidden_size != hidden_size:
        raise RedrafterError(
            f"{where} does not fit this target: drafter vocab_size={config.vocab_size}, "
            f"hidden_size={config.hidden_size}; target vocab_size={vocab_size}, hidden_size={hidden_size}"
        )
