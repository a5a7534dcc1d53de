"""Loading under the transformers of TensorRT-LLM's containers (4.51 for 0.20) and of the CPU install (5.x).

transformers 4.56.0 renamed ``from_pretrained(torch_dtype=...)`` to ``dtype=...``; before it an unknown
``dtype`` reaches the model's ``__init__`` (``TypeError``). The installed transformers is 5.x here, so
the version is monkeypatched and ``from_pretrained`` replaced by a recorder: no second transformers
is installed. The real conversion under 4.51.1 is build_scripts/check_old_transformers.sh.
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from trtllm_redrafter import models
from trtllm_redrafter.errors import RedrafterError


@pytest.mark.parametrize(
    ("version", "kwarg"),
    [
        ((4, 48), "torch_dtype"),
        ((4, 51), "torch_dtype"),
        ((4, 55), "torch_dtype"),
        ((4, 56), "dtype"),
        ((5, 24), "dtype"),
    ],
)
def test_dtype_kwarg_by_version(version, kwarg):
    assert models.dtype_kwargs(torch.float32, version) == {kwarg: torch.float32}


@pytest.mark.parametrize(
    ("text", "parsed"), [("4.51.1", (4, 51)), ("4.56.0.dev0", (4, 56)), ("5.0.0rc3", (5, 0)), ("5.24.0", (5, 24))]
)
def test_transformers_version_parses(monkeypatch, text, parsed):
    monkeypatch.setattr("importlib.metadata.version", lambda name: text)
    assert models.transformers_version() == parsed


class Recorded(Exception):
    """Raised by the fake from_pretrained once it has recorded its arguments."""


@pytest.fixture
def recorder(monkeypatch):
    """Replace both from_pretrained; the model's records its kwargs and stops the caller."""
    calls: list[dict] = []

    def fake_model(*args, **kwargs):
        calls.append(kwargs)
        raise Recorded

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: object())
    return calls


@pytest.mark.parametrize(
    ("version", "kwarg", "absent"), [((4, 51), "torch_dtype", "dtype"), ((5, 24), "dtype", "torch_dtype")]
)
def test_load_target_model_passes_the_versions_kwarg(monkeypatch, tmp_path, recorder, version, kwarg, absent):
    monkeypatch.setattr(models, "transformers_version", lambda: version)
    with pytest.raises(Recorded):
        models.load_target_model(tmp_path, torch.float64)
    assert recorder[0][kwarg] is torch.float64 and absent not in recorder[0]
    assert recorder[0]["attn_implementation"] == "sdpa"


@pytest.mark.parametrize(
    ("version", "kwarg", "absent"), [((4, 51), "torch_dtype", "dtype"), ((5, 24), "dtype", "torch_dtype")]
)
def test_convert_gguf_passes_the_versions_kwarg(monkeypatch, tmp_path, recorder, version, kwarg, absent):
    monkeypatch.setattr(models, "transformers_version", lambda: version)
    monkeypatch.setattr(models, "gguf_path", lambda name: tmp_path / "model.gguf")
    with pytest.raises(Recorded):
        models.convert_gguf(models.DEFAULT_MODEL, tmp_path / "out")
    assert recorder[0][kwarg] is torch.float32 and absent not in recorder[0]
    assert recorder[0]["gguf_file"] == "model.gguf"
    assert not (tmp_path / "out").exists()


def _saved_by(path, version: str):
    (path / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "transformers_version": version})
    )


def test_old_transformers_refuses_a_dir_saved_by_transformers_5(monkeypatch, tmp_path, recorder):
    _saved_by(tmp_path, "5.24.0")
    monkeypatch.setattr(models, "transformers_version", lambda: (4, 51))
    with pytest.raises(RedrafterError, match=r"saved by transformers 5\.24\.0.*4\.51.*convert it again"):
        models.load_target_model(tmp_path, torch.float32)
    assert recorder == []  # refused before transformers read anything


@pytest.mark.parametrize(
    ("saved", "installed"), [("4.51.1", (5, 24)), ("4.51.1", (4, 51)), ("5.24.0", (5, 3)), ("", (4, 51))]
)
def test_same_or_older_major_loads(monkeypatch, tmp_path, recorder, saved, installed):
    _saved_by(tmp_path, saved)
    monkeypatch.setattr(models, "transformers_version", lambda: installed)
    with pytest.raises(Recorded):
        models.load_target_model(tmp_path, torch.float32)
    assert len(recorder) == 1
