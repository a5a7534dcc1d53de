"""Which target a corpus or a features directory belongs to: the target's fingerprint.

A manifest's ``target`` record is ``{"model": alias, "sha256": fingerprint, "fingerprint": 2}``.
The fingerprint is the sha256 of the target's weights (every tensor's name, dtype, shape and bytes,
in name order; a tied ``lm_head.weight`` left out) and of the config fields that change what the
weights compute. It does not depend on how the files were written, so a corpus built on one machine
is accepted on another with other library versions (a CPU host and NVIDIA's container).

Version 1 (manifests without ``"fingerprint"``, before session 11) hashed the files' bytes, and
``config.json`` holds the ``transformers_version`` that wrote it: a new transformers release turned
every corpus into one "built for another target". ``build_scripts/refingerprint.py`` moves such a
manifest to version 2 after checking its version-1 hash against this target's files, with
``transformers_version`` set to the release that wrote them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FINGERPRINT_VERSION = 2
# config fields that every decoder config writes under transformers 4.x and 5.x alike
ARCH_KEYS = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "rms_norm_eps",
    "tie_word_embeddings",
)


def arch_fields(config: dict) -> dict:
    """The fields of ``config.json`` that the fingerprint covers; rope theta from either layout."""
    out = {k: config.get(k) for k in ARCH_KEYS}
    out["rope_theta"] = config.get("rope_theta", (config.get("rope_parameters") or {}).get("rope_theta"))
    return out


def model_fingerprint(model_dir: Path) -> str:
    """The version-2 fingerprint of a target directory (HF layout: ``*.safetensors`` + ``config.json``)."""
    import torch
    from safetensors import safe_open

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    tied = bool(config.get("tie_word_embeddings"))
    h = hashlib.sha256()
    handles = [safe_open(str(f), framework="pt") for f in sorted(model_dir.glob("*.safetensors"))]
    names = sorted((name, i) for i, f in enumerate(handles) for name in f.keys())
    for name, i in names:
        if tied and name == "lm_head.weight":
            continue
        t = handles[i].get_tensor(name).contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(arch_fields(config), sort_keys=True).encode())
    return h.hexdigest()


def target_record(model: str, model_dir: Path) -> dict:
    """The ``target`` entry a new manifest gets."""
    return {"model": model, "sha256": model_fingerprint(model_dir), "fingerprint": FINGERPRINT_VERSION}


def legacy_fingerprint(model_dir: Path, transformers_version: str | None = None) -> str:
    """The version-1 fingerprint: the bytes of ``*.safetensors`` and ``config.json``, the latter with its
    ``transformers_version`` value replaced by ``transformers_version`` when one is given."""
    model_dir = Path(model_dir)
    h = hashlib.sha256()
    for f in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("config.json")):
        h.update(f.name.encode())
        if f.name == "config.json":
            text = f.read_text()
            if transformers_version is not None:
                config = json.loads(text)
                old = f'"transformers_version": "{config.get("transformers_version")}"'
                text = text.replace(old, f'"transformers_version": "{transformers_version}"')
            h.update(text.encode())
            continue
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                h.update(block)
    return h.hexdigest()


def mismatch_hint(record: dict) -> str:
    """What to do about a manifest whose target record does not match: a version-1 record needs moving."""
    if record.get("fingerprint") == FINGERPRINT_VERSION:
        return ""
    return (
        " (its manifest has a version-1 fingerprint, from before session 11: if it was built from this target"
        " under another transformers release, build_scripts/refingerprint.py moves it to version 2)"
    )
