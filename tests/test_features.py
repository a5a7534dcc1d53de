"""distill-features and the reduced draft vocabulary: the sparse path equals the dense one."""

from __future__ import annotations

import json

import pytest
import torch
from test_distill_data import fake_data
from test_distill_train import settings_for

from trtllm_redrafter.cli import main
from trtllm_redrafter.models import load_target_model
from trtllm_redrafter.runtime.beam_search import beam_search
from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig, init_drafter
from trtllm_redrafter.training.batches import SparseTarget, batch_inputs, collate, load_corpus, target_outputs
from trtllm_redrafter.training.corpus import DistillSettings, build_corpus
from trtllm_redrafter.training.drafter_init import choose_draft_vocab
from trtllm_redrafter.training.features import build_features, load_features
from trtllm_redrafter.training.fingerprint import model_fingerprint
from trtllm_redrafter.training.loss import Unroll, drafter_loss, target_to_draft
from trtllm_redrafter.training.split import held_out_mask
from trtllm_redrafter.training.train import load_data, train


@pytest.fixture(scope="module")
def corpus_and_features(tiny_smol, tmp_path_factory):
    root = tmp_path_factory.mktemp("feat")
    data = fake_data(root / "data")
    settings = DistillSettings(model=str(tiny_smol), temperatures=(1.0,), max_new_tokens=10, batch_size=4)
    build_corpus(settings, root / "c", data)
    vocab = 49152
    build_features(root / "c", root / "f", str(tiny_smol), topk=vocab, batch_tokens=64)  # K = V: nothing cut
    return root / "c", root / "f"


def test_sparse_features_give_the_dense_loss(tiny_smol, corpus_and_features):
    """Features with K = V reproduce the target-forward path's loss and metrics on every sample."""
    corpus, feats = corpus_and_features
    fp = model_fingerprint(tiny_smol)
    samples = load_corpus(corpus, fp, max_len=512)
    fsamples = load_features(feats, corpus, fp)
    assert [s.job_id for s in samples] == [s.job_id for s in fsamples]
    target, _ = load_target_model(tiny_smol, torch.float32)
    drafter = init_drafter(DrafterConfig(49152, 32, exit_dim=64, num_draft_layers=1), seed=3)
    embed = target.get_input_embeddings()
    for s, f in zip(samples, fsamples):
        assert f.tokens.tolist() == s.tokens[s.prompt_len - 1 :]
        ids, lengths, plens = collate([s], 0)
        hidden, logp = target_outputs(target, ids, lengths)
        dense = drafter_loss(Unroll(drafter, 2), embed, hidden.float(), logp, ids, lengths, plens, 2)
        fh, ft, fids, flen, fpl = batch_inputs(target, [f], 0)
        assert isinstance(ft, SparseTarget)
        sparse = drafter_loss(Unroll(drafter, 2), embed, fh, ft, fids, flen, fpl, 2)
        assert sparse.count.tolist() == dense.count.tolist()
        assert sparse.top1.tolist() == dense.top1.tolist()
        assert sparse.loss.item() == pytest.approx(dense.loss.item(), rel=2e-3)  # bf16 hidden, fp16 logp


