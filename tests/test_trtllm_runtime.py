"""The TensorRT-LLM runtime adapter's CPU-testable parts (docs/trtllm.md, defects 3, 4 and 5).

``engine_decode_config`` (the engine fixes nb, draft length and greedy-or-sampling),
``executor_requests`` (what each request asks the executor for) and ``stream_requests`` (steps from
the executor's decoding-iteration count) run here on stand-ins for the executor and its bindings.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.runtime.decode import DecodeConfig
from trtllm_redrafter.trtllm.runtime import engine_decode_config, executor_requests, stream_requests

GREEDY_8x4 = {"redrafter_num_beams": 8, "redrafter_draft_len_per_beam": 4, "redrafter_greedy_search": True}
SAMPLING_8x4 = {**GREEDY_8x4, "redrafter_greedy_search": False}


def test_the_engine_shape_is_the_default():
    """`run --backend trtllm` with the CLI defaults (2 x 2) runs a default-built 8 x 4 engine."""
    cfg = engine_decode_config(GREEDY_8x4, DecodeConfig())
    assert (cfg.num_beams, cfg.draft_len) == (8, 4)
    assert engine_decode_config(GREEDY_8x4, DecodeConfig(num_beams=8), frozenset({"num_beams"})).num_beams == 8


def test_a_given_shape_must_match():
    with pytest.raises(RedrafterError, match="built for nb=8, draft_len=4; asked for num_beams=2"):
        engine_decode_config(GREEDY_8x4, DecodeConfig(num_beams=2), frozenset({"num_beams"}))


def test_temperature_rules():
    with pytest.raises(RedrafterError, match="this engine is greedy"):
        engine_decode_config(GREEDY_8x4, DecodeConfig(temperature=0.7))
    with pytest.raises(RedrafterError, match=r"this engine samples .*--temperature > 0"):
        engine_decode_config(SAMPLING_8x4, DecodeConfig(temperature=0.0))
    with pytest.raises(RedrafterError, match="temperature only"):
        engine_decode_config(SAMPLING_8x4, DecodeConfig(temperature=0.7, top_k=5))
    assert engine_decode_config(SAMPLING_8x4, DecodeConfig(temperature=0.7)).temperature == 0.7


@pytest.fixture
def fake_bindings(monkeypatch):
    """tensorrt_llm.bindings.executor with Request and SamplingConfig that record their arguments."""
    executor = types.ModuleType("tensorrt_llm.bindings.executor")
    executor.SamplingConfig = lambda **kw: ("SamplingConfig", kw)
    executor.Request = lambda **kw: kw
    bindings = types.ModuleType("tensorrt_llm.bindings")
    bindings.executor = executor
    monkeypatch.setitem(sys.modules, "tensorrt_llm", types.ModuleType("tensorrt_llm"))
    monkeypatch.setitem(sys.modules, "tensorrt_llm.bindings", bindings)
    monkeypatch.setitem(sys.modules, "tensorrt_llm.bindings.executor", executor)


def test_a_sampling_engine_gets_its_temperature(fake_bindings):
    """Defect 4: the temperature and seed go into every request's SamplingConfig explicitly."""
    cfg = engine_decode_config(SAMPLING_8x4, DecodeConfig(temperature=0.7, seed=3, max_new_tokens=9))
    (req,) = executor_requests([[1, 2, 3]], cfg, end_id=2, pad_id=0, sampling=True)
    assert req["sampling_config"] == ("SamplingConfig", {"beam_width": 1, "temperature": 0.7, "seed": 3})
    assert (req["input_token_ids"], req["max_tokens"], req["end_id"], req["streaming"]) == ([1, 2, 3], 9, 2, True)
    (greedy,) = executor_requests([[1]], engine_decode_config(GREEDY_8x4, DecodeConfig()), 2, 0, sampling=False)
    assert greedy["sampling_config"] == ("SamplingConfig", {"beam_width": 1})


@dataclass
class FakeResult:
    output_token_ids: list
    decoding_iter: int
    is_final: bool


@dataclass
class FakeResponse:
    request_id: int
    result: FakeResult
    error_msg: str = ""

    def has_error(self) -> bool:
        return bool(self.error_msg)


class FakeExecutor:
    """Replays batches of responses, as Executor.await_responses returns them."""

    def __init__(self, batches: list[list[FakeResponse]]) -> None:
        self.batches = batches

    def enqueue_requests(self, requests: list) -> list[int]:
        return [10 + i for i in range(len(requests))]

    def await_responses(self) -> list[FakeResponse]:
        return self.batches.pop(0)


def response(rid: int, tokens: list[int], iteration: int, final: bool = False) -> FakeResponse:
    return FakeResponse(rid, FakeResult([tokens], iteration, final))


def test_steps_come_from_the_decoding_iteration_count():
    """Defect 5: request 10's third response covers two verify steps (iterations 3 and 4).

    Its 1 + 3 + 5 tokens took the context step and 3 verify steps: 8 / 3 tokens per step (one
    step per response would say 8 / 2). Request 11 finishes in its first response (context step).
    """
    batches = [
        [response(10, [5], 1), response(11, [7], 1, final=True)],
        [response(10, [6, 6, 6], 2)],
        [response(10, [9, 9, 9, 9, 9], 4, final=True)],
    ]
    long, short = stream_requests(FakeExecutor(batches), [None, None], start=0.0)
    assert long.tokens == [5, 6, 6, 6, 9, 9, 9, 9, 9] and long.final
    assert long.row.steps == 3 and sum(long.row.accepted) == 8
    assert (short.tokens, short.row.steps, short.row.accepted) == ([7], 0, [])


def test_a_runtime_error_is_one_clear_error():
    batches = [[FakeResponse(10, FakeResult([[]], 0, False), error_msg="out of KV cache blocks")]]
    with pytest.raises(RedrafterError, match="the TensorRT-LLM runtime failed: out of KV cache blocks"):
        stream_requests(FakeExecutor(batches), [None], start=0.0)


def test_cli_beam_shape_is_given_only_when_typed():
    from trtllm_redrafter.cli import build_parser
    from trtllm_redrafter.cli.common import beam_shape_given, decode_config

    parser = build_parser()
    args = parser.parse_args(["run", "hi", "--backend", "trtllm", "--engine", "e"])
    assert beam_shape_given(args) == frozenset()
    cfg = decode_config(args)
    assert (cfg.num_beams, cfg.draft_len) == (DecodeConfig.num_beams, DecodeConfig.draft_len)
    args = parser.parse_args(["run", "hi", "--num-beams", "8"])
    assert beam_shape_given(args) == frozenset({"num_beams"}) and decode_config(args).num_beams == 8


def test_the_executor_is_found_under_either_name():
    """ModelRunnerCpp keeps its executor as .executor in some releases and .session in others (0.20 era)."""
    from trtllm_redrafter.trtllm.runtime import runner_executor

    executor = types.SimpleNamespace(enqueue_requests=lambda requests: [])
    assert runner_executor(types.SimpleNamespace(executor=executor)) is executor
    assert runner_executor(types.SimpleNamespace(session=executor)) is executor
    assert runner_executor(types.SimpleNamespace(executor=None, session=executor)) is executor
    gpt_session = types.SimpleNamespace(generate=lambda *a: None)  # the pre-executor GptSession: no enqueue
    for runner in (types.SimpleNamespace(), types.SimpleNamespace(session=gpt_session)):
        with pytest.raises(RedrafterError, match="holds no executor"):
            runner_executor(runner)
