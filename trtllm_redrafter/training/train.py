"""Knowledge-distillation training of the drafter against a frozen target: the loop.

    trtllm-redrafter train --data data/distill/smollm2 --out runs/drafter --steps 2000
    torchrun --nproc_per_node=2 -m trtllm_redrafter.cli train ...        (DDP: gloo on CPU, NCCL on GPU)

``train`` reads top to bottom: set up the data and the target (``load_data``), the drafter and its
optimizer (``build_optimisation``), resume if asked (checkpoint.py), then one ``optimisation_step``
per loop iteration, held-out evaluation every ``eval_every`` steps and a checkpoint every
``save_every``. The pieces live beside it:

    batches.py       the data loader              loss.py       the KD loss (the maths is there)
    drafter_init.py  the drafter a run starts as  evaluate.py   held-out and teacher-forced agreement
    checkpoint.py    kill-safe checkpoints, exact resume          logs.py  log.csv, loss.png

Held-out evaluation uses 1 in ``eval_every_nth_sample`` corpus samples (by job id, or by whole
prompt with ``heldout_by="prompt"``: split.py), never trained on; the lowest held-out KL so far
is kept in ``out/best``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import Drafter
from trtllm_redrafter.training.batches import EpochBatches, batch_inputs, batches_of, load_corpus
from trtllm_redrafter.training.checkpoint import Progress, restore, save_checkpoint
from trtllm_redrafter.training.corpus import read_manifest
from trtllm_redrafter.training.drafter_init import choose_draft_vocab, load_init_drafter, make_drafter, warm_start
from trtllm_redrafter.training.evaluate import evaluate
from trtllm_redrafter.training.fingerprint import model_fingerprint
from trtllm_redrafter.training.logs import write_logs
from trtllm_redrafter.training.loss import Unroll, drafter_loss, target_to_draft
from trtllm_redrafter.training.settings import TrainSettings, lr_lambda
from trtllm_redrafter.training.split import held_out_mask

PAD_ID = 0


@dataclass
class TrainData:
    """What ``load_data`` sets up once: the frozen target and the batches it will see."""

    device: torch.device  # where the target, the drafter and every batch live
    target: nn.Module  # the frozen HF model (its embedding, and its forward unless features are given)
    draft_vocab: torch.Tensor | None  # [V'] target ids the drafter proposes; None = the full vocabulary
    t2d: torch.Tensor | None  # [V] target id -> draft id (-1 = absent)
    init: Drafter | None  # the warm start (--init-drafter)
    train_batches: list[list]
    eval_batches: list[list]
    digest: str  # what the data cursor indexes: --resume refuses data that changed since the checkpoint
    counts: dict  # for run.json


@dataclass
class Optimisation:
    """The trainable side: the drafter, its unrolled (maybe DDP-wrapped) module and the optimizer."""

    drafter: Drafter
    model: nn.Module  # Unroll(drafter), inside DistributedDataParallel when world > 1
    params: list[nn.Parameter]
    optim: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR


def dist_info(device: torch.device | None = None) -> tuple[int, int]:
    """(rank, world size); under torchrun this joins the process group: NCCL for a CUDA device
    (set as this rank's current device first), gloo for the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = device is not None and device.type == "cuda"
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").write_text("")
        (out / ".write-test").unlink()
    except OSError as exc:
        raise RedrafterError(f"cannot write to output directory {out}: {exc}") from exc


def load_data(settings: TrainSettings, world: int) -> TrainData:
    """The corpus (or precomputed features), the frozen target, the held-out split and the batches."""
    from trtllm_redrafter.devices import resolve_device
    from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model

    device = resolve_device(settings.device)
    model_dir = resolve_model(settings.model)
    fingerprint = model_fingerprint(model_dir)
    corpus, origin = load_samples(settings, fingerprint)
    target, _ = load_target_model(model_dir, parse_dtype(settings.dtype))
    target.to(device)
    for p in target.parameters():
        p.requires_grad_(False)
    data_dirs = [d for d, _ in corpus_pairs(settings)]
    held_out = held_out_mask(settings.heldout_by, settings.eval_every_nth_sample, corpus, origin, data_dirs)
    train_samples = [s for s, h in zip(corpus, held_out) if not h]
    eval_samples = [s for s, h in zip(corpus, held_out) if h]
    if not train_samples:
        raise RedrafterError("the corpus has no training samples after the held-out split")
    init = load_init_drafter(settings, target) if settings.init_drafter else None
    vocab = target.get_output_embeddings().weight.shape[0]
    draft_vocab = None
    if init is not None and settings.draft_vocab_size == init.config.draft_vocab_size > 0:
        draft_vocab = init.draft_vocab.clone()  # the warm start keeps its own draft vocabulary
    elif settings.draft_vocab_size:  # a fresh one, or a warm start's grown by the most frequent other tokens
        responses = [
            s.tokens[1:] if settings.features else torch.tensor(s.tokens[s.prompt_len :]) for s in train_samples
        ]
        keep = init.draft_vocab if init is not None else None
        draft_vocab = choose_draft_vocab(responses, settings.draft_vocab_size, vocab, keep)
    train_batches = batches_of(train_samples, settings.tokens_per_batch, drafted_length(settings))
    if len(train_batches) < world:
        raise RedrafterError(f"{len(train_batches)} training batches cannot feed {world} processes")
    counts = {
        "train_samples": len(train_samples),
        "eval_samples": len(eval_samples),
        "train_tokens": sum(len(s.tokens) for s in train_samples),
        "train_batches": len(train_batches),
    }
    t2d = target_to_draft(draft_vocab, vocab)
    return TrainData(
        device=device,
        target=target,
        draft_vocab=draft_vocab,
        t2d=None if t2d is None else t2d.to(device),
        init=init,
        train_batches=train_batches,
        eval_batches=batches_of(eval_samples, settings.tokens_per_batch, drafted_length(settings))[
            : settings.eval_batches
        ],
        digest=data_digest(train_batches, origin),
        counts=counts,
    )


def corpus_pairs(settings: TrainSettings) -> list[tuple[Path, Path | None]]:
    """``--data A,B --features FA,FB``: the corpora a run trains on together, each with its features."""
    data = [Path(d) for d in settings.data.split(",") if d]
    features = [Path(f) for f in settings.features.split(",") if f] if settings.features else [None] * len(data)
    if not data or len(features) != len(data):
        raise RedrafterError(
            f"--features names {len(features)} directories for {len(data)} --data corpora; give one per corpus, "
            "in the same order"
        )
    return list(zip(data, features))


def load_samples(settings: TrainSettings, fingerprint: str) -> tuple[list, dict[int, int]]:
    """Every corpus's samples (its precomputed features where given), and id(sample) -> its corpus's index."""
    corpus, origin = [], {}
    for c, (data_dir, features_dir) in enumerate(corpus_pairs(settings)):
        if features_dir is not None:  # precomputed target outputs: the target only lends its embedding and head
            from trtllm_redrafter.training.features import load_features

            part = load_features(features_dir, data_dir, fingerprint)
        else:
            part = load_corpus(data_dir, fingerprint, settings.max_len)
        corpus += part
        origin.update((id(s), c) for s in part)
    return corpus, origin


def data_digest(train_batches: list[list], origin: dict[int, int]) -> str:
    """What the data cursor indexes, hashed: --resume refuses data that changed since the checkpoint."""
    if len(set(origin.values())) == 1:  # one corpus: the digest of runs from before multi-corpus training
        keys = [[s.job_id, len(s.tokens)] for b in train_batches for s in b]
    else:  # job ids repeat across corpora
        keys = [[origin[id(s)], s.job_id, len(s.tokens)] for b in train_batches for s in b]
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()


def drafted_length(settings: TrainSettings):
    """The length batches are bucketed by: --online-target batches like the features it stands for."""
    return (lambda sample: len(sample.tokens) - sample.prompt_len + 1) if settings.online_target else None


def write_run_record(out: Path, settings: TrainSettings, data: TrainData, world: int, resume: bool) -> None:
    """``run.json`` (or ``run.resume-<time>.json``): what this run trained on."""
    manifests = {str(d): read_manifest(d) for d, _ in corpus_pairs(settings)}
    counts = [m.get("counts") for m in manifests.values()]
    corpus = {
        "shards": sum(len(m["shards"]) for m in manifests.values()),
        "manifest_counts": counts[0] if len(counts) == 1 else dict(zip(manifests, counts)),
        **data.counts,
    }
    record = {"settings": asdict(settings), "corpus": corpus, "world_size": world, "resumed": resume}
    name = "run.json" if not resume else f"run.resume-{int(time.time())}.json"
    (out / name).write_text(json.dumps(record, indent=2))


def build_optimisation(settings: TrainSettings, data: TrainData, world: int) -> Optimisation:
    """A seeded fresh drafter (or the warm start's weights), unrolled, with AdamW and the schedule."""
    torch.manual_seed(settings.seed)
    drafter = make_drafter(settings, data.target, data.draft_vocab).to(data.device)
    if data.init is not None:
        warm_start(drafter, data.init)
    model: nn.Module = Unroll(drafter, settings.num_steps)
    if world > 1:
        ids = [data.device.index] if data.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    params = [p for p in drafter.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(settings))
    return Optimisation(drafter, model, params, optim, sched)


def optimisation_step(
    opt: Optimisation, data: TrainData, settings: TrainSettings, loader: EpochBatches, progress: Progress
) -> dict:
    """grad_accum micro-batches, one clipped AdamW update -> the step's mean loss terms and grad norm.

    The loss terms stay on the device until the step's one host read (``tolist``), which the
    finite check and the log row need; ``drafter_loss`` masks invalid positions instead of
    selecting them, and skips the agreement metrics (``metrics=False``), so it never syncs.
    """
    opt.drafter.train()
    opt.optim.zero_grad(set_to_none=True)
    embed = data.target.get_input_embeddings()
    online_topk = settings.online_topk if settings.online_target else 0
    terms = torch.zeros(3, dtype=torch.float64, device=data.device)  # loss, kl, ce
    positions = torch.zeros((), dtype=torch.long, device=data.device)  # (i, k) pairs trained
    for _ in range(settings.grad_accum):
        batch = loader.next(progress)
        hidden, logp, ids, lengths, plens = batch_inputs(data.target, batch, PAD_ID, data.device, online_topk)
        # as before on the CPU: no CPU autocast on a machine with CUDA (the old code's rule, kept exact)
        autocast = settings.autocast and (data.device.type == "cuda" or not torch.cuda.is_available())
        with torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=autocast):
            res = drafter_loss(
                opt.model,
                embed,
                hidden,
                logp,
                ids,
                lengths,
                plens,
                settings.num_steps,
                settings.ce_weight,
                kd_weight=settings.kd_weight,
                t2d=data.t2d,
                metrics=False,
            )
        (res.loss / settings.grad_accum).backward()
        terms += torch.stack([res.loss.detach().double(), res.kl, res.ce]) / settings.grad_accum
        positions += res.count.sum()
    norm = torch.nn.utils.clip_grad_norm_(opt.params, settings.clip)
    read = torch.cat([terms, norm.double()[None], positions.double()[None]]).tolist()  # the step's one host sync
    loss, kl, ce, grad_norm, trained = read
    stats = {"loss": loss, "kl": kl, "ce": ce}
    if not math.isfinite(grad_norm) or not math.isfinite(stats["loss"]):
        # never let one bad batch turn the weights into NaN: stop with the last good checkpoint
        raise RedrafterError(
            f"step {progress.step + 1}: non-finite loss ({stats['loss']}) or gradient norm ({grad_norm}); the "
            f"weights were not updated. The last checkpoint in {Path(settings.out) / 'checkpoint'} is intact; "
            "check the data or lower --lr"
        )
    opt.optim.step()
    opt.sched.step()
    return {"grad_norm": grad_norm, **stats, "positions": int(trained)}