def test_features_resume_and_refusals(tiny_smol, corpus_and_features, tmp_path, capsys):
    corpus, _ = corpus_and_features
    out = tmp_path / "f"
    build_features(corpus, out, str(tiny_smol), topk=8, batch_tokens=64, max_shards=1)
    first = json.loads((out / "manifest.json").read_text())
    assert len(first["shards"]) == 1
    full = build_features(corpus, out, str(tiny_smol), topk=8, batch_tokens=64)  # resumes
    assert full["shards"][0] == first["shards"][0]
    assert len(full["shards"]) == len(json.loads((corpus / "manifest.json").read_text())["shards"])
    assert 0 < full["mean_topk_mass"] <= 1.0 + 1e-3
    # other settings in the same directory, and a missing corpus, are refused
    argv = ["distill-features", "--data", str(corpus), "--out", str(out), "--model", str(tiny_smol), "--topk", "4"]
    assert main(argv) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["distill-features", "--data", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


def test_choose_draft_vocab_takes_the_most_frequent():
    responses = [torch.tensor([5, 5, 5, 2, 2, 9]), torch.tensor([2, 7])]
    assert choose_draft_vocab(responses, 2, 10).tolist() == [2, 5]
    assert choose_draft_vocab(responses, 3, 10).tolist() == [2, 5, 7]  # 7 and 9 tie: the lower id wins
    t2d = target_to_draft(torch.tensor([2, 5, 9]), 10)
    assert t2d.tolist() == [-1, -1, 0, -1, -1, 1, -1, -1, -1, 2]


class MaskedFull(torch.nn.Module):
    """A full-vocabulary drafter whose logits outside the draft vocabulary are -inf."""

    def __init__(self, full: Drafter, draft_vocab: torch.Tensor) -> None:
        super().__init__()
        self.full, self.keep = full, torch.zeros(full.config.vocab_size, dtype=torch.bool)
        self.keep[draft_vocab.long()] = True

    def next_state(self, state, emb):
        return self.full.next_state(state, emb)

    def forward(self, hidden, state):
        return self.full(hidden, state).masked_fill(~self.keep, float("-inf"))

    def to_target_ids(self, ids):
        return ids


@pytest.mark.parametrize("rnn_formula", ["apple", "trtllm"])
def test_reduced_vocab_beam_search_equals_the_masked_full_vocab(rnn_formula):
    v, h, vp = 50, 8, 12
    full = init_drafter(DrafterConfig(v, h, exit_dim=16, num_draft_layers=2, rnn_formula=rnn_formula), seed=1)
    small = init_drafter(
        DrafterConfig(v, h, exit_dim=16, num_draft_layers=2, rnn_formula=rnn_formula, draft_vocab_size=vp), seed=2
    )
    state = {k: t for k, t in full.state_dict().items()}
    state["lm_head.2.weight"] = state["lm_head.2.weight"][small.draft_vocab.long()]
    state["draft_vocab"] = small.draft_vocab
    small.load_state_dict(state)
    embed = torch.nn.Embedding(v, h)
    hidden, root = torch.randn(3, h), torch.randint(0, v, (3,))
    a = beam_search(small, embed, hidden, root, 4, 3)
    b = beam_search(MaskedFull(full, small.draft_vocab), embed, hidden, root, 4, 3)
    assert torch.equal(a.draft_tokens, b.draft_tokens)
    assert torch.allclose(a.scores, b.scores, atol=1e-5)
    assert torch.isin(a.draft_tokens[:, :, 1:], small.draft_vocab.long()).all()


def test_reduced_vocab_drafter_round_trip_and_corrupt_table(tmp_path):
    d = init_drafter(DrafterConfig(40, 8, exit_dim=16, draft_vocab_size=10), seed=0)
    d.save(tmp_path / "d")
    back = Drafter.load(tmp_path / "d")
    assert torch.equal(back.draft_vocab, d.draft_vocab)
    assert back.lm_head[-1].weight.shape == (10, 16)
    bad = init_drafter(DrafterConfig(40, 8, exit_dim=16, draft_vocab_size=10), seed=0)
    bad.draft_vocab[1] = bad.draft_vocab[0]  # a duplicate id
    bad.save(tmp_path / "bad")
    with pytest.raises(Exception, match="distinct token ids"):
        Drafter.load(tmp_path / "bad")


def test_training_on_features_with_a_draft_vocab_resumes_exactly(tiny_smol, corpus_and_features, tmp_path):
    corpus, feats = corpus_and_features
    kw = dict(features=str(feats), draft_vocab_size=64, lm_head_from_target=False)
    full = tmp_path / "full"
    train(settings_for(tiny_smol, corpus, full, **kw))
    part = tmp_path / "part"
    train(settings_for(tiny_smol, corpus, part, **kw), stop_after=2)
    train(settings_for(tiny_smol, corpus, part, **kw), resume=True)
    a = Drafter.load(full / "checkpoint" / "drafter")
    b = Drafter.load(part / "checkpoint" / "drafter")
    assert a.config.draft_vocab_size == 64 and a.lm_head[-1].weight.shape[0] == 64
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


def test_training_on_two_corpora_reads_both(tiny_smol, corpus_and_features, tmp_path):
    """--data A,B --features FA,FB: one run over both corpora; job ids repeat across them, the digest
    tells the corpora apart, and a features list of the wrong length is refused."""
    import shutil

    corpus, feats = corpus_and_features
    shutil.copytree(corpus, tmp_path / "c2")
    shutil.copytree(feats, tmp_path / "f2")
    one = settings_for(tiny_smol, corpus, tmp_path / "one", features=str(feats))
    both = f"{corpus},{tmp_path / 'c2'}"
    two = settings_for(tiny_smol, both, tmp_path / "two", features=f"{feats},{tmp_path / 'f2'}")
    a, b = load_data(one, 1), load_data(two, 1)
    assert b.counts["train_samples"] == 2 * a.counts["train_samples"] and b.digest != a.digest
    train(two)
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["corpus"]["train_samples"] == b.counts["train_samples"] and len(run["corpus"]["manifest_counts"]) == 2
    bad = settings_for(tiny_smol, both, tmp_path / "bad", features=str(feats))
    with pytest.raises(Exception, match="one per corpus"):
        train(bad)


def test_prompt_split_is_the_same_on_features_and_in_every_corpus(tiny_smol, corpus_and_features, tmp_path):
    """Feature samples carry no prompt: the split looks their prompts up in the corpus by job id.
    A prompt held out in one corpus is held out in every corpus of the run."""
    import shutil

    corpus, feats = corpus_and_features
    on_tokens = load_corpus(corpus, model_fingerprint(tiny_smol), 1 << 30)
    on_feats = load_features(feats, corpus, model_fingerprint(tiny_smol))
    assert [s.job_id for s in on_tokens] == [s.job_id for s in on_feats]
    masks = [held_out_mask("prompt", 3, s, {id(x): 0 for x in s}, [corpus]) for s in (on_tokens, on_feats)]
    assert masks[0] == masks[1] and 0 < sum(masks[0]) < len(masks[0])
    shutil.copytree(corpus, tmp_path / "c2")
    shutil.copytree(feats, tmp_path / "f2")
    two = settings_for(
        tiny_smol,
        f"{corpus},{tmp_path / 'c2'}",
        tmp_path / "two",
        features=f"{feats},{tmp_path / 'f2'}",
        eval_every_nth_sample=3,
        heldout_by="prompt",
    )
    assert load_data(two, 1).counts["eval_samples"] == 2 * sum(masks[0])


def test_eval_drafter_on_a_runs_answers(tiny_smol, tmp_path, capsys):
    """eval-drafter reads a `run --json` file: an oracle-free teacher-forced check on the target's answers."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ("Name a color.", "Count to 3.")))
    cfg = DrafterConfig(49152, 32, exit_dim=32, draft_vocab_size=256)
    init_drafter(cfg, seed=0).save(tmp_path / "d")
    common = ["--prompts-file", str(prompts), "--model", str(tiny_smol), "--dtype", "float32"]
    assert main(["run", *common, "--json", "--max-new-tokens", "8", "--drafter", str(tmp_path / "d")]) == 0
    (tmp_path / "r.jsonl").write_text(capsys.readouterr().out)
    assert main(["eval-drafter", str(tmp_path / "r.jsonl"), *common, "--drafter", str(tmp_path / "d")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 2 and 0.0 <= out["eval_top1_pos1"] <= 1.0 and out["eval_tokens_per_step_est"] >= 1.0
    assert 0.0 <= out["draft_vocab_coverage"] <= 1.0
    assert main(["eval-drafter", str(tmp_path / "nope.jsonl"), *common]) == 2


def test_resume_refuses_training_data_that_changed(tiny_smol, corpus_and_features, tmp_path, capsys):
    """A grown or shrunk corpus would shift every later batch: --resume must refuse, not drift."""
    import shutil

    corpus, feats = corpus_and_features
    feats2 = tmp_path / "f2"
    shutil.copytree(feats, feats2)
    kw = dict(features=str(feats2), draft_vocab_size=64, lm_head_from_target=False)
    out = tmp_path / "run"
    train(settings_for(tiny_smol, corpus, out, **kw), stop_after=2)
    manifest = json.loads((feats2 / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:-1]  # the feature set lost a shard
    (feats2 / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="training data changed"):
        train(settings_for(tiny_smol, corpus, out, **kw), resume=True)


def assert_ids_differ_only_at_ties(a: torch.Tensor, b: torch.Tensor, logp: torch.Tensor, tie: float = 1e-2) -> None:
    """Top-k ids [..., K] of two runs agree except where the sorted log-probs [..., K] nearly tie.

    A rank r may differ when logp[r] is within ``tie`` of rank r - 1 or r + 1; the last rank may
    also differ (its tie partner, rank K + 1, is not stored). The ids must still agree somewhere.
    """
    gap = logp[..., :-1] - logp[..., 1:]  # [..., K-1] >= 0: sorted descending
    near = torch.zeros_like(a, dtype=torch.bool)
    near[..., :-1] |= gap < tie
    near[..., 1:] |= gap < tie
    near[..., -1] = True
    differ = a != b
    assert not (differ & ~near).any(), f"{int((differ & ~near).sum())} ids differ away from a near-tie"
    assert (~differ).float().mean() > 0.95


def test_online_target_gives_the_precomputed_loss(tiny_smol, corpus_and_features, tmp_path):
    """``train --online-target`` computes in the loop what distill-features stores: the same batch
    tensors and the same loss, sample by sample, for a whole padded batch, and over a short run."""
    corpus, _ = corpus_and_features
    feats = tmp_path / "f8"
    build_features(corpus, feats, str(tiny_smol), topk=8, batch_tokens=64)
    fp = model_fingerprint(tiny_smol)
    samples, fsamples = load_corpus(corpus, fp, max_len=512), load_features(feats, corpus, fp)
    target, _ = load_target_model(tiny_smol, torch.bfloat16)  # the dtype distill-features ran it in
    drafter = init_drafter(DrafterConfig(49152, 32, exit_dim=64, num_draft_layers=1), seed=3)
    embed = target.get_input_embeddings()
    pairs = [([s], [f]) for s, f in zip(samples, fsamples)] + [(samples, fsamples)]
    for online_batch, feature_batch in pairs:
        online = batch_inputs(target, online_batch, 0, online_topk=8)
        pre = batch_inputs(target, feature_batch, 0)
        assert online[2].tolist() == pre[2].tolist() and online[3].tolist() == pre[3].tolist()  # ids, lengths
        # a random tiny target's top 8 holds near-ties, so a last-ulp difference may swap two of them:
        # the ids may differ only at a rank whose log-prob nearly ties a neighbouring rank's
        assert torch.allclose(online[1].logp, pre[1].logp, atol=1e-3)
        assert_ids_differ_only_at_ties(online[1].ids, pre[1].ids, online[1].logp)
        # bf16 hidden states: padding may round one ulp, which is at most |x| * 2^-7 (bf16's epsilon)
        assert torch.allclose(online[0].float(), pre[0].float(), atol=1e-2, rtol=2**-7)
        a = drafter_loss(Unroll(drafter, 2), embed, *online, 2)
        b = drafter_loss(Unroll(drafter, 2), embed, *pre, 2)
        assert a.count.tolist() == b.count.tolist()
        # one sample: the same forward; the padded batch: one-ulp bf16 differences (above) move the loss
        assert a.loss.item() == pytest.approx(b.loss.item(), rel=1e-4 if len(online_batch) == 1 else 1e-3)
    kw = dict(max_len=512, steps=3, eval_every=3, save_every=3)
    on = train(settings_for(tiny_smol, corpus, tmp_path / "on", online_target=True, online_topk=8, **kw))
    pre = train(settings_for(tiny_smol, corpus, tmp_path / "pre", features=str(feats), **kw))
    for x, y in zip(on["history"], pre["history"]):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-3), (x, y)
    assert on["history"][-1]["eval_kl"] == pytest.approx(pre["history"][-1]["eval_kl"], rel=1e-3)
