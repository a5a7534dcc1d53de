"""``train``'s settings and its learning-rate schedule (linear warm-up, then cosine)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.training.split import HELDOUT_RULES


@dataclass
class TrainSettings:
    model: str
    data: str
    out: str
    steps: int = 1000
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.0
    grad_accum: int = 1
    clip: float = 1.0
    tokens_per_batch: int = 2048
    max_len: int = 512
    num_steps: int = 4  # N: drafted positions trained from every context (default draft_len)
    ce_weight: float = 0.0
    kd_weight: float = 1.0  # 0 with ce_weight 1 = plain CE on the corpus tokens (the ablation)
    features: str | None = None  # precomputed target features (distill-features): no target forward
    init_drafter: str | None = None  # warm start: a trained drafter of the same architecture (and its V')
    draft_vocab_size: int = 0  # > 0: the drafter proposes only the most frequent V' response tokens
    exit_dim: int | None = None  # None: the target's hidden size
    num_draft_layers: int = 1
    lm_head_from_target: bool = True
    rnn_formula: str = "apple"
    hidden_scale: float = 1.0  # init: scale of the hidden-state half of input_proj (vs the RNN state)
    state_scale: float = 0.1  # init: scale of the RNN-state half of input_proj
    autocast: bool = True
    eval_every: int = 100
    eval_batches: int = 8
    eval_every_nth_sample: int = 50
    heldout_by: str = "job"  # split.py: "job" (every nth job id, the old split) | "prompt" (whole prompts)
    save_every: int = 100
    seed: int = 0
    dtype: str = "bfloat16"  # frozen target's dtype
    device: str = "auto"  # devices.py; under torchrun each rank takes cuda:LOCAL_RANK. Not part of resume checks
    online_target: bool = False  # run the frozen target in the loop and keep its top online_topk (no feature files)
    online_topk: int = 32  # the K of --online-target: what distill-features --topk would have stored

    def validate(self) -> None:
        for name in ("steps", "grad_accum", "tokens_per_batch", "max_len", "num_steps", "eval_every", "save_every"):
            if getattr(self, name) <= 0:
                raise RedrafterError(f"{name} must be >= 1")
        if self.lr <= 0 or self.warmup < 0:
            raise RedrafterError("lr must be > 0 and warmup >= 0")
        if self.kd_weight < 0 or self.ce_weight < 0 or self.kd_weight + self.ce_weight == 0:
            raise RedrafterError("kd_weight and ce_weight must be >= 0 and not both 0")
        if self.draft_vocab_size < 0:
            raise RedrafterError("draft_vocab_size must be >= 0")
        if self.online_target and self.features:
            raise RedrafterError("--online-target computes the target's features in the loop; drop --features")
        if self.eval_every_nth_sample < 2:
            raise RedrafterError("eval_every_nth_sample must be >= 2 (1 would hold out every sample)")
        if self.heldout_by not in HELDOUT_RULES:
            raise RedrafterError(f"heldout_by must be one of {', '.join(HELDOUT_RULES)}, not {self.heldout_by!r}")
        if self.online_topk <= 0:
            raise RedrafterError("online_topk must be >= 1")


def lr_lambda(settings: TrainSettings):
    def f(step: int) -> float:
        if step < settings.warmup:
            return (step + 1) / settings.warmup
        progress = min(1.0, (step - settings.warmup) / max(1, settings.steps - settings.warmup))
        return settings.min_lr_ratio + (1 - settings.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f
