"""The target fingerprint: the same weights give the same fingerprint whichever release wrote the
files, other weights or config give another, and version-1 manifests move to version 2 only when
they were built from this target."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from test_distill_data import fake_data

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.training.batches import load_corpus
from trtllm_redrafter.training.corpus import DistillSettings, build_corpus
from trtllm_redrafter.training.fingerprint import legacy_fingerprint, model_fingerprint

REPO = Path(__file__).resolve().parents[1]


def edited_copy(src: Path, dst: Path, config_edit=None, weight_edit=None) -> Path:
    shutil.copytree(src, dst)
    if config_edit:
        config = json.loads((dst / "config.json").read_text())
        config_edit(config)
        (dst / "config.json").write_text(json.dumps(config, indent=2))
    if weight_edit:
        path = next(dst.glob("*.safetensors"))
        weights = load_file(str(path))
        weight_edit(weights)
        save_file(weights, str(path), metadata={"format": "pt"})
    return dst


def test_the_fingerprint_follows_the_weights_not_the_files(tiny_smol, tmp_path):
    base = model_fingerprint(tiny_smol)
    other_release = edited_copy(
        tiny_smol, tmp_path / "release", lambda c: c.update(transformers_version="4.51.1", architectures=["X"])
    )
    assert model_fingerprint(other_release) == base
    assert legacy_fingerprint(other_release) != legacy_fingerprint(tiny_smol)  # what version 1 got wrong
    rope = edited_copy(tiny_smol, tmp_path / "rope", lambda c: c.update(rope_theta=1.0, rope_parameters=None))
    assert model_fingerprint(rope) != base
    eps = edited_copy(tiny_smol, tmp_path / "eps", lambda c: c.update(rms_norm_eps=1e-3))
    assert model_fingerprint(eps) != base

    def nudge(w: dict) -> None:
        name = sorted(w)[0]
        w[name] = w[name].clone()
        w[name].view(-1)[0] += 1

    assert model_fingerprint(edited_copy(tiny_smol, tmp_path / "weights", weight_edit=nudge)) != base


def refingerprint(*args: str) -> subprocess.CompletedProcess:
    script = REPO / "build_scripts" / "refingerprint.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)


def test_a_version_1_corpus_is_refused_with_a_hint_and_moved_only_when_it_matches(tiny_smol, tmp_path):
    settings = DistillSettings(model=str(tiny_smol), temperatures=(0.0,), max_new_tokens=4, batch_size=4)
    corpus = tmp_path / "c"
    build_corpus(settings, corpus, fake_data(tmp_path / "data"))
    manifest = json.loads((corpus / "manifest.json").read_text())
    # as if built when config.json said transformers 1.2.3: a version-1 record of those bytes
    manifest["target"] = {"model": str(tiny_smol), "sha256": legacy_fingerprint(tiny_smol, "1.2.3")}
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    before = (corpus / "manifest.json").read_bytes()
    with pytest.raises(RedrafterError, match="version-1 fingerprint"):
        load_corpus(corpus, model_fingerprint(tiny_smol), 64)

    wrong = refingerprint(str(corpus), "--model", str(tiny_smol), "--written-by", "1.2.4")
    assert wrong.returncode == 2 and "nothing written" in wrong.stderr
    assert (corpus / "manifest.json").read_bytes() == before

    moved = refingerprint(str(corpus), "--model", str(tiny_smol), "--written-by", "1.2.3")
    assert moved.returncode == 0, moved.stderr
    after = json.loads((corpus / "manifest.json").read_text())
    assert after["target"]["fingerprint"] == 2 and after["shards"] == manifest["shards"]
    assert len(load_corpus(corpus, model_fingerprint(tiny_smol), 64)) > 0
    again = refingerprint(str(corpus), "--model", str(tiny_smol))
    assert again.returncode == 0 and "already version 2" in again.stdout
