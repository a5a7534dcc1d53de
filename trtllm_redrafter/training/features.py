"""Precomputed target features: run the frozen target over a corpus once, train many times.

    trtllm-redrafter distill-features --data data/distill/smollm2 --out runs/features/smollm2

Training the drafter needs, at every response position, the target's last hidden state and its
next-token distribution. Both are fixed (the target is frozen), so computing them once turns
each training step from "target forward + drafter" into "drafter only". Medusa and EAGLE train
the same way.

What is stored, for a corpus sample of length n with a prompt of length m (positions
i = m-1 .. n-2 are the contexts that predict response tokens; L = n - m of them):

    tokens     int32    [L + 1]   x[m-1 .. n-1]: the context token at each stored position, then
                                  the last response token
    hidden     bfloat16 [L, H]    h[i]: the target's post-norm hidden state (LM-head input)
    topk_ids   int32    [L, K]    the K most likely next tokens under the target at position i
    topk_logp  float16  [L, K]    their log-probabilities (of the full-vocabulary softmax)

Read as a sequence of length L + 1 whose "prompt" is its first token, this is exactly what
``loss.drafter_loss`` consumes (prompt_len = 1), so the same loss serves both paths. The
top-K truncation is the usual sparse-KD approximation: the KL is taken over the K kept tokens,
renormalised (with K = 32 they hold most of the mass; ``mass`` in the manifest says how much).

Layout, one feature shard per corpus shard (so the job resumes shard by shard):

    out/manifest.json                      target sha256, corpus manifest sha256, K, counts, shards
    out/manifest.rank*-of-*.json           under torchrun: each rank's entries until they are merged
    out/shards/feat-00000.safetensors      the four tensors above, concatenated, plus
                                           offsets int64 [S+1] (rows), job_ids int64 [S]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import save_safetensors, write_json_atomic
from trtllm_redrafter.training.fingerprint import mismatch_hint
from trtllm_redrafter.training.shards import MANIFEST, append_rank_entry, rank_world, read_json, written_entries


@dataclass
class FeatureSample:
    tokens: torch.Tensor  # [L + 1] int64
    hidden: torch.Tensor  # [L, H] bfloat16
    topk_ids: torch.Tensor  # [L, K] int64
    topk_logp: torch.Tensor  # [L, K] float32
    job_id: int


@torch.no_grad()
def position_features(head, h: torch.Tensor, topk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What is stored for hidden states h [L, H]: (h bf16, top-k ids int32 [L, K], their log-probs fp16),
    the head run on these positions only. ``train --online-target`` computes the same (batches.py)."""
    logp = torch.log_softmax(head(h).float(), dim=-1)  # [L, V]
    val, idx = logp.topk(topk, dim=-1)  # [L, K]
    return h.to(torch.bfloat16), idx.int(), val.half()


@torch.no_grad()
def _shard_features(model, seqs: list[list[int]], prompt_lens: list[int], topk: int, batch_tokens: int) -> dict:
    """Features for one corpus shard: the target runs length-sorted batches of its samples (on its device)."""
    from trtllm_redrafter.runtime.decode import left_pad

    decoder, head = model.get_decoder(), model.get_output_embeddings()
    device = head.weight.device
    order = sorted(range(len(seqs)), key=lambda j: len(seqs[j]))
    rows: dict[int, tuple] = {}
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and len(seqs[order[end]]) * (end - start + 1) <= batch_tokens:
            end += 1
        batch = order[start:end]
        ids, valid = left_pad([seqs[j] for j in batch])  # [B, T]
        ids, valid = ids.to(device), valid.to(device)
        positions = (valid.long().cumsum(-1) - 1).clamp(min=0)
        hidden = decoder(input_ids=ids, attention_mask=valid.long(), position_ids=positions).last_hidden_state
        t = ids.shape[1]
        for b, j in enumerate(batch):
            n, m = len(seqs[j]), prompt_lens[j]
            first = t - n + m - 1  # left padding: sample position m-1 sits at column t - n + m - 1
            kept = position_features(head, hidden[b, first : t - 1], topk)  # positions m-1 .. n-2
            rows[j] = (torch.tensor(seqs[j][m - 1 :], dtype=torch.int32), *(x.cpu() for x in kept))
        start = end
    parts = [rows[j] for j in range(len(seqs))]
    offsets = [0]
    for p in parts:
        offsets.append(offsets[-1] + p[1].shape[0])
    return {
        "tokens": torch.cat([p[0] for p in parts]),
        "hidden": torch.cat([p[1] for p in parts]),
        "topk_ids": torch.cat([p[2] for p in parts]),
        "topk_logp": torch.cat([p[3] for p in parts]),
        "offsets": torch.tensor(offsets, dtype=torch.int64),
    }


