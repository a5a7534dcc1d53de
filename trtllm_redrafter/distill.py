"""Knowledge-distillation training of the drafter against a frozen target.

    trtllm-redrafter train --data data/distill/smollm2 --out runs/drafter --steps 2000
    torchrun --nproc_per_node=2 -m trtllm_redrafter.cli train ...        (DDP: gloo on CPU, NCCL on GPU)

One training step, for a batch of corpus sequences x [B, T] (prompt + target-written response):

    target (frozen):  h [B, T, H] last hidden state (LM-head input),  p [B, T, V] = softmax(logits)
    drafter, for k = 1..N, from every position i at once (teacher forcing, as in the paper):
        s_k[i]     = next_state(s_{k-1}[i], e(x[i + k]))         s_0 = 0; x[i+1] is the "root"
        q_k[i]     = softmax(drafter(h[i], s_k[i]))              predicts x[i + k + 1]
        loss_k[i]  = KL(p[i + k] || q_k[i])  (+ ce_weight * -log q_k[i](x[i + k + 1]))
    valid:  i >= prompt_len - 1 (the predicted tokens are response tokens) and i + k + 1 < len

The loss is the mean over valid (i, k). Prompt tokens are never predicted.

Held-out evaluation (1 in ``eval_every_nth_sample`` corpus samples, never trained on) reports
teacher-forced top-1 / top-k agreement with the target's argmax per draft position, and an
estimate of tokens per step for a single greedy beam: 1 + E[number of leading positions whose
top-1 agrees], bonus included.

Checkpoints: ``out/checkpoint/`` holds the drafter in Apple's layout plus ``trainer_state.pt``
(optimizer, scheduler, step, data cursor, RNG state); a restarted run with ``--resume``
continues exactly where it stopped. Logs: ``out/log.csv`` and ``out/loss.png``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from trtllm_redrafter.distill_data import model_fingerprint, read_manifest, read_shard
from trtllm_redrafter.drafter import Drafter, DrafterConfig, init_drafter
from trtllm_redrafter.errors import RedrafterError


# ---- corpus --------------------------------------------------------------------------------
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
            f"sha256 {str(built_for.get('sha256'))[:12]}...); build one for this target with distill-data"
        )
    samples: list[Sample] = []
    for shard in manifest.get("shards", []):
        t = read_shard(data_dir, shard)
        tokens, offsets = t["tokens"].tolist(), t["offsets"].tolist()
        for j, (plen, job) in enumerate(zip(t["prompt_lens"].tolist(), t["job_ids"].tolist())):
            seq = tokens[offsets[j] : offsets[j + 1]]
            if len(seq) - plen >= 2:  # at least one drafted target exists
                keep = min(len(seq), max_len)
                start = max(0, min(plen - 1, len(seq) - keep))  # keep the response, trim the prompt's head
                samples.append(Sample(seq[start : start + keep], plen - start, job))
    if not samples:
        raise RedrafterError(f"corpus {data_dir} holds no usable samples")
    return samples


def batches_of(samples: list[Sample], tokens_per_batch: int) -> list[list[Sample]]:
    """Greedy length-bucketed batches of at most tokens_per_batch (padded) tokens."""
    order = sorted(samples, key=lambda s: len(s.tokens))
    out, cur = [], []
    for s in order:
        if cur and len(s.tokens) * (len(cur) + 1) > tokens_per_batch:
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


# ---- loss ----------------------------------------------------------------------------------
@dataclass
class LossOut:
    loss: torch.Tensor
    kl: float
    ce: float
    top1: torch.Tensor  # [N] agreement with the target argmax per draft position (sum)
    topk: torch.Tensor  # [N]
    count: torch.Tensor  # [N] valid positions
    chain: torch.Tensor  # scalar: sum over chain-valid positions of leading top-1 agreements
    chain_count: torch.Tensor


@torch.no_grad()
def target_outputs(target, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen target: hidden [B, T, H] (LM-head input) and log-probs [B, T, V] (float32)."""
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    hidden = target.get_decoder()(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    logp = torch.log_softmax(target.get_output_embeddings()(hidden).float(), dim=-1)
    return hidden, logp


class Unroll(nn.Module):
    """The drafter unrolled N steps from every position at once (teacher forcing).

    forward(hidden [B, T, H], emb [B, T, H]) -> logits [N, B, T, V], where logits[k-1][:, i]
    predicts x[i + k + 1] from h[i] and the RNN state after reading e(x[i+1]) .. e(x[i+k]).
    One module call per training step, so DistributedDataParallel sees a single forward.
    """

    def __init__(self, drafter: Drafter, num_steps: int) -> None:
        super().__init__()
        self.drafter = drafter
        self.num_steps = num_steps

    def forward(self, hidden: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        t = emb.shape[1]
        state = None
        out = []
        for k in range(1, self.num_steps + 1):
            shifted = torch.zeros_like(emb)  # e(x[i + k]) for every position i, zeros past the end
            shifted[:, : t - k] = emb[:, k:]
            state = self.drafter.next_state(state, shifted)  # [B, T, H]
            out.append(self.drafter(hidden, state).float())  # [B, T, V]
        return torch.stack(out)


@dataclass
class SparseTarget:
    """The target's next-token distribution kept as its top K entries (features.py)."""

    ids: torch.Tensor  # [B, T, K] target token ids, most likely first
    logp: torch.Tensor  # [B, T, K] their log-probabilities


def target_to_draft(draft_vocab: torch.Tensor | None, vocab_size: int) -> torch.Tensor | None:
    """[V] map from a target token id to its draft id, -1 where the draft vocabulary lacks it."""
    if draft_vocab is None:
        return None
    t2d = torch.full((vocab_size,), -1, dtype=torch.long)
    t2d[draft_vocab.long()] = torch.arange(draft_vocab.numel())
    return t2d


def drafter_loss(
    unroll: nn.Module,
    embed: nn.Module,
    hidden: torch.Tensor,  # [B, T, H]
    target_logp: torch.Tensor | SparseTarget,  # [B, T, V] log-probs, or the top K of them
    ids: torch.Tensor,  # [B, T]
    lengths: torch.Tensor,  # [B]
    prompt_lens: torch.Tensor,  # [B]
    num_steps: int,
    ce_weight: float = 0.0,
    topk: int = 5,
    kd_weight: float = 1.0,
    t2d: torch.Tensor | None = None,  # [V] target id -> draft id (-1: absent); None = full vocabulary
) -> LossOut:
    """Mean over valid (i, k) of kd_weight * KL(p || q) + ce_weight * CE(x[i+k+1]).

    With a reduced draft vocabulary the drafter's q lives on V' tokens; p is renormalised over
    them (tokens it lacks can never be drafted), and a target argmax outside V' counts as a miss.
    """
    b, t, _ = hidden.shape
    pos = torch.arange(t)[None, :]  # [1, T]
    with torch.no_grad():
        emb = embed(ids).float()  # [B, T, H]
        if isinstance(target_logp, SparseTarget):
            p_ids, p_logp_all = target_logp.ids, target_logp.logp  # [B, T, K]
        else:
            p_logp_all = target_logp  # [B, T, V]
            p_ids = None
        if t2d is not None:
            if p_ids is None:  # dense: keep the draft vocabulary's columns, argmax from the full row
                argmax_d = t2d[target_logp.argmax(-1)]  # [B, T]
                p_logp_all = target_logp[..., (t2d >= 0).nonzero()[:, 0]]  # [B, T, V'] in draft-id order
            else:
                p_ids = t2d[p_ids]  # [B, T, K] draft ids, -1 = absent
                argmax_d = p_ids[..., 0]
        else:
            argmax_d = p_ids[..., 0] if p_ids is not None else target_logp.argmax(-1)
        if p_ids is not None:  # renormalise the kept entries
            p_logp_all = torch.log_softmax(p_logp_all.masked_fill(p_ids < 0, float("-inf")), dim=-1)
        elif t2d is not None:
            p_logp_all = torch.log_softmax(p_logp_all, dim=-1)
        labels = t2d[ids] if t2d is not None else ids  # [B, T] draft ids of the tokens (-1 = absent)
    all_logits = unroll(hidden, emb)  # [N, B, T, V']
    total = hidden.new_zeros((), dtype=torch.float32)
    n_total = 0
    kl_sum = ce_sum = 0.0
    top1, topk_hits, counts = [], [], []
    agree_chain = torch.ones(b, t, dtype=torch.bool)
    chain_valid = torch.ones(b, t, dtype=torch.bool)
    chain_sum = torch.zeros((), dtype=torch.long)
    for k in range(1, num_steps + 1):
        logits = all_logits[k - 1]  # [B, T, V'] predicts x[i + k + 1]
        valid = (pos >= prompt_lens[:, None] - 1) & (pos + k + 1 < lengths[:, None])  # [B, T]
        sel = valid.nonzero(as_tuple=True)
        q_sel = torch.log_softmax(logits[sel].float(), dim=-1)  # [M, V']

        def shifted(x: torch.Tensor, fill: float | int, k: int = k) -> torch.Tensor:
            out = torch.full_like(x, fill)
            out[:, : t - k] = x[:, k:]  # the target's view of x[i + k + 1] sits at position i + k
            return out

        p_sel = shifted(p_logp_all, float("-inf"))[sel]  # [M, V'] or [M, K]
        # a row whose whole top K lies outside V' is NaN after the renormalisation: it carries no KD
        # signal. Zero p and log p there *before* the product, so no NaN reaches the gradient either
        # (a where() after the product would still multiply its NaN branch's gradient by zero).
        p_exp = p_sel.exp()
        has_p = p_exp > 0  # False for -inf and NaN
        p = torch.where(has_p, p_exp, 0.0)
        log_p = torch.where(has_p, p_sel, 0.0)
        q_ref = q_sel.gather(-1, shifted(p_ids, 0)[sel].clamp(min=0)) if p_ids is not None else q_sel  # [M, K|V']
        kl = (p * (log_p - torch.where(has_p, q_ref, 0.0))).sum(-1)  # [M]
        loss_k = kd_weight * kl.sum()
        kl_sum += float(kl.detach().sum())
        if ce_weight > 0:
            nxt = torch.full_like(labels, -1)
            nxt[:, : t - k - 1] = labels[:, k + 1 :]
            lab = nxt[sel]  # [M]
            ce = -torch.where(lab >= 0, q_sel.gather(-1, lab.clamp(min=0)[:, None])[:, 0], 0.0)
            loss_k = loss_k + ce_weight * ce.sum()
            ce_sum += float(ce.detach().sum())
        total = total + loss_k
        n_total += int(valid.sum())
        with torch.no_grad():
            tgt = shifted(argmax_d, -1)  # [B, T] the target's greedy token, as a draft id
            hit = (logits.argmax(-1) == tgt) & (tgt >= 0)
            in_topk = (logits.topk(min(topk, logits.shape[-1]), dim=-1).indices == tgt[..., None]).any(-1) & (tgt >= 0)
            top1.append((hit & valid).sum())
            topk_hits.append((in_topk & valid).sum())
            counts.append(valid.sum())
            agree_chain &= hit
            chain_valid &= valid
            chain_sum = chain_sum + (agree_chain & chain_valid).sum()
    n = max(n_total, 1)
    return LossOut(
        loss=total / n,
        kl=kl_sum / n,
        ce=ce_sum / n,
        top1=torch.stack(top1),
        topk=torch.stack(topk_hits),
        count=torch.stack(counts),
        chain=chain_sum,
        chain_count=chain_valid.sum(),
    )


# ---- training --------------------------------------------------------------------------------
@dataclass
class TrainSettings:
    model: str
    data: str
    out: str
    steps: int = 1000
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.0
    grad_accum: int = 1
    clip: float = 1.0
    tokens_per_batch: int = 2048
    max_len: int = 512
    num_steps: int = 4  # N: drafted positions trained from every context (default draft_len)
    ce_weight: float = 0.0
    kd_weight: float = 1.0  # 0 with ce_weight 1 = plain CE on the corpus tokens (the ablation)
    features: str | None = None  # precomputed target features (distill-features): no target forward
    init_drafter: str | None = None  # warm start: a trained drafter of the same architecture (and its V')
    draft_vocab_size: int = 0  # > 0: the drafter proposes only the most frequent V' response tokens
    exit_dim: int | None = None  # None: the target's hidden size
    num_draft_layers: int = 1
    lm_head_from_target: bool = True
    rnn_formula: str = "apple"
    hidden_scale: float = 1.0  # init: scale of the hidden-state half of input_proj (vs the RNN state)
    state_scale: float = 0.1  # init: scale of the RNN-state half of input_proj
    autocast: bool = True
    eval_every: int = 100
    eval_batches: int = 8
    eval_every_nth_sample: int = 50
    save_every: int = 100
    seed: int = 0
    dtype: str = "bfloat16"  # frozen target's dtype

    def validate(self) -> None:
        for name in ("steps", "grad_accum", "tokens_per_batch", "max_len", "num_steps", "eval_every", "save_every"):
            if getattr(self, name) <= 0:
                raise RedrafterError(f"{name} must be >= 1")
        if self.lr <= 0 or self.warmup < 0:
            raise RedrafterError("lr must be > 0 and warmup >= 0")
        if self.kd_weight < 0 or self.ce_weight < 0 or self.kd_weight + self.ce_weight == 0:
            raise RedrafterError("kd_weight and ce_weight must be >= 0 and not both 0")
        if self.draft_vocab_size < 0:
            raise RedrafterError("draft_vocab_size must be >= 0")


def lr_lambda(settings: TrainSettings):
    def f(step: int) -> float:
        if step < settings.warmup:
            return (step + 1) / settings.warmup
        progress = min(1.0, (step - settings.warmup) / max(1, settings.steps - settings.warmup))
        return settings.min_lr_ratio + (1 - settings.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def choose_draft_vocab(responses: list[torch.Tensor], size: int, vocab_size: int) -> torch.Tensor:
    """The ``size`` most frequent response tokens (ties: lower id first), sorted by id -> [V'] int32."""
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for r in responses:
        counts += torch.bincount(r.long(), minlength=vocab_size)
    order = sorted(range(vocab_size), key=lambda i: (-int(counts[i]), i))[:size]
    return torch.tensor(sorted(order), dtype=torch.int32)


def drafter_config(settings: TrainSettings, target) -> DrafterConfig:
    """The drafter architecture that ``settings`` describe for this target."""
    hidden = target.config.hidden_size
    return DrafterConfig(
        vocab_size=target.get_output_embeddings().weight.shape[0],
        hidden_size=hidden,
        exit_dim=settings.exit_dim or hidden,
        num_draft_layers=settings.num_draft_layers,
        rnn=True,
        rnn_formula=settings.rnn_formula,
        lm_head_from_target=settings.lm_head_from_target,
        draft_vocab_size=settings.draft_vocab_size,
    )


def make_drafter(settings: TrainSettings, target, draft_vocab: torch.Tensor | None = None) -> Drafter:
    hidden = target.config.hidden_size
    head = target.get_output_embeddings().weight
    cfg = drafter_config(settings, target)
    drafter = init_drafter(cfg, seed=settings.seed)
    if cfg.draft_vocab_size:
        drafter.draft_vocab.copy_(draft_vocab)
    with torch.no_grad():
        if isinstance(drafter.input_proj, nn.Linear) and cfg.exit_dim == hidden:
            # start as the target's own head on h (x = scale * h + small * s): the drafter begins
            # from the target's next-token guess instead of random logits of a huge norm
            drafter.input_proj.weight[:, :hidden] = torch.eye(hidden) * settings.hidden_scale
            drafter.input_proj.weight[:, hidden:] *= settings.state_scale
            drafter.input_proj.bias.zero_()
        elif isinstance(drafter.input_proj, nn.Linear):
            drafter.input_proj.weight[:, :hidden] *= settings.hidden_scale
        for block in drafter.lm_head[:-1]:  # ResBlocks start near identity
            block.linear.weight.mul_(0.1)
            block.linear.bias.zero_()
        if not settings.lm_head_from_target and cfg.exit_dim == hidden:
            # an own (trainable) head starts as the target's rows for the draft vocabulary
            rows = drafter.draft_vocab.long() if cfg.draft_vocab_size else torch.arange(cfg.vocab_size)
            drafter.lm_head[-1].weight.copy_(head.detach().float()[rows])
    if settings.lm_head_from_target:
        drafter.attach_target_head(head.detach().float())
    return drafter


def load_init_drafter(settings: TrainSettings, target) -> Drafter:
    """The warm-start drafter; its architecture must be the one ``settings`` describe."""
    head = target.get_output_embeddings().weight.detach().float()
    init = Drafter.load(Path(settings.init_drafter), torch.float32, head)
    have, want = asdict(init.config), asdict(drafter_config(settings, target))
    diff = [f"{k}: drafter {have[k]!r}, settings {v!r}" for k, v in want.items() if have[k] != v]
    if diff:
        raise RedrafterError(f"--init-drafter {settings.init_drafter} does not match the settings: " + "; ".join(diff))
    return init


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate()}


def train(settings: TrainSettings, resume: bool = False, stop_after: int | None = None) -> dict:
    """Run (or resume) training; ``stop_after`` ends the process early, like a kill (tests)."""
    from trtllm_redrafter.models import load_target_model, parse_dtype, resolve_model

    settings.validate()
    rank, world = _dist_info()
    out = Path(settings.out)
    if rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / ".write-test").write_text("")
            (out / ".write-test").unlink()
        except OSError as exc:
            raise RedrafterError(f"cannot write to output directory {out}: {exc}") from exc
    model_dir = resolve_model(settings.model)
    fingerprint = model_fingerprint(model_dir)
    if settings.features:  # precomputed target outputs: the target only lends its embedding and head
        from trtllm_redrafter.features import load_features

        corpus = load_features(Path(settings.features), Path(settings.data), fingerprint)
    else:
        corpus = load_corpus(Path(settings.data), fingerprint, settings.max_len)
    target, _ = load_target_model(model_dir, parse_dtype(settings.dtype))
    for p in target.parameters():
        p.requires_grad_(False)
    pad_id = 0
    train_samples = [s for s in corpus if s.job_id % settings.eval_every_nth_sample != 0]
    eval_samples = [s for s in corpus if s.job_id % settings.eval_every_nth_sample == 0]
    if not train_samples:
        raise RedrafterError("the corpus has no training samples after the held-out split")
    init = load_init_drafter(settings, target) if settings.init_drafter else None
    draft_vocab = None
    if init is not None and settings.draft_vocab_size:
        draft_vocab = init.draft_vocab.clone()  # the warm start keeps its own draft vocabulary
    elif settings.draft_vocab_size:
        vocab = target.get_output_embeddings().weight.shape[0]
        responses = [
            s.tokens[1:] if settings.features else torch.tensor(s.tokens[s.prompt_len :]) for s in train_samples
        ]
        draft_vocab = choose_draft_vocab(responses, settings.draft_vocab_size, vocab)
    t2d = target_to_draft(draft_vocab, target.get_output_embeddings().weight.shape[0])
    train_batches = batches_of(train_samples, settings.tokens_per_batch)
    # what the data cursor indexes: a corpus or feature set that changed since the checkpoint
    # would silently shift every later batch, so --resume refuses it
    data_digest = hashlib.sha256(
        json.dumps([[s.job_id, len(s.tokens)] for b in train_batches for s in b]).encode()
    ).hexdigest()
    if len(train_batches) < world:
        raise RedrafterError(f"{len(train_batches)} training batches cannot feed {world} processes")
    eval_batches = batches_of(eval_samples, settings.tokens_per_batch)[: settings.eval_batches]
    if rank == 0:  # the record of what this run trained on
        manifest = read_manifest(Path(settings.data))
        record = {
            "settings": asdict(settings),
            "corpus": {
                "shards": len(manifest["shards"]),
                "manifest_counts": manifest.get("counts"),
                "train_samples": len(train_samples),
                "eval_samples": len(eval_samples),
                "train_tokens": sum(len(s.tokens) for s in train_samples),
                "train_batches": len(train_batches),
            },
            "world_size": world,
            "resumed": resume,
        }
        (out / ("run.json" if not resume else f"run.resume-{int(time.time())}.json")).write_text(
            json.dumps(record, indent=2)
        )

    torch.manual_seed(settings.seed)
    drafter = make_drafter(settings, target, draft_vocab)
    if init is not None:
        drafter.load_state_dict(init.state_dict())
    model: nn.Module = Unroll(drafter, settings.num_steps)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    params = [p for p in drafter.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(settings))
    step, cursor, epoch = 0, 0, 0
    history: list[dict] = []
    ckpt = out / "checkpoint"
    if resume:
        state_path = ckpt / "trainer_state.pt"
        if not state_path.is_file():
            raise RedrafterError(f"--resume: no checkpoint in {ckpt}")
        state = torch.load(state_path, weights_only=False)
        if state["settings"] != asdict(settings):
            changed = sorted(k for k in state["settings"] if state["settings"][k] != asdict(settings).get(k))
            raise RedrafterError(f"--resume with different settings ({', '.join(changed)}); use a new --out")
        if state.get("data_digest", data_digest) != data_digest:
            raise RedrafterError(
                "--resume: the training data changed since the checkpoint (corpus or features grew or "
                "shrank), so the run cannot continue exactly; use a new --out"
            )
        loaded = Drafter.load(ckpt / "drafter", torch.float32, target.get_output_embeddings().weight.float())
        drafter.load_state_dict(loaded.state_dict())
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, cursor, epoch, history = state["step"], state["cursor"], state["epoch"], state["history"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])

    def epoch_order(e: int) -> list[int]:
        order = list(range(len(train_batches)))
        random.Random(settings.seed * 7919 + e).shuffle(order)
        order = order[: max(world, len(order) // world * world)]  # equal slices keep the ranks in step
        return order[rank::world]  # each rank its own slice

    embed = target.get_input_embeddings()
    bar = tqdm(total=settings.steps, initial=step, desc="train", unit="step", disable=rank != 0, dynamic_ncols=True)
    t_start = time.time()
    order = epoch_order(epoch)
    while step < settings.steps:
        drafter.train()
        optim.zero_grad(set_to_none=True)
        stats = {"loss": 0.0, "kl": 0.0, "ce": 0.0}
        for _ in range(settings.grad_accum):
            if cursor >= len(order):
                epoch, cursor = epoch + 1, 0
                order = epoch_order(epoch)
            hidden, logp, ids, lengths, plens = batch_inputs(target, train_batches[order[cursor]], pad_id)
            cursor += 1
            with torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=settings.autocast and not torch.cuda.is_available()
            ):
                res = drafter_loss(
                    model,
                    embed,
                    hidden,
                    logp,
                    ids,
                    lengths,
                    plens,
                    settings.num_steps,
                    settings.ce_weight,
                    kd_weight=settings.kd_weight,
                    t2d=t2d,
                )
            (res.loss / settings.grad_accum).backward()
            for key in stats:
                stats[key] += float(getattr(res, key) if key != "loss" else res.loss.detach()) / settings.grad_accum
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, settings.clip))
        if not math.isfinite(grad_norm) or not math.isfinite(stats["loss"]):
            # never let one bad batch turn the weights into NaN: stop with the last good checkpoint
            raise RedrafterError(
                f"step {step + 1}: non-finite loss ({stats['loss']}) or gradient norm ({grad_norm}); the "
                f"weights were not updated. The last checkpoint in {ckpt} is intact; check the data or lower --lr"
            )
        optim.step()
        sched.step()
        step += 1
        row = {
            "step": step,
            "epoch": epoch,
            "lr": sched.get_last_lr()[0],
            "grad_norm": grad_norm,
            "elapsed_s": round(time.time() - t_start, 1),
            **stats,
        }
        if step % settings.eval_every == 0 or step == settings.steps:
            row.update(evaluate(drafter, target, eval_batches, settings, pad_id, t2d))
            best = [r["eval_kl"] for r in history if "eval_kl" in r]
            if rank == 0 and "eval_kl" in row and (not best or row["eval_kl"] < min(best)):
                drafter.save(out / "best")  # the lowest held-out KL so far (guards against over-fitting)
                (out / "best" / "step.json").write_text(json.dumps({"step": step, "eval_kl": row["eval_kl"]}) + "\n")
        history.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}")
        if rank == 0 and (step % settings.save_every == 0 or step == settings.steps):
            save_checkpoint(drafter, optim, sched, settings, step, cursor, epoch, history, ckpt, data_digest)
            write_logs(history, out)
        if stop_after is not None and step >= stop_after:
            break
    bar.close()
    if world > 1:
        dist.barrier()
    return {"step": step, "history": history}


