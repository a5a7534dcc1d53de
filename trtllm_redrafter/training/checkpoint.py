"""Checkpoints that a kill cannot corrupt, and exact resume.

``out/checkpoint/`` holds the drafter in Apple's layout plus ``trainer_state.pt``: optimizer,
scheduler, step, data cursor, history, RNG state, the settings and a digest of the training
batches. ``save_checkpoint`` writes a new one beside the old and swaps them by renames, so a kill at
any point leaves one of the two whole. ``restore`` refuses to continue with other settings or
other data, because either would silently change every later step.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import Drafter
from trtllm_redrafter.training.batches import Cursor
from trtllm_redrafter.training.settings import TrainSettings

STATE_FILE = "trainer_state.pt"
DEVICE_SETTINGS = ("device",)  # where a run computes, not what it computes


@dataclass
class Progress(Cursor):
    """How far a run is: optimizer steps done, the data cursor (Cursor) and one log row per step."""

    step: int = 0
    history: list[dict] = field(default_factory=list)


def save_checkpoint(
    drafter: Drafter,
    optim: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    settings: TrainSettings,
    progress: Progress,
    ckpt: Path,
    data_digest: str,
) -> None:
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    drafter.save(tmp / "drafter")
    state = {
        "optimizer": optim.state_dict(),
        "scheduler": sched.state_dict(),
        "step": progress.step,
        "cursor": progress.cursor,
        "epoch": progress.epoch,
        "history": progress.history,
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        "settings": asdict(settings),
        "data_digest": data_digest,
    }
    torch.save(state, tmp / STATE_FILE)
    old = ckpt.with_name(ckpt.name + ".old")
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)  # a kill at any point leaves either the old or the new checkpoint whole
    if old.exists():
        shutil.rmtree(old)


def changed_settings(saved: dict, settings: TrainSettings) -> list[str]:
    """Settings that differ from a checkpoint's. The device may change (resume a CPU run on a GPU);
    a setting newer than the checkpoint counts as unchanged while it has its default value."""
    now = asdict(settings)
    defaults = {f.name: f.default for f in fields(TrainSettings)}
    return sorted(k for k in now if k not in DEVICE_SETTINGS and saved.get(k, defaults[k]) != now[k])


def restore(
    ckpt: Path,
    drafter: Drafter,
    optim: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    settings: TrainSettings,
    data_digest: str,
    head: torch.Tensor,  # [V, H] the target's LM head, for a drafter that borrows it
) -> Progress:
    """Load the checkpoint into ``drafter``, ``optim`` and ``sched``; set the RNGs; -> where it stood."""
    state_path = ckpt / STATE_FILE
    if not state_path.is_file():
        raise RedrafterError(f"--resume: no checkpoint in {ckpt}")
    state = torch.load(state_path, weights_only=False, map_location="cpu")
    changed = changed_settings(state["settings"], settings)
    if changed:
        raise RedrafterError(f"--resume with different settings ({', '.join(changed)}); use a new --out")
    if state.get("data_digest", data_digest) != data_digest:
        raise RedrafterError(
            "--resume: the training data changed since the checkpoint (corpus or features grew or "
            "shrank), so the run cannot continue exactly; use a new --out"
        )
    drafter.load_state_dict(Drafter.load(ckpt / "drafter", torch.float32, head).state_dict())
    optim.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    return Progress(epoch=state["epoch"], cursor=state["cursor"], step=state["step"], history=state["history"])
