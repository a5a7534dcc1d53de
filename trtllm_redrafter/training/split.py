"""The held-out split: which corpus samples ``train`` never trains on.

Two rules, chosen by ``TrainSettings.heldout_by``:

- ``job`` (the default, and the only rule before it was a setting): every ``nth`` job id. A corpus
  plans one job per (prompt, temperature) with the temperatures interleaved, so with two
  temperatures job 2k+1 is job 2k's prompt: the held-out samples are greedy ones whose prompt was
  trained on at the other temperature (docs/distillation.md, session 10).
- ``prompt``: every sample whose prompt falls in 1 of ``nth`` buckets of a hash of its token ids.
  All of a prompt's samples go to the same side, at every temperature and in every corpus of the
  run, so held-out scores are on prompts the drafter never saw (the worked example is in
  docs/distillation.md, "The held-out split").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

HELDOUT_RULES = ("job", "prompt")


def prompt_bucket(prompt_ids: list[int], nth: int) -> int:
    """A prompt's bucket in [0, nth): the first 8 bytes of the sha256 of its int32 token ids."""
    digest = hashlib.sha256(torch.tensor(prompt_ids, dtype=torch.int32).numpy().tobytes()).digest()
    return int.from_bytes(digest[:8], "little") % nth


def corpus_prompt_buckets(data_dir: Path, nth: int) -> dict[int, int]:
    """job id -> its prompt's bucket, for every sample stored in a distill-data corpus."""
    from trtllm_redrafter.training.corpus import stored_samples

    return {job: prompt_bucket(seq[:plen], nth) for job, seq, plen in stored_samples(data_dir)}


def held_out_mask(rule: str, nth: int, samples: list, origin: dict[int, int], data_dirs: list[Path]) -> list[bool]:
    """True for each held-out sample; ``origin[id(sample)]`` indexes ``data_dirs``, its corpus."""
    if rule == "job":
        return [s.job_id % nth == 0 for s in samples]
    if rule != "prompt":
        raise ValueError(f"unknown held-out rule {rule!r}; one of {HELDOUT_RULES}")
    buckets = [corpus_prompt_buckets(d, nth) for d in data_dirs]
    return [buckets[origin[id(s)]][s.job_id] == 0 for s in samples]
