"""File helpers shared by the layers: safetensors and JSON writers, JSONL and prompts-file readers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from trtllm_redrafter.errors import RedrafterError


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> None:
    """safetensors ``save_file``, with the usual permissions: it creates files 0600, so a
    checkpoint written in a container would be unreadable to other users; apply the umask."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename, so a killed job never leaves half a file.
    The temporary name is the writer's own, so ranks merging the same manifest never collide."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object is refused."""
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RedrafterError(f"{path}:{n}: not valid JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise RedrafterError(f"{path}:{n}: each line must be a JSON object")
        yield n, obj


def read_prompts_file(path: Path) -> list[str | list[dict]]:
    """A prompts file: one ``{"prompt": "..."}`` or ``{"messages": [...]}`` per line."""
    if not path.is_file():
        raise RedrafterError(f"prompts file {path} not found")
    prompts: list[str | list[dict]] = []
    for n, obj in read_jsonl(path):
        if isinstance(obj.get("prompt"), str):
            prompts.append(obj["prompt"])
        elif isinstance(obj.get("messages"), list):
            prompts.append(obj["messages"])
        else:
            raise RedrafterError(f'{path}:{n}: each line must be {{"prompt": "..."}} or {{"messages": [...]}}')
    if not prompts:
        raise RedrafterError(f"{path} holds no prompts")
    return prompts