def evaluate_and_keep_best(
    opt: Optimisation, data: TrainData, settings: TrainSettings, progress: Progress, rank: int
) -> dict:
    """Held-out metrics; the drafter goes to ``out/best`` when its held-out KL is the lowest so far."""
    metrics = evaluate(opt.drafter, data.target, data.eval_batches, settings, PAD_ID, data.t2d)
    best = [r["eval_kl"] for r in progress.history if "eval_kl" in r]
    if rank == 0 and "eval_kl" in metrics and (not best or metrics["eval_kl"] < min(best)):
        out = Path(settings.out) / "best"
        opt.drafter.save(out)  # guards against over-fitting
        (out / "step.json").write_text(json.dumps({"step": progress.step, "eval_kl": metrics["eval_kl"]}) + "\n")
    return metrics


def train(settings: TrainSettings, resume: bool = False, stop_after: int | None = None) -> dict:
    """Run (or resume) training; ``stop_after`` ends the process early, like a kill (tests)."""
    from trtllm_redrafter.devices import cpu_has_native_bf16, resolve_device

    settings.validate()
    rank, world = dist_info(resolve_device(settings.device))
    out, ckpt = Path(settings.out), Path(settings.out) / "checkpoint"
    if rank == 0:
        check_writable(out)
    data = load_data(settings, world)
    if rank == 0 and settings.autocast and data.device.type == "cpu" and cpu_has_native_bf16() is False:
        print(
            "train: warning: this CPU has no bf16 hardware (no avx512_bf16 or amx_bf16), so bf16 autocast "
            "is emulated and far slower than float32; pass --no-autocast",
            file=sys.stderr,
        )
    if data.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast: ample for a KD loss
        torch.backends.cudnn.allow_tf32 = True
    if rank == 0:
        write_run_record(out, settings, data, world, resume)
    opt = build_optimisation(settings, data, world)
    progress = Progress()
    if resume:
        head = data.target.get_output_embeddings().weight.float()
        progress = restore(ckpt, opt.drafter, opt.optim, opt.sched, settings, data.digest, head)
    loader = EpochBatches(data.train_batches, settings.seed, rank, world)
    bar = tqdm(
        total=settings.steps, initial=progress.step, desc="train", unit="step", disable=rank != 0, dynamic_ncols=True
    )
    t_start = time.time()
    while progress.step < settings.steps:
        stats = optimisation_step(opt, data, settings, loader, progress)
        progress.step += 1
        last = progress.step == settings.steps
        row = {"step": progress.step, "epoch": progress.epoch, "lr": opt.sched.get_last_lr()[0]}
        row.update(grad_norm=stats.pop("grad_norm"), elapsed_s=round(time.time() - t_start, 1), **stats)
        if progress.step % settings.eval_every == 0 or last:
            row.update(evaluate_and_keep_best(opt, data, settings, progress, rank))
        progress.history.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}")
        if rank == 0 and (progress.step % settings.save_every == 0 or last):
            save_checkpoint(opt.drafter, opt.optim, opt.sched, settings, progress, ckpt, data.digest)
            write_logs(progress.history, out)
        if stop_after is not None and progress.step >= stop_after:
            break
    bar.close()
    if world > 1:
        dist.barrier()
    return {"step": progress.step, "history": progress.history}
