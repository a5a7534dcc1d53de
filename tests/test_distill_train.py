"""train: golden loss, prompt masking, exact resume, torchrun DDP, and bad input."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import save_tiny_with_tokenizer
from test_distill_data import fake_data

from trtllm_redrafter.cli import main
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig, init_drafter
from trtllm_redrafter.training.batches import SparseTarget, load_corpus
from trtllm_redrafter.training.checkpoint import changed_settings
from trtllm_redrafter.training.corpus import DistillSettings, build_corpus
from trtllm_redrafter.training.fingerprint import model_fingerprint
from trtllm_redrafter.training.loss import Unroll, drafter_loss, target_to_draft
from trtllm_redrafter.training.settings import TrainSettings
from trtllm_redrafter.training.split import held_out_mask
from trtllm_redrafter.training.train import load_data, train


def uniform_drafter(vocab: int, hidden: int) -> Drafter:
    d = init_drafter(DrafterConfig(vocab, hidden, exit_dim=hidden * 2), seed=0)
    with torch.no_grad():
        d.lm_head[-1].weight.zero_()  # logits all 0: q is uniform
    return d


def test_golden_loss_value():
    """q uniform over V=4, p = [1/2, 1/4, 1/8, 1/8] everywhere: KL = log 4 - H(p) = ln(2)/4."""
    b, t, h, v = 2, 7, 3, 4
    p = torch.tensor([0.5, 0.25, 0.125, 0.125]).log().expand(b, t, v).clone()
    ids = torch.randint(0, v, (b, t))
    unroll = Unroll(uniform_drafter(v, h), 3)

    def loss(ce_weight: float) -> float:
        lengths, prompt_lens = torch.tensor([7, 6]), torch.tensor([2, 3])
        embed, hidden = torch.nn.Embedding(v, h), torch.randn(b, t, h)
        return drafter_loss(unroll, embed, hidden, p, ids, lengths, prompt_lens, 3, ce_weight).loss.item()

    assert loss(0.0) == pytest.approx(math.log(2) / 4, abs=1e-6)
    assert loss(1.0) == pytest.approx(math.log(2) / 4 + math.log(4), abs=1e-6)


def naive_loss(drafter, embed, hidden, logp, ids, lengths, plens, n):
    """Per-position loop: the formula of the module docstring, written out."""
    total, count = 0.0, 0
    for b in range(ids.shape[0]):
        for i in range(int(plens[b]) - 1, int(lengths[b])):
            state = None
            for k in range(1, n + 1):
                if i + k + 1 >= int(lengths[b]):
                    break
                state = drafter.next_state(state, embed(ids[b, i + k]))
                q = torch.log_softmax(drafter(hidden[b, i], state).float(), -1)
                p = logp[b, i + k]
                total += float((p.exp() * (p - q)).sum().detach())
                count += 1
    return total / count


def test_vectorised_loss_equals_the_naive_loop():
    torch.manual_seed(0)
    b, t, h, v, n = 2, 9, 4, 11, 3
    drafter = init_drafter(DrafterConfig(v, h, exit_dim=6, num_draft_layers=2), seed=1)
    embed = torch.nn.Embedding(v, h)
    hidden = torch.randn(b, t, h)
    logp = torch.log_softmax(torch.randn(b, t, v), -1)
    ids = torch.randint(0, v, (b, t))
    lengths, plens = torch.tensor([9, 6]), torch.tensor([3, 1])
    res = drafter_loss(Unroll(drafter, n), embed, hidden, logp, ids, lengths, plens, n)
    assert res.loss.item() == pytest.approx(naive_loss(drafter, embed, hidden, logp, ids, lengths, plens, n), rel=1e-5)
    # a training step skips the agreement metrics; its loss terms are the same numbers
    fast = drafter_loss(Unroll(drafter, n), embed, hidden, logp, ids, lengths, plens, n, ce_weight=0.5, metrics=False)
    full = drafter_loss(Unroll(drafter, n), embed, hidden, logp, ids, lengths, plens, n, ce_weight=0.5)
    assert fast.top1 is None and full.top1 is not None and torch.equal(fast.count, full.count)
    assert [float(x.detach()) for x in (fast.loss, fast.kl, fast.ce)] == [
        float(x.detach()) for x in (full.loss, full.kl, full.ce)
    ]


def test_a_position_with_no_draftable_token_has_finite_gradients():
    """Top-K features where one position's whole top K lies outside the draft vocabulary V' (seen
    in the real corpus: 2 of 960k positions): it adds no loss and, above all, no NaN gradient."""
    torch.manual_seed(0)
    b, t, h, v, k, n = 1, 8, 4, 10, 3, 2
    draft_vocab = torch.tensor([0, 1, 2, 3, 4, 5])  # V' = 6 of V = 10
    drafter = init_drafter(DrafterConfig(v, h, exit_dim=6, draft_vocab_size=6), seed=1)
    embed = torch.nn.Embedding(v, h)
    ids = torch.randint(0, 6, (b, t))
    p_ids = torch.randint(0, 6, (b, t, k))
    p_ids[0, 4] = torch.tensor([7, 8, 9])  # nothing draftable at position 4
    logp = torch.log_softmax(torch.randn(b, t, k), -1)
    args = (embed, torch.randn(b, t, h), SparseTarget(p_ids, logp), ids, torch.tensor([t]), torch.tensor([1]), n)
    res = drafter_loss(Unroll(drafter, n), *args, t2d=target_to_draft(draft_vocab, v))
    res.loss.backward()
    assert math.isfinite(res.loss.item()) and res.loss.item() > 0
    assert all(torch.isfinite(p.grad).all() for p in drafter.parameters() if p.grad is not None)


def test_prompt_tokens_are_not_trained_on():
    torch.manual_seed(0)
    b, t, h, v, n = 1, 10, 4, 7, 2
    drafter = init_drafter(DrafterConfig(v, h, exit_dim=8), seed=2)
    embed = torch.nn.Embedding(v, h)
    hidden = torch.randn(b, t, h)
    logp = torch.log_softmax(torch.randn(b, t, v), -1)
    ids = torch.randint(0, v, (b, t))
    lengths, plens = torch.tensor([10]), torch.tensor([4])
    res = drafter_loss(Unroll(drafter, n), embed, hidden, logp, ids, lengths, plens, n)
    # positions i >= P-1 = 3 with i + k + 1 < 10: k=1 -> i in 3..7 (5), k=2 -> i in 3..6 (4)
    assert res.count.tolist() == [5, 4]
    # the target's distributions over prompt tokens (predicting positions < P) do not matter
    changed = logp.clone()
    changed[:, :4] = torch.log_softmax(torch.randn(b, 4, v), -1)
    res2 = drafter_loss(Unroll(drafter, n), embed, hidden, changed, ids, lengths, plens, n)
    assert res2.loss.item() == pytest.approx(res.loss.item(), abs=1e-7)
    changed[:, 6] = torch.log_softmax(torch.randn(b, v), -1)  # a response position does
    res3 = drafter_loss(Unroll(drafter, n), embed, hidden, changed, ids, lengths, plens, n)
    assert res3.loss.item() != pytest.approx(res.loss.item(), abs=1e-4)


@pytest.fixture(scope="module")
def corpus(tiny_smol, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    data = fake_data(root / "data")
    settings = DistillSettings(
        model=str(tiny_smol), temperatures=(1.0,), max_new_tokens=12, batch_size=4, samples_per_prompt=3
    )
    build_corpus(settings, root / "c", data)
    return root / "c"


def settings_for(tiny_smol, corpus, out, **kw) -> TrainSettings:
    base = dict(
        model=str(tiny_smol),
        data=str(corpus),
        out=str(out),
        steps=4,
        warmup=1,
        tokens_per_batch=64,
        max_len=64,
        num_steps=2,
        eval_every=2,
        eval_batches=1,
        eval_every_nth_sample=5,
        save_every=2,
        lr=3e-3,
    )
    return TrainSettings(**{**base, **kw})


def split_prompts(samples: list, mask: list[bool]) -> tuple[set, set]:
    """(held-out prompts, trained-on prompts) of a held-out mask."""
    held = {tuple(s.tokens[: s.prompt_len]) for s, h in zip(samples, mask) if h}
    return held, {tuple(s.tokens[: s.prompt_len]) for s, h in zip(samples, mask) if not h}


def test_prompt_split_never_trains_on_a_held_out_prompt(tiny_smol, corpus, tmp_path):
    """The corpus has 3 samples a prompt. The job split holds out samples whose prompt it trains on
    in another sample; the prompt split holds out whole prompts, and ``train`` uses it."""
    samples = load_corpus(corpus, model_fingerprint(tiny_smol), 1 << 30)
    origin = {id(s): 0 for s in samples}
    held, trained = split_prompts(samples, held_out_mask("job", 5, samples, origin, [corpus]))
    assert held & trained
    mask = held_out_mask("prompt", 5, samples, origin, [corpus])
    held, trained = split_prompts(samples, mask)
    assert held and trained and not held & trained
    assert sum(mask) == 3 * len(held)  # every sample of a held-out prompt, not one of them
    data = load_data(settings_for(tiny_smol, corpus, tmp_path / "run", heldout_by="prompt"), 1)
    assert data.counts["eval_samples"] == sum(mask)
    in_training = {tuple(s.tokens[: s.prompt_len]) for b in data.train_batches for s in b}
    assert not in_training & held


def test_a_checkpoint_from_before_heldout_by_resumes_with_the_job_split(tiny_smol, corpus, tmp_path):
    now = settings_for(tiny_smol, corpus, tmp_path / "run")
    saved = {k: v for k, v in vars(now).items() if k != "heldout_by"}
    assert changed_settings(saved, now) == []
    assert changed_settings(saved, settings_for(tiny_smol, corpus, tmp_path / "run", heldout_by="prompt")) == [
        "heldout_by"
    ]
    for bad in ({"heldout_by": "sample"}, {"eval_every_nth_sample": 1}):
        with pytest.raises(RedrafterError, match=next(iter(bad))):
            settings_for(tiny_smol, corpus, tmp_path / "run", **bad).validate()


def test_training_reduces_loss_and_logs(tiny_smol, corpus, tmp_path):
    out = tmp_path / "run"
    result = train(settings_for(tiny_smol, corpus, out, steps=12, eval_every=12, save_every=12))
    losses = [r["loss"] for r in result["history"]]
    assert losses[-1] < losses[0]
    assert (out / "log.csv").is_file() and (out / "loss.png").is_file()
    assert "eval_tokens_per_step_est" in result["history"][-1]
    drafter_dir = out / "checkpoint" / "drafter"
    assert json.loads((drafter_dir / "config.json").read_text())["lm_head_from_target"] is True


def test_resume_is_exact(tiny_smol, corpus, tmp_path):
    full = tmp_path / "full"
    train(settings_for(tiny_smol, corpus, full))
    part = tmp_path / "part"
    train(settings_for(tiny_smol, corpus, part), stop_after=2)  # "killed" after the step-2 checkpoint
    train(settings_for(tiny_smol, corpus, part), resume=True)
    a = Drafter.load(full / "checkpoint" / "drafter", target_head=torch.zeros(49152, 32))
    b = Drafter.load(part / "checkpoint" / "drafter", target_head=torch.zeros(49152, 32))
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k
    ha = json.loads((full / "history.json").read_text())
    hb = json.loads((part / "history.json").read_text())
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]


def test_warm_start_continues_from_the_init_drafter(tiny_smol, corpus, tmp_path):
    first = tmp_path / "first"
    kw = dict(draft_vocab_size=40, lm_head_from_target=False)
    train(settings_for(tiny_smol, corpus, first, **kw))
    init_dir = first / "checkpoint" / "drafter"
    init = Drafter.load(init_dir)
    # zero steps would be a copy; one step at a tiny lr must stay next to the init and keep its V'
    warm = tmp_path / "warm"
    train(settings_for(tiny_smol, corpus, warm, steps=1, lr=1e-6, init_drafter=str(init_dir), **kw))
    got = Drafter.load(warm / "checkpoint" / "drafter")
    assert torch.equal(got.draft_vocab, init.draft_vocab)
    for (k, x), (_, y) in zip(init.state_dict().items(), got.state_dict().items()):
        assert torch.allclose(x, y, atol=1e-4), k
    cold = tmp_path / "cold"
    train(settings_for(tiny_smol, corpus, cold, steps=1, lr=1e-6, **kw))
    fresh = Drafter.load(cold / "checkpoint" / "drafter")
    assert not torch.allclose(fresh.lm_head[0].linear.weight, got.lm_head[0].linear.weight, atol=1e-3)
    # an architecture that does not match is refused with the differing fields named
    with pytest.raises(RedrafterError, match="num_draft_layers"):
        train(settings_for(tiny_smol, corpus, tmp_path / "bad", init_drafter=str(init_dir), num_draft_layers=2, **kw))


def test_warm_start_grows_the_draft_vocabulary(tiny_smol, corpus, tmp_path):
    """--init-drafter with a larger --draft-vocab-size: the old tokens keep their trained head rows,
    the new ones start as the target's rows (scaled), every other weight is the warm start's; shrinking is refused."""
    from trtllm_redrafter.models import load_target_model
    from trtllm_redrafter.training.drafter_init import GROWN_ROW_SCALE

    first = tmp_path / "first"
    train(settings_for(tiny_smol, corpus, first, draft_vocab_size=40, lm_head_from_target=False))
    init_dir = first / "checkpoint" / "drafter"
    init = Drafter.load(init_dir)
    grown_dir = tmp_path / "grown"
    kw = dict(lm_head_from_target=False, init_drafter=str(init_dir))
    train(settings_for(tiny_smol, corpus, grown_dir, steps=1, lr=1e-9, draft_vocab_size=60, **kw))
    got = Drafter.load(grown_dir / "checkpoint" / "drafter")
    vocab = got.draft_vocab.tolist()
    assert got.config.draft_vocab_size == 60 and set(init.draft_vocab.tolist()) < set(vocab) and vocab == sorted(vocab)
    at = torch.searchsorted(got.draft_vocab, init.draft_vocab)
    head_new, head_old = got.lm_head[-1].weight, init.lm_head[-1].weight
    assert torch.allclose(head_new[at], head_old, atol=1e-6)
    new = torch.ones(60, dtype=torch.bool)
    new[at] = False
    target_head = load_target_model(tiny_smol, torch.bfloat16)[0].get_output_embeddings().weight.float()
    assert torch.allclose(head_new[new], GROWN_ROW_SCALE * target_head[got.draft_vocab[new].long()], atol=1e-6)
    assert torch.allclose(got.lm_head[0].linear.weight, init.lm_head[0].linear.weight, atol=1e-6)
    with pytest.raises(Exception, match="does not match the settings"):
        train(settings_for(tiny_smol, corpus, tmp_path / "shrunk", steps=1, draft_vocab_size=20, **kw))


def test_torchrun_two_processes_match_one_process_with_accumulation(tiny_smol, corpus, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch"
    args = [
        "train",
        "--model",
        str(tiny_smol),
        "--data",
        str(corpus),
        "--steps",
        "2",
        "--warmup",
        "1",
        "--tokens-per-batch",
        "64",
        "--max-len",
        "64",
        "--num-steps",
        "2",
        "--eval-every",
        "2",
        "--eval-batches",
        "1",
        "--eval-every-nth-sample",
        "5",
        "--save-every",
        "2",
        "--lr",
        "3e-3",
    ]
    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [torchrun, "--nproc_per_node=2", "--master_port=29533", "-m", "trtllm_redrafter.cli", *args, "--out", str(ddp)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = tmp_path / "single"
    assert main([*args, "--out", str(single), "--grad-accum", "2"]) == 0
    a = Drafter.load(ddp / "checkpoint" / "drafter", target_head=torch.zeros(49152, 32))
    b = Drafter.load(single / "checkpoint" / "drafter", target_head=torch.zeros(49152, 32))
    init = tmp_path / "init"
    assert main([*args, "--out", str(init), "--grad-accum", "2", "--steps", "1", "--lr", "1e-12"]) == 0
    c = Drafter.load(init / "checkpoint" / "drafter", target_head=torch.zeros(49152, 32))
    for (k, x), (_, y), (_, z) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        # Adam's first steps move every weight by about lr; summation-order rounding can flip the
        # sign of a near-zero gradient, so allow a few such elements, but no systematic difference
        # (a rank stepping on its own gradient would differ almost everywhere)
        moved = (y - z).abs() > 1e-4
        differ = (x - y).abs() > 1e-4
        assert moved.float().mean() > 0.5, k
        assert differ.float().mean() < 0.02, (k, differ.float().mean())


def test_refuses_bad_input(smol_dir, tiny_smol, corpus, tmp_path, capsys):
    def run(**kw):
        argv = [
            "train",
            "--model",
            str(kw.get("model", tiny_smol)),
            "--data",
            str(kw.get("data", corpus)),
            "--out",
            str(kw.get("out", tmp_path / "o")),
            "--steps",
            "1",
        ]
        code = main(argv)
        return code, capsys.readouterr().err

    code, err = run(data=tmp_path / "missing")
    assert code == 2 and "not found" in err
    other = save_tiny_with_tokenizer(smol_dir, tmp_path / "other", seed=5)
    code, err = run(model=other)
    assert code == 2 and "built for another target" in err
    broken = tmp_path / "broken"
    shutil.copytree(corpus, broken)
    shard = broken / "shards" / "shard-00000.safetensors"
    shard.write_bytes(shard.read_bytes()[:-10])
    code, err = run(data=broken)
    assert code == 2 and "corrupt" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run(out=blocker / "sub")
    assert code == 2 and "cannot write to output directory" in err
