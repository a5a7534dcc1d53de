"""Shard jobs split across ranks: ``distill-data`` and ``distill-features`` under torchrun.

A job is a list of shards numbered 0..S-1 whose content depends only on the settings and the
number, never on who computes it. Under ``torchrun --nproc_per_node=K`` (or a multi-node
rendezvous over a shared file system) rank r takes the shards i with i % K == r:

    out/manifest.rank00001-of-00002.json   what rank 1 has written so far (same entry format)
    out/manifest.json                      the merged manifest, written once every shard exists

Each rank appends to its own manifest after every shard, so a rank that is killed resumes on its
own: the shards already written by anyone (the merged manifest and every rank manifest) are
skipped, whatever the world size was. The rank that finds the last shard written merges the
entries in shard order, so the merged manifest is the one a single process would have written.
No process group is needed; ranks share nothing but the output directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import write_json_atomic

MANIFEST = "manifest.json"


def rank_world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) for a plain process."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if not 0 <= rank < world:
        raise RedrafterError(f"RANK={rank} is not below WORLD_SIZE={world}")
    return rank, world


def rank_manifest(out_dir: Path, rank: int, world: int) -> Path:
    return out_dir / f"manifest.rank{rank:05d}-of-{world:05d}.json"


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RedrafterError(f"{path} is corrupt: {exc}") from exc


def manifest_paths(out_dir: Path) -> list[Path]:
    """The merged manifest and every rank's, those that exist, merged first."""
    found = [out_dir / MANIFEST, *sorted(out_dir.glob("manifest.rank*-of-*.json"))]
    return [p for p in found if p.is_file()]


def written_entries(out_dir: Path, key: Callable[[dict], object], check: Callable[[dict], None]) -> dict:
    """key(entry) -> entry for every shard already written, by any rank of any earlier run."""
    found: dict = {}
    for path in manifest_paths(out_dir):
        manifest = read_json(path)
        check(manifest)
        for entry in manifest.get("shards", []):
            if (out_dir / entry["file"]).is_file():
                found.setdefault(key(entry), entry)
    return found


def append_rank_entry(out_dir: Path, rank: int, world: int, header: dict, entry: dict) -> None:
    """Add one written shard to this rank's manifest (atomically)."""
    path = rank_manifest(out_dir, rank, world)
    own = read_json(path) if path.is_file() else {**header, "rank": rank, "world_size": world, "shards": []}
    own["shards"].append(entry)
    write_json_atomic(path, own)