def batch_inputs(target, batch: list, pad_id: int) -> tuple:
    """(hidden [B, T, H] float32, target distribution, ids [B, T], lengths [B], prompt_lens [B])."""
    if isinstance(batch[0], Sample):
        ids, lengths, plens = collate(batch, pad_id)
        hidden, logp = target_outputs(target, ids, lengths)
        return hidden.float(), logp, ids, lengths, plens
    # FeatureSample: a sequence of L + 1 tokens whose prompt is its first token (features.py)
    t = max(s.tokens.numel() for s in batch)
    b, h, k = len(batch), batch[0].hidden.shape[-1], batch[0].topk_ids.shape[-1]
    ids = torch.full((b, t), pad_id, dtype=torch.long)
    hidden = torch.zeros(b, t, h)
    p_ids = torch.zeros(b, t, k, dtype=torch.long)
    p_logp = torch.zeros(b, t, k)
    for i, s in enumerate(batch):
        n = s.hidden.shape[0]
        ids[i, : n + 1] = s.tokens
        hidden[i, :n] = s.hidden.float()
        p_ids[i, :n] = s.topk_ids
        p_logp[i, :n] = s.topk_logp
    lengths = torch.tensor([s.tokens.numel() for s in batch])
    return hidden, SparseTarget(p_ids, p_logp), ids, lengths, torch.ones(b, dtype=torch.long)


