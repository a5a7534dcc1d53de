"""The data loader: corpus samples -> padded batches, with the frozen target's view of each.

load_corpus     a distill-data corpus as Samples (prompt + target-written response), checked
batches_of      greedy length buckets of at most tokens_per_batch padded tokens
collate         Samples -> ids [B, T], lengths [B], prompt_lens [B]
target_outputs  the frozen target: hidden [B, T, H] and log-probs [B, T, V]
batch_inputs    one batch, from a corpus (target forward) or from precomputed features
EpochBatches    the order: a seeded shuffle per epoch, each rank its own equal slice
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.training.corpus import read_manifest, stored_samples
from trtllm_redrafter.training.features import FeatureSample, position_features
from trtllm_redrafter.training.fingerprint import mismatch_hint


@dataclass
class Sample:
    tokens: list[int]
    prompt_len: int
    job_id: int


def load_corpus(data_dir: Path, target_fingerprint: str, max_len: int) -> list[Sample]:
    """All samples of a distill-data corpus, checked against the target and the shard hashes."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise RedrafterError(f"data directory {data_dir} not found")
    manifest = read_manifest(data_dir)
    built_for = manifest.get("target", {})
    if built_for.get("sha256") != target_fingerprint:
        raise RedrafterError(
            f"corpus {data_dir} was built for another target ({built_for.get('model')}, "
            f"sha256 {str(built_for.get('sha256'))[:12]}...){mismatch_hint(built_for)}; "
            "build one for this target with distill-data"
        )
    samples: list[Sample] = []
    for job, seq, plen in stored_samples(data_dir):
        if len(seq) - plen >= 2:  # at least one drafted target exists
            keep = min(len(seq), max_len)
            start = max(0, min(plen - 1, len(seq) - keep))  # keep the response, trim the prompt's head
            samples.append(Sample(seq[start : start + keep], plen - start, job))
    if not samples:
        raise RedrafterError(f"corpus {data_dir} holds no usable samples")
    return samples


def batches_of(samples: list, tokens_per_batch: int, length: Callable | None = None) -> list[list]:
    """Greedy length-bucketed batches of at most tokens_per_batch (padded) tokens; ``length`` of a
    sample defaults to its token count."""
    length = length or (lambda s: len(s.tokens))
    order = sorted(samples, key=length)
    out, cur = [], []
    for s in order:
        if cur and length(s) * (len(cur) + 1) > tokens_per_batch:
            out.append(cur)
            cur = []
        cur.append(s)
    if cur:
        out.append(cur)
    return out


