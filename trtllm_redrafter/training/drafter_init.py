"""The drafter a run starts from: its architecture, its draft vocabulary and its initial weights.

choose_draft_vocab   the V' most frequent response tokens (always holding a warm start's own)
drafter_config       the architecture that the settings describe for this target
make_drafter         a fresh drafter that starts as the target's own next-token guess
load_init_drafter    a warm start from a trained drafter of the same architecture (or a smaller V')
warm_start           its weights into the new drafter, head rows matched by token
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig, init_drafter
from trtllm_redrafter.training.settings import TrainSettings


def choose_draft_vocab(
    responses: list[torch.Tensor], size: int, vocab_size: int, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """The ``size`` most frequent response tokens (ties: lower id first), sorted by id -> [V'] int32.
    ``keep`` (a warm start's draft vocabulary, at most ``size`` tokens) is always among them."""
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for r in responses:
        counts += torch.bincount(r.long(), minlength=vocab_size)
    if keep is not None:
        counts[keep.long()] = int(counts.sum()) + 1  # ahead of every other token
    order = sorted(range(vocab_size), key=lambda i: (-int(counts[i]), i))[:size]
    return torch.tensor(sorted(order), dtype=torch.int32)


def drafter_config(settings: TrainSettings, target) -> DrafterConfig:
    """The drafter architecture that ``settings`` describe for this target."""
    hidden = target.config.hidden_size
    return DrafterConfig(
        vocab_size=target.get_output_embeddings().weight.shape[0],
        hidden_size=hidden,
        exit_dim=settings.exit_dim or hidden,
        num_draft_layers=settings.num_draft_layers,
        rnn=True,
        rnn_formula=settings.rnn_formula,
        lm_head_from_target=settings.lm_head_from_target,
        draft_vocab_size=settings.draft_vocab_size,
    )


def make_drafter(settings: TrainSettings, target, draft_vocab: torch.Tensor | None = None) -> Drafter:
    hidden = target.config.hidden_size
    head = target.get_output_embeddings().weight
    cfg = drafter_config(settings, target)
    drafter = init_drafter(cfg, seed=settings.seed)
    if cfg.draft_vocab_size:
        drafter.draft_vocab.copy_(draft_vocab)
    with torch.no_grad():
        if isinstance(drafter.input_proj, nn.Linear) and cfg.exit_dim == hidden:
            # start as the target's own head on h (x = scale * h + small * s): the drafter begins
            # from the target's next-token guess instead of random logits of a huge norm
            drafter.input_proj.weight[:, :hidden] = torch.eye(hidden) * settings.hidden_scale
            drafter.input_proj.weight[:, hidden:] *= settings.state_scale
            drafter.input_proj.bias.zero_()
        elif isinstance(drafter.input_proj, nn.Linear):
            drafter.input_proj.weight[:, :hidden] *= settings.hidden_scale
        for block in drafter.lm_head[:-1]:  # ResBlocks start near identity
            block.linear.weight.mul_(0.1)
            block.linear.bias.zero_()
        if not settings.lm_head_from_target and cfg.exit_dim == hidden:
            # an own (trainable) head starts as the target's rows for the draft vocabulary
            rows = drafter.draft_vocab.long() if cfg.draft_vocab_size else torch.arange(cfg.vocab_size)
            drafter.lm_head[-1].weight.copy_(head.detach().float()[rows])
    if settings.lm_head_from_target:
        drafter.attach_target_head(head.detach().float())
    return drafter


def load_init_drafter(settings: TrainSettings, target) -> Drafter:
    """The warm-start drafter; its architecture must be the one ``settings`` describe, except that
    --draft-vocab-size may grow its reduced draft vocabulary (``warm_start``)."""
    head = target.get_output_embeddings().weight.detach().float()
    init = Drafter.load(Path(settings.init_drafter), torch.float32, head)
    have, want = asdict(init.config), asdict(drafter_config(settings, target))
    if 0 < have["draft_vocab_size"] < want["draft_vocab_size"]:
        want["draft_vocab_size"] = have["draft_vocab_size"]  # grown: its own tokens keep their rows
    diff = [f"{k}: drafter {have[k]!r}, settings {v!r}" for k, v in want.items() if have[k] != v]
    if diff:
        raise RedrafterError(f"--init-drafter {settings.init_drafter} does not match the settings: " + "; ".join(diff))
    return init


# A grown vocabulary's new head rows start as the target's rows times this. At full scale they
# take the argmax from the trained rows (held-out top-1 at position 1 fell from 0.612 to 0.580);
# at 0.5 top-1 is unchanged and the held-out KL the lowest of 0, 0.25, 0.5 and 1
# (docs/results/distill/s8/grow_init.py, its output beside it).
GROWN_ROW_SCALE = 0.5


def warm_start(drafter: Drafter, init: Drafter) -> None:
    """Copy ``init``'s weights into ``drafter``. With a grown draft vocabulary (``init``'s tokens a
    subset of the drafter's, both sorted by id) the head keeps ``init``'s trained row for each of
    its tokens, and every new one starts as ``make_drafter``'s row (the target's) times
    ``GROWN_ROW_SCALE``."""
    state = init.state_dict()
    if init.config.draft_vocab_size != drafter.config.draft_vocab_size:
        name = f"lm_head.{drafter.config.num_draft_layers}.weight"
        rows = drafter.state_dict()[name] * GROWN_ROW_SCALE  # [V'_new, exit_dim]
        at = torch.searchsorted(drafter.draft_vocab, init.draft_vocab)  # [V'_old] their new draft ids
        if not torch.equal(drafter.draft_vocab[at.clamp(max=rows.shape[0] - 1)], init.draft_vocab):
            raise RedrafterError("the grown draft vocabulary lacks some of the warm start's tokens")
        rows[at] = state[name]
        state[name], state["draft_vocab"] = rows, drafter.draft_vocab.clone()
    drafter.load_state_dict(state)