def build_features(
    data_dir: Path,
    out_dir: Path,
    model_name: str,
    topk: int = 32,
    batch_tokens: int = 4096,
    dtype: str = "bfloat16",
    max_shards: int | None = None,
    device: str = "auto",
) -> dict:
    """Compute (or resume) the features of every corpus shard, this rank's shards under torchrun
    (shards.py); ``max_shards`` stops after that many of the remaining shards (tests)."""
    from trtllm_redrafter.devices import resolve_device
    from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model
    from trtllm_redrafter.training.corpus import read_manifest, read_shard
    from trtllm_redrafter.training.fingerprint import model_fingerprint

    if topk <= 0 or batch_tokens <= 0:
        raise RedrafterError("topk and batch_tokens must be >= 1")
    rank, world = rank_world()
    dev = resolve_device(device)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise RedrafterError(f"data directory {data_dir} not found")
    corpus = read_manifest(data_dir)
    model_dir = resolve_model(model_name)
    fingerprint = model_fingerprint(model_dir)
    if corpus.get("target", {}).get("sha256") != fingerprint:
        target = corpus.get("target", {})
        raise RedrafterError(
            f"corpus {data_dir} was built for another target ({target.get('model')}){mismatch_hint(target)}; "
            "use its own target"
        )
    try:
        (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RedrafterError(f"cannot write to output directory {out_dir}: {exc}") from exc
    settings = {"topk": topk, "dtype": dtype}
    manifest = {"format": 1, "target": corpus["target"], "settings": settings, "shards": []}

    def check(old: dict) -> None:
        if old.get("target") != corpus["target"] or old.get("settings") != settings:
            raise RedrafterError(f"{out_dir} holds features of another target or other settings; use a new --out")

    if (out_dir / MANIFEST).is_file():
        old = read_json(out_dir / MANIFEST)
        check(old)
        manifest = old
    header = {k: manifest[k] for k in ("format", "target", "settings")}
    # a feature shard stays valid while its corpus shard is unchanged (the corpus may grow)
    done = written_entries(out_dir, lambda e: e["corpus_sha256"], check)
    todo = [(i, s) for i, s in enumerate(corpus["shards"]) if s["sha256"] not in done]
    todo = [(i, s) for i, s in todo[:max_shards] if i % world == rank]
    model, _ = load_target_model(model_dir, parse_dtype(dtype))
    model.to(dev)
    mine = [s for i, s in enumerate(corpus["shards"]) if i % world == rank]
    desc = "features" if world == 1 else f"features rank {rank}/{world}"
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), unit="shard", desc=desc, position=rank)
    for _, shard in todo:
        t = read_shard(data_dir, shard)
        tokens, offsets = t["tokens"].tolist(), t["offsets"].tolist()
        seqs = [tokens[offsets[j] : offsets[j + 1]] for j in range(len(offsets) - 1)]
        feats = _shard_features(model, seqs, t["prompt_lens"].tolist(), topk, batch_tokens)
        feats["job_ids"] = t["job_ids"]
        done[shard["sha256"]] = write_feature_shard(out_dir, shard, feats)
        if world == 1:
            write_json_atomic(out_dir / MANIFEST, with_totals(manifest, done, corpus))
        else:
            append_rank_entry(out_dir, rank, world, header, done[shard["sha256"]])
        bar.update(1)
    bar.close()
    if world > 1:  # merge once every corpus shard has its features (the last rank to finish finds that)
        done = written_entries(out_dir, lambda e: e["corpus_sha256"], check)
        if any(s["sha256"] not in done for s in corpus["shards"]):
            return with_totals(manifest, done, corpus)
    write_json_atomic(out_dir / MANIFEST, with_totals(manifest, done, corpus))  # also merges ranks' leftovers
    return manifest


