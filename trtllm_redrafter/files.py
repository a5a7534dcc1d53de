"""File helpers shared by the drafter, corpus and checkpoint writers."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> None:
    """safetensors ``save_file``, with the usual permissions: it creates files 0600, so a
    checkpoint written in a container would be unreadable to other users; apply the umask."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
