"""Self-distillation corpus: the frozen target answers training prompts; we store its tokens.

    trtllm-redrafter distill-data --out data/distill/smollm2 --temperatures 0,0.7 --max-samples 8000

Prompts come only from the training sets in ``shared/data`` (ShareGPT human turns, Alpaca,
Code-Alpaca, GSM8K train). Any prompt that also appears in an evaluation set (MT-Bench,
Spec-Bench, GSM8K test) is dropped, whitespace and case normalised.

Jobs are (prompt, temperature, sample) triples in a fixed order given the seed. They are cut
into shards of ``batch_size`` jobs of one temperature; shard ``i`` is generated in one batched
``generate`` call after ``torch.manual_seed(seed * 1_000_003 + i)``, so a shard's content depends
only on (seed, settings, i). That makes the job deterministic and resumable: a restarted job
checks the manifest, skips finished shards and regenerates from the first missing one. Shards
and the manifest are written to a temporary name and renamed, so a kill never leaves a
half-written file that counts.

Layout:
    out/manifest.json                     target, hash, settings, seed, counts, shard list
    out/shards/shard-00000.safetensors    tokens int32 [N], offsets int64 [S+1],
                                          prompt_lens int32 [S], job_ids int64 [S]
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import write_json_atomic
from trtllm_redrafter.training.fingerprint import mismatch_hint, target_record
from trtllm_redrafter.training.shards import MANIFEST, append_rank_entry, rank_world, written_entries

SOURCES = ("sharegpt", "alpaca", "code_alpaca", "gsm8k")
# "sharegpt_turns": every later human turn of a ShareGPT conversation with its history (the earlier
# human and gpt turns as chat messages); not in the default set, so existing corpora plan as before
ALL_SOURCES = (*SOURCES, "sharegpt_turns")
Prompt = str | list[dict]  # one user message, or a chat history ending with the user's turn


# ---- prompts -------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _conversations(path: Path) -> Iterator[list[dict]]:
    for conv in json.loads(path.read_text()):
        turns = conv.get("conversations")
        if isinstance(turns, str):  # some subsets store the list as its Python repr
            import ast

            turns = ast.literal_eval(turns)
        yield turns or []


def load_training_prompts(data_dir: Path, sources: tuple[str, ...] = SOURCES) -> list[tuple[str, Prompt]]:
    """(source, prompt) pairs from the training-side files only, eval overlaps removed."""
    return [(src, prompt) for src, prompt, _ in load_training_pairs(data_dir, sources)]


def _history(turns: list[dict], j: int) -> list[dict] | None:
    """Turns 0..j as chat messages (human -> user, gpt -> assistant), or None when they do not
    alternate user / assistant from a user turn (the chat template needs that)."""
    roles = {"human": "user", "gpt": "assistant"}
    messages = [{"role": roles.get(t.get("from"), ""), "content": t.get("value", "")} for t in turns[: j + 1]]
    alternates = all(m["role"] == ("user" if k % 2 == 0 else "assistant") for k, m in enumerate(messages))
    return messages if alternates and all(m["content"].strip() for m in messages) else None


def _sharegpt(data_dir: Path, with_history: bool) -> Iterator[tuple[str, Prompt, str | None]]:
    for f in sorted((data_dir / "sharegpt").glob("*.json")):
        for turns in _conversations(f):
            for j, t in enumerate(turns):
                if t.get("from") != "human":
                    continue
                nxt = turns[j + 1] if j + 1 < len(turns) else {}
                response = nxt.get("value") if nxt.get("from") == "gpt" else None
                if not with_history:
                    yield "sharegpt", t["value"], response
                elif j > 0 and (messages := _history(turns, j)) is not None:
                    yield "sharegpt_turns", messages, response


def _key(prompt: Prompt) -> str:
    """Dedupe key: the normalised text, or the normalised messages of a history."""
    if isinstance(prompt, str):
        return _norm(prompt)
    return "\x1e".join(f"{m['role']}:{_norm(m['content'])}" for m in prompt)


def _user_texts(prompt: Prompt) -> list[str]:
    return [prompt] if isinstance(prompt, str) else [m["content"] for m in prompt if m["role"] == "user"]


def load_training_pairs(data_dir: Path, sources: tuple[str, ...] = SOURCES) -> list[tuple[str, Prompt, str | None]]:
    """(source, prompt, the dataset's own response or None), in load_training_prompts' order. A
    prompt any of whose user turns is an evaluation prompt is dropped."""
    if not data_dir.is_dir():
        raise RedrafterError(f"data directory {data_dir} not found (expected shared/data with {', '.join(SOURCES)})")
    unknown = set(sources) - set(ALL_SOURCES)
    if unknown:
        raise RedrafterError(f"unknown prompt sources {sorted(unknown)}; choose from {', '.join(ALL_SOURCES)}")
    out: list[tuple[str, Prompt, str | None]] = []
    try:
        if "sharegpt" in sources:
            out += list(_sharegpt(data_dir, with_history=False))
        if "sharegpt_turns" in sources:
            out += list(_sharegpt(data_dir, with_history=True))
        for name, file in (("alpaca", "alpaca/*.json"), ("code_alpaca", "code_alpaca/*.json")):
            if name in sources:
                for f in sorted(data_dir.glob(file)):
                    for ex in json.loads(f.read_text()):
                        text = ex["instruction"] + (("\n\n" + ex["input"]) if ex.get("input") else "")
                        out.append((name, text, ex.get("output")))
        if "gsm8k" in sources:
            for line in (data_dir / "gsm8k" / "train.jsonl").read_text().splitlines():
                ex = json.loads(line)
                out.append(("gsm8k", ex["question"], ex.get("answer")))
    except (OSError, KeyError, json.JSONDecodeError, ValueError, SyntaxError) as exc:
        raise RedrafterError(f"could not read training prompts under {data_dir}: {exc}") from exc
    banned = eval_prompts(data_dir)
    seen: set[str] = set()
    kept = []
    for source, prompt, response in out:
        key = _key(prompt)
        if key and key not in seen and not any(_norm(text) in banned for text in _user_texts(prompt)):
            seen.add(key)
            kept.append((source, prompt, response))
    return kept


def eval_prompts(data_dir: Path) -> set[str]:
    """Normalised texts of every evaluation prompt (never trained on)."""
    banned: set[str] = set()
    for rel in ("mt_bench/question.jsonl", "spec_bench/question.jsonl"):
        path = data_dir / rel
        if path.is_file():
            for line in path.read_text().splitlines():
                banned.update(_norm(t) for t in json.loads(line).get("turns", []))
    test = data_dir / "gsm8k" / "test.jsonl"
    if test.is_file():
        banned.update(_norm(json.loads(line)["question"]) for line in test.read_text().splitlines())
    return banned


# ---- settings and manifest -------------------------------------------------------------------
@dataclass
class DistillSettings:
    model: str
    temperatures: tuple[float, ...] = (0.0, 0.7)
    samples_per_prompt: int = 1
    max_new_tokens: int = 256
    max_prompt_tokens: int = 512
    batch_size: int = 16
    max_samples: int | None = None
    sources: tuple[str, ...] = SOURCES
    dtype: str = "bfloat16"
    seed: int = 0
    # (source, weight) pairs: the planned order draws the next prompt from a source with probability
    # proportional to its weight (seeded); () keeps the plain shuffle of every prompt
    source_weights: tuple[tuple[str, float], ...] = ()

    def validate(self) -> None:
        weighted = {name for name, _ in self.source_weights}
        if weighted - set(self.sources) or any(w < 0 for _, w in self.source_weights):
            raise RedrafterError(f"source weights must be >= 0 and name --sources only, got {self.source_weights}")
        if self.source_weights and not any(w > 0 for _, w in self.source_weights):
            raise RedrafterError("at least one source weight must be > 0")
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise RedrafterError("temperatures must be a non-empty list of values >= 0")
        for name in ("samples_per_prompt", "max_new_tokens", "max_prompt_tokens", "batch_size"):
            if getattr(self, name) <= 0:
                raise RedrafterError(f"{name} must be >= 1")
        if self.max_samples is not None and self.max_samples <= 0:
            raise RedrafterError("max_samples must be >= 1")


def read_shard(data_dir: Path, shard: dict) -> dict:
    """A corpus shard's tensors, after checking its sha256 against the manifest entry."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(data_dir) / shard["file"]
    try:
        if hashlib.sha256(path.read_bytes()).hexdigest() != shard["sha256"]:
            raise RedrafterError(f"shard {path} is corrupt (sha256 differs from the manifest)")
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise RedrafterError(f"shard {path} is missing or corrupt: {exc}") from exc


def stored_samples(data_dir: Path) -> Iterator[tuple[int, list[int], int]]:
    """(job id, prompt + response token ids, prompt length) of every sample stored in a corpus, shard
    by shard, each shard checked against its manifest entry."""
    for shard in read_manifest(Path(data_dir)).get("shards", []):
        t = read_shard(data_dir, shard)
        tokens, offsets = t["tokens"].tolist(), t["offsets"].tolist()
        for j, (plen, job) in enumerate(zip(t["prompt_lens"].tolist(), t["job_ids"].tolist())):
            yield job, tokens[offsets[j] : offsets[j + 1]], plen


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise RedrafterError(f"{out_dir} is not a distillation corpus (no {MANIFEST})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RedrafterError(f"{path} is corrupt: {exc}") from exc


# ---- jobs ----------------------------------------------------------------------------------------
@dataclass
class Job:
    job_id: int
    source: str
    prompt_ids: list[int]
    temperature: float


def weighted_order(order: list[int], sources: list[str], weights: dict[str, float], seed: int) -> list[int]:
    """Interleave `order` (already shuffled) by source: each next prompt comes from a source drawn
    with probability proportional to its weight among those with prompts left (seeded; a source
    of weight 0, or not weighted, is left out). Within a source the shuffled order is kept."""
    queues = {name: deque(i for i in order if sources[i] == name) for name, w in weights.items() if w > 0}
    rng = random.Random(seed * 7_919 + 1)
    out: list[int] = []
    while any(queues.values()):
        names = [n for n, q in queues.items() if q]
        out.append(queues[rng.choices(names, [weights[n] for n in names])[0]].popleft())
    return out


def plan_jobs(settings: DistillSettings, prompts: list[tuple[str, Prompt]], encode) -> list[list[Job]]:
    """Deterministic shards: a seeded shuffle of prompts (interleaved by source weight when weights
    are given), then per temperature and sample."""
    order = list(range(len(prompts)))
    random.Random(settings.seed).shuffle(order)
    if settings.source_weights:
        order = weighted_order(order, [src for src, _ in prompts], dict(settings.source_weights), settings.seed)
    encoded = []
    for i in order:
        ids = encode(prompts[i][1])
        if len(ids) <= settings.max_prompt_tokens:
            encoded.append((prompts[i][0], ids))
    jobs: list[Job] = []
    per_temp = []
    for temp in settings.temperatures:
        group = [(src, ids, temp) for _ in range(settings.samples_per_prompt) for src, ids in encoded]
        per_temp.append(group)
    # interleave temperatures so that a --max-samples prefix keeps their mix
    limit = settings.max_samples or sum(len(g) for g in per_temp)
    k = 0
    while len(jobs) < limit and any(k < len(g) for g in per_temp):
        for g in per_temp:
            if k < len(g) and len(jobs) < limit:
                src, ids, temp = g[k]
                jobs.append(Job(len(jobs), src, ids, temp))
        k += 1
    shards: list[list[Job]] = []
    for temp in settings.temperatures:
        same = [j for j in jobs if j.temperature == temp]
        shards += [same[i : i + settings.batch_size] for i in range(0, len(same), settings.batch_size)]
    shards.sort(key=lambda s: s[0].job_id)
    return shards


# ---- generation ----------------------------------------------------------------------------------
class CorpusGenerator(Protocol):
    """The seam between the corpus job and whatever writes the answers.

    ``generate`` returns one response per job (token ids, cut after the first EOS), sampled at the
    jobs' common temperature (0 = greedy) with at most ``settings.max_new_tokens`` tokens; its
    output must depend only on (settings.seed, shard_index, jobs), so that a resumed or
    rank-sharded job writes the same shard. HF ``generate`` (``HFGenerator``) is the default and
    the only one tested here.
    """

    def generate(self, jobs: list[Job], settings: DistillSettings, shard_index: int) -> list[list[int]]: ...


class HFGenerator:
    """transformers ``generate`` on one device, seeded per shard."""

    def __init__(self, model, eos: list[int], device: torch.device) -> None:
        self.model, self.eos, self.device = model.to(device), eos, device

    @torch.no_grad()
    def generate(self, jobs: list[Job], settings: DistillSettings, shard_index: int) -> list[list[int]]:
        from trtllm_redrafter.runtime.decode import left_pad

        torch.manual_seed(settings.seed * 1_000_003 + shard_index)  # seeds CUDA too
        ids, valid = left_pad([j.prompt_ids for j in jobs], pad_id=self.eos[0])
        temp = jobs[0].temperature
        sampling = {"do_sample": True, "temperature": temp, "top_k": 0, "top_p": 1.0} if temp > 0 else {}
        out = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=valid.long().to(self.device),
            max_new_tokens=settings.max_new_tokens,
            eos_token_id=self.eos,
            pad_token_id=self.eos[0],
            **(sampling or {"do_sample": False}),
        )
        rows = []
        for row in out[:, ids.shape[1] :].tolist():
            for i, t in enumerate(row):
                if t in self.eos:
                    row = row[: i + 1]
                    break
            rows.append(row)
        return rows


def shard_tensors(jobs: list[Job], responses: list[list[int]]) -> dict:
    """One shard: prompt + response of every job, concatenated, with offsets."""
    tokens, offsets, prompt_lens = [], [0], []
    for job, row in zip(jobs, responses):
        seq = job.prompt_ids + row
        tokens += seq
        offsets.append(offsets[-1] + len(seq))
        prompt_lens.append(len(job.prompt_ids))
    return {
        "tokens": torch.tensor(tokens, dtype=torch.int32),
        "offsets": torch.tensor(offsets, dtype=torch.int64),
        "prompt_lens": torch.tensor(prompt_lens, dtype=torch.int32),
        "job_ids": torch.tensor([j.job_id for j in jobs], dtype=torch.int64),
    }


def shard_index(entry: dict) -> int:
    return int(Path(entry["file"]).stem.split("-")[-1])


def with_counts(manifest: dict, entries: dict[int, dict]) -> dict:
    """The manifest with ``entries`` as its shard list (in shard order) and their counts."""
    manifest["shards"] = [entries[i] for i in sorted(entries)]
    manifest["counts"] = {
        "samples": sum(s["samples"] for s in manifest["shards"]),
        "response_tokens": sum(s["response_tokens"] for s in manifest["shards"]),
        "tokens": sum(s["tokens"] for s in manifest["shards"]),
    }
    return manifest


def write_shard(out_dir: Path, index: int, shard: dict) -> dict:
    """Save one shard by an atomic rename -> its manifest entry."""
    from trtllm_redrafter.files import save_safetensors

    name = f"shard-{index:05d}.safetensors"
    tmp = out_dir / "shards" / (name + ".tmp")
    save_safetensors(shard, tmp)
    os.replace(tmp, out_dir / "shards" / name)
    return {
        "file": f"shards/{name}",
        "samples": int(shard["job_ids"].numel()),
        "tokens": int(shard["offsets"][-1]),
        "response_tokens": int(shard["offsets"][-1]) - int(shard["prompt_lens"].sum()),
        "sha256": hashlib.sha256((out_dir / "shards" / name).read_bytes()).hexdigest(),
    }


def build_corpus(
    settings: DistillSettings,
    out_dir: Path,
    data_dir: Path,
    max_shards: int | None = None,
    device: str = "auto",
    generator: CorpusGenerator | None = None,
) -> dict:
    """Generate (or resume) the corpus, this rank's shards under torchrun (shards.py);
    ``max_shards`` stops before shard ``max_shards`` (used to test resuming)."""
    from trtllm_redrafter.api import encode_prompt, eos_ids
    from trtllm_redrafter.devices import resolve_device
    from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model

    settings.validate()
    rank, world = rank_world()
    dev = resolve_device(device)
    out_dir = Path(out_dir)
    try:
        (out_dir / "shards").mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{rank}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RedrafterError(f"cannot write to output directory {out_dir}: {exc}") from exc

    model_dir = resolve_model(settings.model)
    target = target_record(settings.model, model_dir)
    fingerprint = target["sha256"]
    manifest = {
        "format": 1,
        "target": target,
        "settings": asdict(settings),
        "shards": [],
    }
    manifest["settings"]["temperatures"] = list(settings.temperatures)
    manifest["settings"]["sources"] = list(settings.sources)
    if settings.source_weights:
        manifest["settings"]["source_weights"] = {name: w for name, w in settings.source_weights}
    else:  # corpora planned before weights existed resume unchanged
        del manifest["settings"]["source_weights"]

    def check(old: dict) -> None:
        if old.get("target", {}).get("sha256") != fingerprint:
            target = old.get("target", {})
            raise RedrafterError(
                f"{out_dir} was built for another target ({target}){mismatch_hint(target)}; use a new --out"
            )
        if old.get("settings") != manifest["settings"]:
            raise RedrafterError(f"{out_dir} was built with other settings ({old.get('settings')}); use a new --out")

    if (out_dir / MANIFEST).is_file():
        old = read_manifest(out_dir)
        check(old)
        manifest = old
    header = {k: manifest[k] for k in ("format", "target", "settings")}
    written = written_entries(out_dir, shard_index, check)

    model, tokenizer = load_target_model(model_dir, parse_dtype(settings.dtype))
    eos = list(eos_ids(model, tokenizer))
    generator = generator or HFGenerator(model, eos, dev)
    prompts = load_training_prompts(Path(data_dir), tuple(settings.sources))
    shards = plan_jobs(settings, prompts, lambda text: encode_prompt(tokenizer, text))
    manifest["planned"] = {"prompts": len(prompts), "samples": sum(len(s) for s in shards), "shards": len(shards)}
    stop = len(shards) if max_shards is None else min(max_shards, len(shards))
    todo = [i for i in range(stop) if i not in written and i % world == rank]
    mine = [i for i in range(len(shards)) if i % world == rank]
    bar = tqdm(
        total=sum(len(shards[i]) for i in mine),
        initial=sum(len(shards[i]) for i in mine if i in written),
        unit="sample",
        desc="distill-data" if world == 1 else f"distill-data rank {rank}/{world}",
        dynamic_ncols=True,
        position=rank,
    )
    for index in todo:
        jobs = shards[index]
        written[index] = write_shard(out_dir, index, shard_tensors(jobs, generator.generate(jobs, settings, index)))
        if world == 1:
            write_json_atomic(out_dir / MANIFEST, with_counts(manifest, written))
        else:
            append_rank_entry(out_dir, rank, world, header, written[index])
        bar.update(len(jobs))
        bar.set_postfix(resp_tokens=sum(e["response_tokens"] for e in written.values()))
    bar.close()
    if world > 1:  # merge once every shard exists (the last rank to finish finds that)
        written = written_entries(out_dir, shard_index, check)
        if len(written) < len(shards):
            return with_counts(manifest, written)
    with_counts(manifest, written)
    write_json_atomic(out_dir / MANIFEST, manifest)
    return manifest


# ---- the ablation's corpus: the datasets' own responses --------------------------------------------
def build_original_corpus(settings: DistillSettings, out_dir: Path, data_dir: Path) -> dict:
    """The same prompts, in the same seeded order as ``plan_jobs``, with the dataset's own answer
    (cut to max_new_tokens, EOS appended when whole) instead of the target's. Apple's recipe
    trains on such text with CE; the KD-vs-CE ablation compares the two (docs/distillation.md).
    Nothing is generated, so it is written in one go; same shard format and manifest."""
    from trtllm_redrafter.api import encode_prompt, eos_ids
    from trtllm_redrafter.files import save_safetensors
    from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model

    settings.validate()
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST).exists():
        raise RedrafterError(f"{out_dir} already holds a corpus; use a new --out")
    try:
        (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RedrafterError(f"cannot write to output directory {out_dir}: {exc}") from exc
    model_dir = resolve_model(settings.model)
    model, tokenizer = load_target_model(model_dir, parse_dtype(settings.dtype))
    eos = list(eos_ids(model, tokenizer))
    pairs = load_training_pairs(Path(data_dir), tuple(settings.sources))
    order = list(range(len(pairs)))
    random.Random(settings.seed).shuffle(order)  # plan_jobs' order
    if settings.source_weights:
        order = weighted_order(order, [src for src, _, _ in pairs], dict(settings.source_weights), settings.seed)
    samples: list[tuple[int, list[int], list[int]]] = []
    for i in order:
        _, prompt, response = pairs[i]
        ids = encode_prompt(tokenizer, prompt)
        if len(ids) > settings.max_prompt_tokens:
            continue
        if response and response.strip():
            resp = tokenizer(response, add_special_tokens=False).input_ids
            resp = resp[: settings.max_new_tokens] if len(resp) >= settings.max_new_tokens else resp + eos[:1]
            samples.append((len(samples), ids, resp))
        if settings.max_samples and len(samples) >= settings.max_samples:
            break
    manifest = {
        "format": 1,
        "target": target_record(settings.model, model_dir),
        "settings": {
            **asdict(settings),
            "responses": "original",
            "temperatures": [],
            "sources": list(settings.sources),
        },
        "shards": [],
    }
    for index in range(0, len(samples), settings.batch_size):
        chunk = samples[index : index + settings.batch_size]
        seqs = [p + r for _, p, r in chunk]
        offsets = [0]
        for seq in seqs:
            offsets.append(offsets[-1] + len(seq))
        shard = {
            "tokens": torch.tensor([t for seq in seqs for t in seq], dtype=torch.int32),
            "offsets": torch.tensor(offsets, dtype=torch.int64),
            "prompt_lens": torch.tensor([len(p) for _, p, _ in chunk], dtype=torch.int32),
            "job_ids": torch.tensor([j for j, _, _ in chunk], dtype=torch.int64),
        }
        name = f"shard-{index // settings.batch_size:05d}.safetensors"
        save_safetensors(shard, out_dir / "shards" / name)
        manifest["shards"].append(
            {
                "file": f"shards/{name}",
                "samples": len(chunk),
                "tokens": offsets[-1],
                "response_tokens": sum(len(r) for _, _, r in chunk),
                "sha256": hashlib.sha256((out_dir / "shards" / name).read_bytes()).hexdigest(),
            }
        )
    manifest["counts"] = {
        "samples": len(samples),
        "response_tokens": sum(s["response_tokens"] for s in manifest["shards"]),
        "tokens": sum(s["tokens"] for s in manifest["shards"]),
    }
    write_json_atomic(out_dir / MANIFEST, manifest)
    return manifest
