"""distill-data and distill-features split across torchrun ranks: the union is the one-process job.

Two gloo-free CPU processes under torchrun each write the shards i % 2 == rank; a rank killed
partway (run alone, stopped early, a half-written shard left behind) resumes on its own. The
merged manifest and every shard file must equal, byte for byte, what one process writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_distill_data import distill_argv, fake_data

from trtllm_redrafter.cli import main

TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # what torchrun gives each rank, for the reference too


def cli(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "trtllm_redrafter.cli", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=env or ONE_THREAD, timeout=600)


def torchrun(argv: list[str], port: int) -> subprocess.CompletedProcess:
    assert TORCHRUN, "torchrun comes with torch"
    cmd = [TORCHRUN, "--nproc_per_node=2", f"--master_port={port}", "-m", "trtllm_redrafter.cli", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=ONE_THREAD, timeout=600)


def as_rank(rank: int, world: int) -> dict:
    """The environment torchrun gives one rank, for running that rank alone (a partial, 'killed' run)."""
    return {**ONE_THREAD, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)}


def same_job(one: Path, many: Path) -> None:
    a, b = json.loads((one / "manifest.json").read_text()), json.loads((many / "manifest.json").read_text())
    assert a == b
    assert len(a["shards"]) >= 4
    for entry in a["shards"]:
        assert (one / entry["file"]).read_bytes() == (many / entry["file"]).read_bytes(), entry["file"]
    assert sorted(p.name for p in (one / "shards").iterdir()) == sorted(p.name for p in (many / "shards").iterdir())


def test_two_ranks_write_the_one_process_corpus_and_a_killed_rank_resumes(tiny_smol, tmp_path):
    data = fake_data(tmp_path / "data")
    one, many = tmp_path / "one", tmp_path / "many"
    argv = lambda out: [*distill_argv(out, tiny_smol, data, 13), "--device", "cpu"]  # noqa: E731 (5 shards)
    assert cli(argv(one)).returncode == 0

    killed = cli([*argv(many), "--max-shards", "3"], env=as_rank(1, 2))  # rank 1 alone writes shard 1, then stops
    assert killed.returncode == 0, killed.stderr[-2000:]
    assert not (many / "manifest.json").exists()  # nothing merged while shards are missing
    own = json.loads((many / "manifest.rank00001-of-00002.json").read_text())
    assert [e["file"] for e in own["shards"]] == ["shards/shard-00001.safetensors"]
    first = (many / "shards" / "shard-00001.safetensors").stat().st_mtime_ns
    (many / "shards" / "shard-00003.safetensors.tmp").write_bytes(b"half written")  # a kill mid-shard

    done = torchrun(argv(many), port=29541)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (many / "shards" / "shard-00001.safetensors").stat().st_mtime_ns == first  # not regenerated
    same_job(one, many)
    manifest = json.loads((many / "manifest.json").read_text())
    assert manifest["counts"]["samples"] == 13
    ids = []
    for rank in (0, 1):
        own = json.loads((many / f"manifest.rank{rank:05d}-of-00002.json").read_text())
        assert all(int(e["file"][-17:-12]) % 2 == rank for e in own["shards"])
        ids += [e["file"] for e in own["shards"]]
    assert sorted(ids) == [e["file"] for e in manifest["shards"]]  # each shard written once


def test_two_ranks_write_the_one_process_features_and_a_killed_rank_resumes(tiny_smol, tmp_path):
    data = fake_data(tmp_path / "data")
    corpus = tmp_path / "corpus"
    assert cli([*distill_argv(corpus, tiny_smol, data, 13), "--device", "cpu"]).returncode == 0
    argv = lambda out: [  # noqa: E731
        "distill-features",
        *("--data", str(corpus), "--out", str(out), "--model", str(tiny_smol), "--topk", "8"),
        *("--batch-tokens", "64", "--device", "cpu"),
    ]
    one, many = tmp_path / "one", tmp_path / "many"
    assert cli(argv(one)).returncode == 0
    killed = cli([*argv(many), "--max-shards", "1"], env=as_rank(0, 2))  # rank 0 alone: shard 0, then stops
    assert killed.returncode == 0, killed.stderr[-2000:]
    assert not (many / "manifest.json").exists()
    done = torchrun(argv(many), port=29542)
    assert done.returncode == 0, done.stderr[-3000:]
    same_job(one, many)


@pytest.mark.parametrize("device, message", [("cuda", "no CUDA device here"), ("tpu", "--device must be one of")])
def test_a_device_that_is_not_there_is_refused(tiny_smol, tmp_path, capsys, device, message):
    if device == "cuda":
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    data = fake_data(tmp_path / "data")
    code = main([*distill_argv(tmp_path / "c", tiny_smol, data, 3), "--device", device])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "c" / "manifest.json").exists()
