"""distill-data: determinism, exact resume, eval-set exclusion, and refusal of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import save_tiny_with_tokenizer
from safetensors.torch import load_file

from trtllm_redrafter.cli import main
from trtllm_redrafter.training.corpus import (
    DistillSettings,
    build_corpus,
    eval_prompts,
    load_training_prompts,
    plan_jobs,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared/data is not beside the repo")


def fake_data(root: Path) -> Path:
    """A small data dir in the shared/data layout, with one prompt that is also an eval prompt."""
    (root / "alpaca").mkdir(parents=True)
    (root / "mt_bench").mkdir()
    (root / "gsm8k").mkdir()
    (root / "sharegpt").mkdir()
    (root / "code_alpaca").mkdir()
    alpaca = [{"instruction": f"Write {i} words about apples.", "input": "", "output": "x"} for i in range(10)]
    alpaca.append({"instruction": "What is  the capital of FRANCE?", "input": "", "output": "Paris"})
    (root / "alpaca" / "a.json").write_text(json.dumps(alpaca))
    (root / "code_alpaca" / "c.json").write_text(json.dumps([{"instruction": "Sort a list.", "input": "[3,1]"}]))
    conv = [
        {"id": "1", "conversations": [{"from": "human", "value": "Tell me a joke."}, {"from": "gpt", "value": "."}]}
    ]
    (root / "sharegpt" / "s.json").write_text(json.dumps(conv))
    (root / "gsm8k" / "train.jsonl").write_text(json.dumps({"question": "What is 2+3?", "answer": "5"}) + "\n")
    (root / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "What is 7+8?", "answer": "15"}) + "\n")
    q = {"question_id": 1, "turns": ["what is the capital of france?", "And Spain?"]}
    (root / "mt_bench" / "question.jsonl").write_text(json.dumps(q) + "\n")
    return root


def settings(model: Path, **kw) -> DistillSettings:
    base = dict(model=str(model), temperatures=(0.0, 1.0), max_new_tokens=6, batch_size=3, max_samples=10)
    return DistillSettings(**{**base, **kw})


def shard_tensors(out: Path) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    return [load_file(str(out / s["file"])) for s in manifest["shards"]]


def test_eval_prompts_are_never_used(tmp_path):
    data = fake_data(tmp_path / "data")
    prompts = [p for _, p in load_training_prompts(data)]
    assert "What is  the capital of FRANCE?" not in prompts  # it is an MT-Bench turn, case/space normalised
    assert len(prompts) == 10 + 1 + 1 + 1
    assert {s for s, _ in load_training_prompts(data)} == {"alpaca", "code_alpaca", "sharegpt", "gsm8k"}


@needs_data
def test_real_training_prompts_do_not_overlap_eval():
    prompts = load_training_prompts(DATA)
    assert len(prompts) > 10_000
    banned = eval_prompts(DATA)
    assert len(banned) > 1000
    assert not any(" ".join(p.lower().split()) in banned for _, p in prompts)


def test_deterministic_and_resume_gives_the_same_shards(tiny_smol, tmp_path):
    data = fake_data(tmp_path / "data")
    full = build_corpus(settings(tiny_smol), tmp_path / "full", data)
    assert full["counts"]["samples"] == 10 and len(full["shards"]) == 4  # 5 per temperature, 3 per shard
    # a job killed after 2 shards, with a half-written third shard left behind, then resumed
    part = tmp_path / "part"
    build_corpus(settings(tiny_smol), part, data, max_shards=2)
    (part / "shards" / "shard-00002.safetensors.tmp").write_bytes(b"half written")
    assert len(json.loads((part / "manifest.json").read_text())["shards"]) == 2
    resumed = build_corpus(settings(tiny_smol), part, data)
    assert resumed["counts"] == full["counts"]
    a, b = shard_tensors(tmp_path / "full"), shard_tensors(part)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].tolist() == y[k].tolist(), k
    # every job appears exactly once: nothing duplicated or lost
    ids = sorted(i for s in b for i in s["job_ids"].tolist())
    assert ids == list(range(10))
    # the stored sequences are prompt + response, and responses are non-empty
    s0 = b[0]
    lens = (s0["offsets"][1:] - s0["offsets"][:-1]).tolist()
    assert all(n > p for n, p in zip(lens, s0["prompt_lens"].tolist()))


def distill_argv(out, model, data, max_samples: int) -> list[str]:
    return [
        "distill-data",
        "--out",
        str(out),
        "--model",
        str(model),
        "--data-dir",
        str(data),
        "--max-samples",
        str(max_samples),
        "--temperatures",
        "0,1",
        "--max-new-tokens",
        "6",
        "--batch-size",
        "3",
    ]


def test_refuses_a_corpus_of_another_target(smol_dir, tiny_smol, tmp_path, capsys):
    data = fake_data(tmp_path / "data")
    build_corpus(settings(tiny_smol, max_samples=3), tmp_path / "c", data)
    other = save_tiny_with_tokenizer(smol_dir, tmp_path / "other", seed=1)
    assert main(distill_argv(tmp_path / "c", other, data, 3)) == 2
    assert "built for another target" in capsys.readouterr().err


def test_refuses_changed_settings(tiny_smol, tmp_path, capsys):
    data = fake_data(tmp_path / "data")
    build_corpus(settings(tiny_smol, max_samples=3), tmp_path / "c", data)
    assert main(distill_argv(tmp_path / "c", tiny_smol, data, 4)) == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data-dir", "/no/such/data"], "data directory /no/such/data not found"),
        (["--temperatures", "hot"], "comma-separated numbers"),
        (["--batch-size", "0"], "batch_size must be >= 1"),
        (["--sources", "alpaca,mt_bench"], "unknown prompt sources"),
        (["--source-weights", "alpaca"], "name=weight pairs"),
        (["--source-weights", "alpaca=x"], "name=weight pairs"),
        (["--source-weights", "gsm8k=1", "--sources", "alpaca"], "name --sources only"),
        (["--source-weights", "alpaca=-1"], "must be >= 0"),
        (["--source-weights", "alpaca=0"], "at least one source weight"),
    ],
)
def test_bad_input(tiny_smol, tmp_path, capsys, extra, message):
    data = fake_data(tmp_path / "data")
    argv = ["distill-data", "--out", str(tmp_path / "o"), "--model", str(tiny_smol), "--data-dir", str(data)]
    code = main(argv + extra)
    assert code == 2 and message in capsys.readouterr().err


def test_unwritable_output(tiny_smol, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = main(
        [
            "distill-data",
            "--out",
            str(blocker / "sub"),
            "--model",
            str(tiny_smol),
            "--data-dir",
            str(fake_data(tmp_path / "data")),
        ]
    )
    assert code == 2 and "cannot write to output directory" in capsys.readouterr().err


def test_original_responses_corpus_pairs_each_prompt_with_its_dataset_answer(tiny_smol, tmp_path, capsys):
    """The CE ablation's corpus: same prompt order as the KD plan, the dataset's own answers."""
    from transformers import AutoTokenizer

    from trtllm_redrafter.training.corpus import build_original_corpus, load_training_pairs

    data = fake_data(tmp_path / "data")
    out = tmp_path / "orig"
    manifest = build_original_corpus(settings(tiny_smol, max_samples=4, max_new_tokens=64), out, data)
    assert manifest["settings"]["responses"] == "original" and manifest["counts"]["samples"] == 4
    tok = AutoTokenizer.from_pretrained(tiny_smol)
    answers = {p: r for _, p, r in load_training_pairs(data)}
    assert "what is the capital of france?" not in {p.lower() for p in answers}  # eval prompt dropped
    for t in shard_tensors(out):
        off, plens = t["offsets"].tolist(), t["prompt_lens"].tolist()
        for j, plen in enumerate(plens):
            seq = t["tokens"][off[j] : off[j + 1]].tolist()
            prompt_text = tok.decode(seq[:plen])
            response = tok.decode(seq[plen:], skip_special_tokens=True)
            matches = [p for p in answers if p in prompt_text]
            assert matches and response == answers[matches[0]]
    assert (
        main(
            [
                "distill-data",
                "--responses",
                "original",
                "--out",
                str(out),
                "--model",
                str(tiny_smol),
                "--data-dir",
                str(data),
            ]
        )
        == 2
    )  # an existing corpus is never overwritten
    assert "already holds" in capsys.readouterr().err


def multi_turn_data(root: Path) -> Path:
    """fake_data plus conversations with later turns: one clean, one whose second user turn is an
    MT-Bench turn (never used), one that does not alternate user / assistant (skipped)."""
    data = fake_data(root)
    turn = lambda who, text: {"from": who, "value": text}  # noqa: E731
    convs = [
        {
            "conversations": [
                turn("human", "Name a fruit."),
                turn("gpt", "Apple."),
                turn("human", "Another?"),
                turn("gpt", "Pear."),
            ]
        },  # fmt: skip
        {"conversations": [turn("human", "Name a country."), turn("gpt", "France."), turn("human", "and  spain?")]},
        {"conversations": [turn("human", "Hi."), turn("human", "Hello?"), turn("gpt", "Hey.")]},
    ]
    (data / "sharegpt" / "t.json").write_text(json.dumps(convs))
    return data


def test_later_turns_come_with_their_history_and_never_with_an_eval_turn(tmp_path):
    data = multi_turn_data(tmp_path / "data")
    turns = [p for s, p in load_training_prompts(data, ("sharegpt_turns",)) if s == "sharegpt_turns"]
    assert turns == [
        [
            {"role": "user", "content": "Name a fruit."},
            {"role": "assistant", "content": "Apple."},
            {"role": "user", "content": "Another?"},
        ]
    ]  # "and spain?" is an MT-Bench turn; "Hello?" follows a user turn
    plain = [p for s, p in load_training_prompts(data) if s == "sharegpt"]
    assert "Another?" in plain and "and  spain?" not in plain  # the old source: every turn alone, eval ones dropped
    assert "sharegpt_turns" not in {s for s, _ in load_training_prompts(data)}  # not in the default set


def test_source_weights_set_the_mix_and_are_deterministic():
    prompts = [("a", f"a{i}") for i in range(300)] + [("b", f"b{i}") for i in range(300)] + [("c", "c0")]

    def plan(**kw) -> list[str]:
        cfg = DistillSettings(model="m", temperatures=(0.0,), batch_size=1000, sources=("a", "b", "c"), **kw)
        return [job.source for shard in plan_jobs(cfg, prompts, lambda text: [1, 2]) for job in shard]

    weighted = plan(source_weights=(("a", 3.0), ("b", 1.0)), max_samples=200)
    assert weighted == plan(source_weights=(("a", 3.0), ("b", 1.0)), max_samples=200)  # seeded
    assert 130 <= weighted.count("a") <= 170 and "c" not in weighted  # about 3:1; an unweighted source is out
    plain = plan(max_samples=200)
    assert 70 <= plain.count("a") <= 130  # no weights: the plain shuffle, about 1:1


def test_an_unweighted_corpus_keeps_its_manifest_settings(tiny_smol, tmp_path):
    """Corpora planned before source weights existed resume: their settings gain no key."""
    data = fake_data(tmp_path / "data")
    plain = build_corpus(settings(tiny_smol, max_samples=3), tmp_path / "p", data)
    assert "source_weights" not in plain["settings"]
    weighted = build_corpus(settings(tiny_smol, max_samples=3, source_weights=(("alpaca", 1.0),)), tmp_path / "w", data)
    assert weighted["settings"]["source_weights"] == {"alpaca": 1.0}