def write_feature_shard(out_dir: Path, shard: dict, feats: dict) -> dict:
    """Save the features of one corpus shard by an atomic rename -> its manifest entry."""
    name = "feat-" + Path(shard["file"]).name.split("-")[-1]
    tmp = out_dir / "shards" / (name + ".tmp")
    save_safetensors(feats, tmp)
    os.replace(tmp, out_dir / "shards" / name)
    mass = float(feats["topk_logp"].float().exp().sum(-1).mean())
    return {"file": f"shards/{name}", "corpus_sha256": shard["sha256"], "rows": int(feats["offsets"][-1]), "mass": mass}


def with_totals(manifest: dict, done: dict[str, dict], corpus: dict) -> dict:
    """The manifest's shard list: its own entries first, then the others in corpus order; and totals."""
    listed = {s["corpus_sha256"] for s in manifest["shards"]}
    manifest["shards"] = manifest["shards"] + [
        done[s["sha256"]] for s in corpus["shards"] if s["sha256"] in done and s["sha256"] not in listed
    ]
    manifest["counts"] = {"rows": sum(s["rows"] for s in manifest["shards"])}
    manifest["mean_topk_mass"] = sum(s["mass"] * s["rows"] for s in manifest["shards"]) / max(
        1, manifest["counts"]["rows"]
    )
    return manifest


def load_features(features_dir: Path, data_dir: Path, target_fingerprint: str) -> list[FeatureSample]:
    """Every feature sample whose corpus shard is still in the corpus, checked against the target."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from trtllm_redrafter.training.corpus import read_manifest

    features_dir = Path(features_dir)
    path = features_dir / MANIFEST
    if not path.is_file():
        raise RedrafterError(f"{features_dir} holds no features (no {MANIFEST}); run distill-features")
    manifest = json.loads(path.read_text())
    if manifest.get("target", {}).get("sha256") != target_fingerprint:
        hint = mismatch_hint(manifest.get("target", {}))
        raise RedrafterError(f"features {features_dir} were computed with another target{hint}; recompute them")
    in_corpus = {s["sha256"] for s in read_manifest(Path(data_dir))["shards"]}
    out: list[FeatureSample] = []
    for shard in manifest["shards"]:
        if shard["corpus_sha256"] not in in_corpus:
            raise RedrafterError(f"features {features_dir} do not belong to corpus {data_dir}")
        try:
            t = load_file(str(features_dir / shard["file"]))
        except (OSError, SafetensorError) as exc:
            raise RedrafterError(f"feature shard {shard['file']} is missing or corrupt: {exc}") from exc
        off = t["offsets"].tolist()
        for j, job in enumerate(t["job_ids"].tolist()):
            a, b = off[j], off[j + 1]
            out.append(
                FeatureSample(
                    tokens=t["tokens"][a + j : b + j + 1].long(),  # each sample holds L + 1 tokens
                    hidden=t["hidden"][a:b],
                    topk_ids=t["topk_ids"][a:b].long(),
                    topk_logp=t["topk_logp"][a:b].float(),
                    job_id=job,
                )
            )
    if not out:
        raise RedrafterError(f"features {features_dir} hold no samples")
    return out