def collate(batch: list[Sample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> tokens [B, T], lengths [B], prompt_lens [B] (right padded)."""
    t = max(len(s.tokens) for s in batch)
    ids = torch.full((len(batch), t), pad_id, dtype=torch.long)
    for i, s in enumerate(batch):
        ids[i, : len(s.tokens)] = torch.tensor(s.tokens)
    lengths = torch.tensor([len(s.tokens) for s in batch])
    prompt_lens = torch.tensor([s.prompt_len for s in batch])
    return ids, lengths, prompt_lens


@torch.no_grad()
def target_outputs(target, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen target: hidden [B, T, H] (LM-head input) and log-probs [B, T, V] (float32)."""
    mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
    hidden = target.get_decoder()(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    logp = torch.log_softmax(target.get_output_embeddings()(hidden).float(), dim=-1)
    return hidden, logp


@dataclass
class SparseTarget:
    """The target's next-token distribution kept as its top K entries (features.py)."""

    ids: torch.Tensor  # [B, T, K] target token ids, most likely first
    logp: torch.Tensor  # [B, T, K] their log-probabilities


def online_features(target, batch: list[Sample], pad_id: int, topk: int) -> list[FeatureSample]:
    """``train --online-target``: what distill-features would store for these samples, computed now.

    The target reads each whole sample (prompt and response); positions m-1 .. n-2 are kept, in
    the stored dtypes (hidden bf16, top-k log-probs fp16), so the loss is the precomputed path's
    (for samples within --max-len, which trims corpus samples and not features). Like
    distill-features, the LM head runs on the kept positions only: no [B, T, V] tensor.
    """
    head = target.get_output_embeddings()
    device = head.weight.device
    ids, lengths, _ = collate(batch, pad_id)
    ids, lengths = ids.to(device), lengths.to(device)
    mask = torch.arange(ids.shape[1], device=device)[None, :] < lengths[:, None]
    with torch.no_grad():
        hidden = target.get_decoder()(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # [B, T, H]
    out = []
    for b, s in enumerate(batch):
        m, n = s.prompt_len, len(s.tokens)
        h, idx, logp = position_features(head, hidden[b, m - 1 : n - 1], topk)  # as load_features reads them
        out.append(FeatureSample(ids[b, m - 1 : n], h, idx.long(), logp.float(), s.job_id))
    return out


def batch_inputs(target, batch: list, pad_id: int, device: torch.device | None = None, online_topk: int = 0) -> tuple:
    """(hidden [B, T, H] float32, target distribution, ids [B, T], lengths [B], prompt_lens [B]) on ``device``.

    Corpus samples run the target (dense log-probs), or with ``online_topk`` > 0 become the
    features view first (``online_features``); feature samples are padded on the host, pinned and
    copied without blocking.
    """
    device = device or torch.device("cpu")
    if isinstance(batch[0], Sample) and online_topk:
        batch = online_features(target, batch, pad_id, online_topk)
    if isinstance(batch[0], Sample):
        ids, lengths, plens = collate(batch, pad_id)
        ids, lengths = ids.to(device), lengths.to(device)
        hidden, logp = target_outputs(target, ids, lengths)
        return hidden.float(), logp, ids, lengths, plens.to(device)
    # FeatureSample: a sequence of L + 1 tokens whose prompt is its first token (features.py)
    home = batch[0].hidden.device  # the host for precomputed features, the device for online ones
    t = max(s.tokens.numel() for s in batch)
    b, h, k = len(batch), batch[0].hidden.shape[-1], batch[0].topk_ids.shape[-1]
    ids = torch.full((b, t), pad_id, dtype=torch.long, device=home)
    hidden = torch.zeros(b, t, h, device=home)
    p_ids = torch.zeros(b, t, k, dtype=torch.long, device=home)
    p_logp = torch.zeros(b, t, k, device=home)
    for i, s in enumerate(batch):
        n = s.hidden.shape[0]
        ids[i, : n + 1] = s.tokens
        hidden[i, :n] = s.hidden.float()
        p_ids[i, :n] = s.topk_ids
        p_logp[i, :n] = s.topk_logp
    lengths = torch.tensor([s.tokens.numel() for s in batch], device=home)
    plens = torch.ones(b, dtype=torch.long, device=home)
    out = [hidden, p_ids, p_logp, ids, lengths, plens]
    if home.type == "cpu" and device.type == "cuda":
        out = [x.pin_memory().to(device, non_blocking=True) for x in out]
    hidden, p_ids, p_logp, ids, lengths, plens = out
    return hidden, SparseTarget(p_ids, p_logp), ids, lengths, plens


@dataclass
class Cursor:
    """Where the data loader stands: the epoch and the next batch of this rank's slice."""

    epoch: int = 0
    cursor: int = 0


class EpochBatches:
    """Each epoch a seeded shuffle of the batches, cut to equal slices so the ranks stay in step."""

    def __init__(self, batches: list[list], seed: int, rank: int, world: int) -> None:
        self.batches, self.seed, self.rank, self.world = batches, seed, rank, world
        self._epoch, self._order = -1, []

    def order(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            order = list(range(len(self.batches)))
            random.Random(self.seed * 7919 + epoch).shuffle(order)
            order = order[: max(self.world, len(order) // self.world * self.world)]
            self._epoch, self._order = epoch, order[self.rank :: self.world]  # each rank its own slice
        return self._order

    def next(self, at: Cursor) -> list:
        """The batch at ``at``, moving it on (to the next epoch after the slice's last batch)."""
        if at.cursor >= len(self.order(at.epoch)):
            at.epoch, at.cursor = at.epoch + 1, 0
        batch = self.batches[self.order(at.epoch)[at.cursor]]
        at.cursor += 1
        return batch
