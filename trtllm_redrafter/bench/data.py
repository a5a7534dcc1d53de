"""Benchmark prompts: Spec-Bench and MT-Bench as a trtllm-bench request dataset (JSONL).

``prepare-dataset`` writes one request per line in the format ``trtllm-bench`` reads
(``task_id``, ``prompt`` and/or ``input_ids``, ``output_tokens``), plus fields of ours that
trtllm-bench ignores::

    {"task_id": 0, "task": "mt_bench", "category": "writing", "question_id": 81,
     "prompt": "Compose an engaging ...", "input_ids": [1, 9690, ...], "output_tokens": 128,
     "model": "smollm2-135m-instruct"}

``input_ids`` is the prompt after the model's chat template (``api.encode_prompt``); ``model``
names the tokenizer that made them, so ``bench`` re-encodes ``prompt`` for any other model.

Sources (``shared/data``): ``spec_bench/question.jsonl`` (6 tasks x 80 questions; its ids 81-160 are
the MT-Bench questions, stored under their 8 original categories) and ``mt_bench/question.jsonl``
(the same 80 questions); only first turns are used. ``--limit N`` keeps, per task, the N questions
with the smallest ids, so a dataset is the same on every machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.files import read_jsonl

TASKS = ("mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag")
MT_BENCH_CATEGORIES = frozenset(
    {"writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"}
)
SOURCES = ("spec_bench/question.jsonl", "mt_bench/question.jsonl")


@dataclass(frozen=True)
class Question:
    question_id: int
    task: str  # one of TASKS
    category: str  # the category field of the source file
    prompt: str  # the first turn


@dataclass(frozen=True)
class BenchRequest:
    """One line of a benchmark dataset."""

    task_id: int
    output_tokens: int
    prompt: str | None = None
    input_ids: tuple[int, ...] | None = None
    task: str = "all"
    question_id: int | None = None
    model: str | None = None  # tokenizer the input_ids were made with


def spec_bench_task(category: str) -> str | None:
    """The Spec-Bench task of a question category (MT-Bench's 8 categories are one task)."""
    if category in TASKS:
        return category
    return "mt_bench" if category in MT_BENCH_CATEGORIES else None


def parse_tasks(text: str | None) -> tuple[str, ...]:
    if not text:
        return TASKS
    tasks = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        named = ", ".join(unknown) if unknown else repr(text)
        raise RedrafterError(f"unknown task(s) {named}; choose from {', '.join(TASKS)}")
    return tasks


def load_questions(data_dir: Path) -> list[Question]:
    """Every first-turn question of Spec-Bench and MT-Bench, one per question id, sorted by id."""
    found = [data_dir / s for s in SOURCES if (data_dir / s).is_file()]
    if not found:
        raise RedrafterError(f"no benchmark questions under {data_dir} (looked for {' and '.join(SOURCES)})")
    questions: dict[int, Question] = {}
    for path in found:  # Spec-Bench first: MT-Bench's copy of ids 81-160 adds nothing when both are there
        for n, obj in read_jsonl(path):
            qid, category, turns = obj.get("question_id"), obj.get("category"), obj.get("turns")
            if not isinstance(qid, int) or not isinstance(turns, list) or not turns or not isinstance(turns[0], str):
                raise RedrafterError(f"{path}:{n}: expected question_id (int) and turns (list of strings)")
            task = spec_bench_task(str(category))
            if task is None:
                raise RedrafterError(f"{path}:{n}: unknown category {category!r}")
            questions.setdefault(qid, Question(qid, task, str(category), turns[0]))
    return [questions[qid] for qid in sorted(questions)]


def select_questions(questions: list[Question], tasks: tuple[str, ...], limit: int | None) -> list[Question]:
    """Per task (in ``tasks`` order), the first ``limit`` questions by id."""
    if limit is not None and limit <= 0:
        raise RedrafterError(f"--limit must be >= 1, got {limit}")
    chosen: list[Question] = []
    for task in tasks:
        of_task = sorted((q for q in questions if q.task == task), key=lambda q: q.question_id)
        chosen.extend(of_task[:limit] if limit is not None else of_task)
    if not chosen:
        raise RedrafterError(f"no questions for the task(s) {', '.join(tasks)}")
    return chosen


def prepare_dataset(
    data_dir: Path,
    out: Path,
    model: str,
    tasks: tuple[str, ...] = TASKS,
    limit: int | None = None,
    output_tokens: int = 128,
) -> dict:
    """Write the dataset JSONL; return counts per task."""
    from transformers import AutoTokenizer

    from trtllm_redrafter.api import encode_prompt
    from trtllm_redrafter.models import resolve_model

    if output_tokens <= 0:
        raise RedrafterError(f"--output-tokens must be >= 1, got {output_tokens}")
    questions = select_questions(load_questions(data_dir), tasks, limit)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))
    lines = []
    for task_id, q in enumerate(questions):
        request = {
            "task_id": task_id,
            "task": q.task,
            "category": q.category,
            "question_id": q.question_id,
            "prompt": q.prompt,
            "input_ids": encode_prompt(tokenizer, q.prompt),
            "output_tokens": output_tokens,
            "model": model,
        }
        lines.append(json.dumps(request, ensure_ascii=False))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise RedrafterError(f"cannot write {out}: {exc}") from exc
    counts: dict[str, int] = {}
    for q in questions:
        counts[q.task] = counts.get(q.task, 0) + 1
    return {"out": str(out), "requests": len(questions), "per_task": counts}


def read_dataset(path: Path) -> list[BenchRequest]:
    """Read a trtllm-bench style dataset JSONL (ours, or any with prompt / input_ids per line)."""
    if not path.is_file():
        raise RedrafterError(f"dataset {path} not found (make one with `trtllm-redrafter prepare-dataset`)")
    requests: list[BenchRequest] = []
    for n, obj in read_jsonl(path):
        prompt, ids, tokens = obj.get("prompt"), obj.get("input_ids", obj.get("logits")), obj.get("output_tokens")
        if not isinstance(obj.get("task_id"), int) or not isinstance(tokens, int):
            raise RedrafterError(f"{path}:{n}: each request needs task_id (int) and output_tokens (int)")
        if not (isinstance(prompt, str) and prompt.strip()) and not (isinstance(ids, list) and ids):
            raise RedrafterError(f"{path}:{n}: request {obj['task_id']} has neither a prompt nor input_ids")
        if ids is not None and not all(isinstance(t, int) and t >= 0 for t in ids):
            raise RedrafterError(f"{path}:{n}: input_ids must be non-negative integers")
        requests.append(
            BenchRequest(
                task_id=obj["task_id"],
                output_tokens=tokens,
                prompt=prompt if isinstance(prompt, str) else None,
                input_ids=tuple(ids) if ids else None,
                task=str(obj.get("task") or obj.get("category") or "all"),
                question_id=obj.get("question_id"),
                model=obj.get("model"),
            )
        )
    if not requests:
        raise RedrafterError(f"dataset {path} holds no requests")
    if len({r.task_id for r in requests}) != len(requests):
        raise RedrafterError(f"dataset {path}: task_id values must be unique")
    return requests