@torch.no_grad()
def evaluate(
    drafter: Drafter,
    target,
    batches: list[list[Sample]],
    settings: TrainSettings,
    pad_id: int,
    t2d: torch.Tensor | None = None,
) -> dict:
    drafter.eval()
    embed = target.get_input_embeddings()
    n = settings.num_steps
    top1 = torch.zeros(n, dtype=torch.long)
    topk = torch.zeros(n, dtype=torch.long)
    count = torch.zeros(n, dtype=torch.long)
    chain = chain_count = 0
    kl_sum, kl_n = 0.0, 0
    for batch in batches:
        hidden, logp, ids, lengths, plens = batch_inputs(target, batch, pad_id)
        res = drafter_loss(Unroll(drafter, n), embed, hidden, logp, ids, lengths, plens, n, t2d=t2d)
        top1 += res.top1
        topk += res.topk
        count += res.count
        chain += int(res.chain)
        chain_count += int(res.chain_count)
        kl_sum += res.kl * int(res.count.sum())
        kl_n += int(res.count.sum())
    drafter.train()
    if not batches or int(count.sum()) == 0:
        return {}
    out = {"eval_kl": kl_sum / max(kl_n, 1), "eval_tokens_per_step_est": 1 + chain / max(chain_count, 1)}
    for k in range(n):
        out[f"eval_top1_pos{k + 1}"] = int(top1[k]) / max(int(count[k]), 1)
        out[f"eval_top5_pos{k + 1}"] = int(topk[k]) / max(int(count[k]), 1)
    return out


def save_checkpoint(
    drafter, optim, sched, settings, step, cursor, epoch, history, ckpt: Path, data_digest: str = ""
) -> None:
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    drafter.save(tmp / "drafter")
    torch.save(
        {
            "optimizer": optim.state_dict(),
            "scheduler": sched.state_dict(),
            "step": step,
            "cursor": cursor,
            "epoch": epoch,
            "history": history,
            "rng": _rng_state(),
            "settings": asdict(settings),
            "data_digest": data_digest,
        },
        tmp / "trainer_state.pt",
    )
    old = ckpt.with_name(ckpt.name + ".old")
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)  # a kill at any point leaves either the old or the new checkpoint whole
    if old.exists():
        import shutil

        shutil.rmtree(old)


def write_logs(history: list[dict], out: Path) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with (out / "log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    (out / "history.json").write_text(json.dumps(history))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot([r["step"] for r in history], [r["loss"] for r in history], lw=0.8, label="train loss")
    ev = [r for r in history if "eval_kl" in r]
    if ev:
        ax[0].plot([r["step"] for r in ev], [r["eval_kl"] for r in ev], "o-", label="held-out KL")
        ax[1].plot([r["step"] for r in ev], [r["eval_tokens_per_step_est"] for r in ev], "o-", label="tokens/step est.")
        ax[1].plot([r["step"] for r in ev], [r["eval_top1_pos1"] for r in ev], "s-", label="top-1, position 1")
    for a in ax:
        a.set_xlabel("step")
        a.legend()
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


@torch.no_grad()
def teacher_forced_eval(drafter: Drafter, target, samples: list[tuple[list[int], list[int]]], num_steps: int) -> dict:
    """Per-position top-1/top-5 agreement with the target's argmax on (prompt, response) pairs,
    e.g. the target's own greedy answers to evaluation prompts (``eval-drafter``)."""
    draft_vocab = drafter.draft_vocab if drafter.config.draft_vocab_size else None
    t2d = target_to_draft(draft_vocab, drafter.config.vocab_size)
    batches = [[Sample(p + r, len(p), i)] for i, (p, r) in enumerate(samples) if len(r) >= 2]
    if not batches:
        raise RedrafterError("no response with at least 2 tokens to evaluate on")
    settings = TrainSettings(model="", data="", out="", num_steps=num_steps)
    out = evaluate(drafter, target, batches, settings, pad_id=0, t2d=t2d)
    if t2d is not None:  # how many answer tokens the draft vocabulary could have proposed at all
        answers = torch.tensor([t for _, r in samples for t in r], dtype=torch.long)
        out["draft_vocab_coverage"] = float((t2d[answers] >= 0).float().mean())
    return out
