"""docker/bringup.sh and the container scripts' first check, on CPU with stand-in commands.

The stand-ins (one bash shim installed as ``python3``, ``nvidia-smi``, ``trtllm-build``,
``trtllm-redrafter`` and ``cmake``) log every call to a file and fail on purpose when their
command line contains ``$SHIM_FAIL``. The script's python is ``$PYTHON``, pointed at the shim.
The fake ``examples/redrafter/convert_checkpoint.py`` holds its own ``--help`` text (the shim
prints it), with or without ``--base_model_checkpoint_dir``: the two converter eras, >= 1.0
(the pinned 1.2.1) and <= 0.21 (0.20.0). This checks the script's control flow (stages,
stopping, reports, the stock sequence per era), not TensorRT-LLM.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BRINGUP = REPO / "docker" / "bringup.sh"
NAMES = [
    "environment",
    "stock TensorRT-LLM ReDrafter (control)",
    "our greedy engine",
    "our sampling engine",
    "plugins alone",
]
SHIM = r"""#!/usr/bin/env bash
name=${0##*/}
line="$name $*"
if [[ -n ${TRTLLM_DISABLE_UNIFIED_CONVERTER+set} ]]; then line+=" [unified converter disabled]"; fi
printf '%s\n' "$line" >>"$SHIM_LOG"
if [[ -n ${SHIM_FAIL:-} && "$name $*" == *"$SHIM_FAIL"* ]]; then
  for i in $(seq 1 60); do echo "shim log line $i"; done
  echo "shim: $name fails on purpose" >&2
  exit 7
fi
case "$name $*" in
  "python3 -m pip show tensorrt_llm") printf 'Name: tensorrt_llm\nVersion: 9.9.9-fake\n' ;;
  "python3 "*"convert_checkpoint.py --help") cat "$1" ;;
  *"print(tensorrt_llm.__version__)"*) printf '[TensorRT-LLM] banner %s\n%s\n' "$SHIM_VERSION" "$SHIM_VERSION" ;;
  nvidia-smi*) echo "Fake GPU 80GB, 9.0, 999.99" ;;
  *--json*) echo '{"index": 0, "token_ids": [5, 6, 7], "text": "fake"}' ;;
  *resolve_model*) echo "/fake/hf-model" ;;
esac
exit 0
"""
# --help of the fake stock converter per era (flag names as the two upstream versions define them)
HELP = {
    "1.x": "usage: convert_checkpoint.py [-h] --base_model_checkpoint_dir BASE_MODEL_CHECKPOINT_DIR\n"
    "  --drafter_model_dir DRAFTER_MODEL_DIR [--redrafter_no_greedy_search]\n",
    "0.2x": "usage: convert_checkpoint.py [-h] --model_dir MODEL_DIR\n"
    "  --drafter_model_dir DRAFTER_MODEL_DIR [--redrafter_no_greedy_search]\n",
}
VERSION = {"1.x": "1.2.1", "0.2x": "0.20.0"}
# a call that only stage N makes (as the shim logs it); stage 1's depends on the era
MARKERS = [
    "nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total",
    {
        "1.x": "examples/redrafter/convert_checkpoint.py --base_model_checkpoint_dir {wd}/stage1/base_checkpoint",
        "0.2x": "examples/redrafter/convert_checkpoint.py --model_dir /fake/hf-model",
    },
    "trtllm-redrafter build -o {wd}/stage2 ",
    "--sampling",
    "tests/gpu/check_kernels.py",
]


class Sandbox:
    """Shims on PATH, a fake examples tree, plugin library and TensorRT headers, a work dir."""

    def __init__(self, root: Path, era: str = "1.x") -> None:
        self.root = root
        self.era = era
        self.bin = root / "bin"
        self.bin.mkdir()
        for name in ("python3", "nvidia-smi", "trtllm-build", "trtllm-redrafter", "cmake"):
            (self.bin / name).write_text(SHIM)
            (self.bin / name).chmod(0o755)
        self.examples = root / "examples"
        (self.examples / "redrafter").mkdir(parents=True)
        (self.examples / "redrafter" / "convert_checkpoint.py").write_text(HELP[era])
        self.llama_converter = self.examples / "models" / "core" / "llama" / "convert_checkpoint.py"
        self.llama_converter.parent.mkdir(parents=True)
        self.llama_converter.write_text("")
        (self.examples / "run.py").write_text("")
        self.plugin_lib = root / "libtrtllm_redrafter_plugins.so"
        self.plugin_lib.write_text("")
        (root / "tensorrt" / "include").mkdir(parents=True)
        (root / "tensorrt" / "include" / "NvInfer.h").write_text("")
        self.workdir = root / "work"
        self.log = root / "shim.log"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.root),
            "TMPDIR": str(self.root),
            "PYTHON": str(self.bin / "python3"),
            "SHIM_LOG": str(self.log),
            "TRTLLM_EXAMPLES": str(self.examples),
            "TRTLLM_REDRAFTER_PLUGIN_LIB": str(self.plugin_lib),
            "TENSORRT_ROOT": str(self.root / "tensorrt"),
            "SHIM_VERSION": VERSION[self.era],
        }
        env.update(extra)
        return env

    def run(self, *args: str, script: Path = BRINGUP, **extra: str) -> subprocess.CompletedProcess[str]:
        cmd = ["bash", str(script), *args]
        if script == BRINGUP:
            cmd += ["--workdir", str(self.workdir)]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env(**extra), timeout=60, cwd=self.root)

    def calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def marker(self, n: int) -> str:
        marker = MARKERS[n]
        return (marker[self.era] if isinstance(marker, dict) else marker).format(wd=self.workdir)

    def stock_calls(self) -> list[str]:
        """Stage 1's converter, trtllm-build and run.py calls, in order."""
        keep = ("convert_checkpoint.py", "trtllm-build", "/run.py")
        return [c for c in self.calls().splitlines() if any(k in c for k in keep)]


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    """The pinned image's era (TensorRT-LLM 1.2.1)."""
    return Sandbox(tmp_path)


@pytest.fixture(params=["1.x", "0.2x"])
def any_box(tmp_path: Path, request: pytest.FixtureRequest) -> Sandbox:
    return Sandbox(tmp_path, request.param)


def test_dry_run_lists_every_stage_and_runs_nothing(box: Sandbox) -> None:
    result = box.run("--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for n, name in enumerate(NAMES):
        assert f"== stage {n}: {name} (log: {box.workdir}/stage{n}.log)" in out
    for command in [
        "nvidia-smi --query-gpu",
        "cmake -S plugins -B plugins/build",
        f"{box.examples}/redrafter/convert_checkpoint.py --help > {box.workdir}/stage1/convert_help.txt",
        f"{box.examples}/models/core/llama/convert_checkpoint.py --model_dir",
        f"convert_checkpoint.py --base_model_checkpoint_dir {box.workdir}/stage1/base_checkpoint",
        f"{box.examples}/redrafter/convert_checkpoint.py --model_dir",
        "trtllm-build --checkpoint_dir",
        "--speculative_decoding_mode explicit_draft_tokens --max_batch_size 4",
        f"{box.examples}/run.py --engine_dir",
        f"trtllm-redrafter build -o {box.workdir}/stage2",
        f"trtllm-redrafter run --backend trtllm --engine {box.workdir}/stage2/engine --json",
        "trtllm-redrafter run --json --model smollm2-135m-instruct",
        f"trtllm-redrafter build -o {box.workdir}/stage3",
        "--temperature 0.7",
        "bash tests/gpu/check_kernels.sh --skip-timing",
        "-m pytest -q -rs tests/test_plugins_build.py",
    ]:
        assert command in out, command
    # stages in order, every stage header before the next one's commands
    assert [int(m) for m in re.findall(r"^== stage (\d)", out, re.M)] == [0, 1, 2, 3, 4]
    assert out.index("--sampling") > out.index("== stage 3")
    assert box.calls() == "" and not box.workdir.exists()


def test_dry_run_shows_both_stock_sequences_labelled(box: Sandbox) -> None:
    out = box.run("--dry-run", "--only-stage", "1").stdout
    a = out.index("# (a) TensorRT-LLM >= 1.0 (e.g. 1.2.1): --help lists --base_model_checkpoint_dir")
    b = out.index("# (b) TensorRT-LLM <= 0.21 (e.g. 0.20.0): --help does not list it")
    assert "chosen at run time from the --help above" in out
    assert out.index("convert_checkpoint.py --help") < a < out.index("models/core/llama/convert_checkpoint.py") < b
    assert (
        a < out.index("--base_model_checkpoint_dir", a) < b < out.index("redrafter/convert_checkpoint.py --model_dir")
    )
    assert out.index("redrafter/convert_checkpoint.py --model_dir") < out.index("trtllm-build")
    assert out.count("trtllm-build --checkpoint_dir") == 1  # one build after either sequence
    assert "greedy_search" not in out  # greedy is both converters' default
    assert box.calls() == ""  # nothing ran, so tensorrt_llm was never imported


def test_dry_run_of_one_stage(box: Sandbox) -> None:
    result = box.run("--dry-run", "--only-stage", "2")
    assert result.returncode == 0, result.stderr
    assert re.findall(r"^== stage (\d)", result.stdout, re.M) == ["2"]
    assert "convert_checkpoint.py" not in result.stdout and "--sampling" not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["extra"],
        ["--from-stage"],
        ["--from-stage", "5"],
        ["--only-stage", "x"],
        ["--only-stage", ""],
        ["--from-stage", "1", "--only-stage", "2"],
    ],
)
def test_bad_arguments_exit_2_with_one_message(box: Sandbox, args: list[str]) -> None:
    result = subprocess.run(["bash", str(BRINGUP), *args], capture_output=True, text=True, env=box.env(), timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bringup.sh: "), result.stderr
    assert box.calls() == ""


def test_missing_workdir_value(box: Sandbox) -> None:
    result = subprocess.run(["bash", str(BRINGUP), "--workdir"], capture_output=True, text=True, env=box.env())
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--workdir" in result.stderr


def test_help(box: Sandbox) -> None:
    result = box.run("-h")
    assert result.returncode == 0
    for flag in ("--dry-run", "--from-stage", "--only-stage", "--workdir", "TRTLLM_EXAMPLES", "PYTHON"):
        assert flag in result.stdout
    assert box.calls() == ""


def test_all_stages_pass_with_a_summary(any_box: Sandbox) -> None:
    box = any_box
    result = box.run()
    assert result.returncode == 0, result.stdout + result.stderr
    for n, name in enumerate(NAMES):
        assert re.search(rf"^PASS stage {n}: {re.escape(name)} \(\d+ s\)$", result.stdout, re.M)
        assert re.search(rf"^\| {n} \| {re.escape(name)} \| PASS \| \d+ \|", result.stdout, re.M)
        assert box.marker(n) in box.calls()
        assert (box.workdir / f"stage{n}.log").is_file()
    assert result.stdout.rstrip().endswith("RESULT: PASS (stages 0 1 2 3 4)")
    # the stock control ran on the HF dir the package resolved, with a standard drafter
    assert f"--drafter_model_dir {box.workdir}/stage1/drafter" in box.calls()
    assert "DrafterConfig(s.vocab_size, s.hidden_size, exit_dim=s.hidden_size)" in box.calls()


@pytest.mark.parametrize(
    ("stage", "fail_on", "failed_step"),
    [
        (0, "nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total", "nvidia-smi --query-gpu"),
        (1, "redrafter/convert_checkpoint.py --base_model_checkpoint_dir", "--base_model_checkpoint_dir"),
        (2, "trtllm-redrafter build -o", "trtllm-redrafter build -o"),
        (3, "--sampling", "--sampling"),
        # inside a script a step runs: the report names the step
        (4, "tests/gpu/check_kernels.py", "bash tests/gpu/check_kernels.sh --skip-timing"),
    ],
)
def test_a_failing_stage_stops_the_run_and_says_what_to_report(
    box: Sandbox, stage: int, fail_on: str, failed_step: str
) -> None:
    result = box.run(SHIM_FAIL=fail_on)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"FAIL stage {stage}: {NAMES[stage]}" in out
    calls = box.calls()
    for n in range(5):
        if n < stage:
            assert f"PASS stage {n}:" in out and box.marker(n) in calls
        elif n > stage:
            assert f"== stage {n}" not in out and box.marker(n) not in calls, n
            assert not (box.workdir / f"stage{n}.log").exists()
            assert re.search(rf"^\| {n} \| .* \| not run \|", out, re.M)
    # the last 40 lines of the log: the end of the shim's output, not its beginning
    assert "shim log line 60" in out and "shim: " in out
    assert "shim log line 10\n" not in out
    report = out[out.index("What to report") :]
    assert f"log:            {box.workdir}/stage{stage}.log" in report
    failed = next(line for line in report.splitlines() if line.startswith("  failed command: "))
    assert failed_step in failed
    assert "9.9.9-fake" in report and "Fake GPU 80GB, 9.0, 999.99" in report
    assert f"--only-stage {stage}" in report
    assert ("--from-stage 2" in out) == (stage == 1)  # the hint after the stock control fails
    assert out.rstrip().endswith(f"RESULT: FAIL at stage {stage}")


def test_only_stage_runs_exactly_one(box: Sandbox) -> None:
    result = box.run("--only-stage", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.findall(r"^PASS stage (\d)", result.stdout, re.M) == ["3"]
    calls = box.calls()
    assert box.marker(3) in calls
    for n in (0, 1, 2, 4):
        assert box.marker(n) not in calls
        assert re.search(rf"^\| {n} \| .* \| skipped \|", result.stdout, re.M)
    assert sorted(p.name for p in box.workdir.glob("stage*.log")) == ["stage3.log"]


def test_from_stage_skips_the_earlier_ones(box: Sandbox) -> None:
    result = box.run("--from-stage", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.findall(r"^PASS stage (\d)", result.stdout, re.M) == ["3", "4"]
    assert box.marker(1) not in box.calls() and box.marker(4) in box.calls()


def test_absent_examples_fail_stage_1_clearly(box: Sandbox) -> None:
    result = box.run("--only-stage", "1", TRTLLM_EXAMPLES=str(box.root / "nowhere"))
    assert result.returncode == 1
    assert "FAIL stage 1" in result.stdout
    assert f"missing: {box.root}/nowhere/redrafter/convert_checkpoint.py" in result.stdout
    assert "set TRTLLM_EXAMPLES to this image's examples/" in result.stdout
    assert "convert_checkpoint.py" not in box.calls()


def test_missing_plugin_library_is_built_then_checked(box: Sandbox) -> None:
    box.plugin_lib.unlink()  # the cmake stand-in builds nothing, so stage 0 must fail after it
    result = box.run("--only-stage", "0")
    assert result.returncode == 1
    calls = box.calls()
    assert "cmake -S plugins -B plugins/build" in calls and "cmake --build plugins/build" in calls
    assert f"missing: {box.plugin_lib}" in result.stdout
    assert "test -f" in result.stdout.split("failed command: ")[1].splitlines()[0]


@pytest.mark.parametrize("script", ["bringup.sh", "run_gpu_tests.sh", "run_default_model.sh"])
def test_the_container_scripts_check_tensorrt_llm_first(box: Sandbox, script: str) -> None:
    result = box.run(script=REPO / "docker" / script, SHIM_FAIL="import tensorrt_llm")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "cannot import tensorrt_llm (shim: python3 fails on purpose)" in lines[0]
    calls = box.calls().splitlines()  # the import check is the first call, and the only one
    assert len(calls) == 1 and calls[0].startswith("python3 -c import tensorrt_llm"), calls


def test_docker_build_does_not_import_tensorrt_llm() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    instructions = re.sub(r"\\\n", " ", text).splitlines()
    runs = [line for line in instructions if line.startswith("RUN ")]
    assert runs, "no RUN instruction found"
    assert not [r for r in runs if "tensorrt_llm" in r]
    assert any(line.startswith("ARG TRTLLM_IMAGE=") for line in instructions)


STOCK_TAIL = [  # after either converter sequence
    "trtllm-build --checkpoint_dir {wd}/stage1/checkpoint --output_dir {wd}/stage1/engine --gemm_plugin bfloat16"
    " --speculative_decoding_mode explicit_draft_tokens --max_batch_size 4",
    "python3 {ex}/run.py --engine_dir {wd}/stage1/engine --tokenizer_dir /fake/hf-model --max_output_len 32"
    " --input_text Explain speculative decoding in two sentences.",
]
STOCK_SEQUENCE = {
    "1.x": [
        "python3 {ex}/redrafter/convert_checkpoint.py --help",
        "python3 {ex}/models/core/llama/convert_checkpoint.py --model_dir /fake/hf-model"
        " --output_dir {wd}/stage1/base_checkpoint --dtype bfloat16",
        "python3 {ex}/redrafter/convert_checkpoint.py --base_model_checkpoint_dir {wd}/stage1/base_checkpoint"
        " --drafter_model_dir {wd}/stage1/drafter --output_dir {wd}/stage1/checkpoint --dtype bfloat16"
        " --redrafter_num_beams 4 --redrafter_draft_len_per_beam 4",
    ],
    "0.2x": [
        "python3 {ex}/redrafter/convert_checkpoint.py --help",
        "python3 {ex}/redrafter/convert_checkpoint.py --model_dir /fake/hf-model"
        " --drafter_model_dir {wd}/stage1/drafter --output_dir {wd}/stage1/checkpoint --dtype bfloat16"
        " --redrafter_num_beams 4 --redrafter_draft_len_per_beam 4",
    ],
}
ERA_LINE = {
    "1.x": "stock converter: --help lists --base_model_checkpoint_dir, so the TensorRT-LLM >= 1.0 sequence"
    " (tensorrt_llm 1.2.1)",
    "0.2x": "stock converter: --help has no --base_model_checkpoint_dir, so the TensorRT-LLM <= 0.21 sequence"
    " (tensorrt_llm 0.20.0)",
}
NOTE = {
    "1.x": "converter >= 1.0 (base checkpoint first), tensorrt_llm 1.2.1",
    "0.2x": "converter <= 0.21 (--model_dir), tensorrt_llm 0.20.0",
}


def test_stage_1_runs_the_sequence_its_converter_help_names(any_box: Sandbox) -> None:
    box = any_box
    result = box.run("--only-stage", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [c.format(wd=box.workdir, ex=box.examples) for c in STOCK_SEQUENCE[box.era] + STOCK_TAIL]
    assert box.stock_calls() == expected
    calls = box.calls()
    assert "greedy_search" not in calls  # greedy: the default of both converters
    assert calls.index("--help") < calls.index("print(tensorrt_llm.__version__)") < calls.index("resolve_model")
    # the choice and its reason: on the terminal, in the log and in the summary
    assert f"    {ERA_LINE[box.era]}" in result.stdout.splitlines()
    assert ERA_LINE[box.era] in (box.workdir / "stage1.log").read_text()
    assert re.search(rf"^\| 1 \| .* \| PASS \| \d+ \| {re.escape(NOTE[box.era])} \|$", result.stdout, re.M)
    assert "warning:" not in result.stdout


@pytest.mark.parametrize(("era", "version"), [("1.x", "0.20.0"), ("0.2x", "1.2.1")])
def test_the_help_wins_over_a_disagreeing_version(tmp_path: Path, era: str, version: str) -> None:
    box = Sandbox(tmp_path, era)
    result = box.run("--only-stage", "1", SHIM_VERSION=version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert box.stock_calls()[1] == STOCK_SEQUENCE[era][1].format(wd=box.workdir, ex=box.examples)
    assert f"tensorrt_llm {version})" in result.stdout
    assert "warning: the version alone would say the other sequence; following the converter's --help" in result.stdout


def test_the_llama_converter_runs_on_the_unified_converter(box: Sandbox) -> None:
    # the tied-LM-head handling read upstream is on that path; an inherited opt-out is dropped for it only
    box.run("--only-stage", "1", TRTLLM_DISABLE_UNIFIED_CONVERTER="1")
    llama, redrafter = box.stock_calls()[1:3]
    assert "models/core/llama/convert_checkpoint.py" in llama and "[unified converter disabled]" not in llama
    assert "--base_model_checkpoint_dir" in redrafter and redrafter.endswith("[unified converter disabled]")


def test_a_missing_llama_converter_fails_only_the_1x_sequence(any_box: Sandbox) -> None:
    box = any_box
    box.llama_converter.unlink()
    result = box.run("--only-stage", "1")
    if box.era == "0.2x":
        assert result.returncode == 0, result.stdout + result.stderr
        return
    assert result.returncode == 1
    assert (
        f"missing: {box.llama_converter}: the TensorRT-LLM >= 1.0 sequence needs the Llama converter" in result.stdout
    )
    assert box.stock_calls() == [STOCK_SEQUENCE["1.x"][0].format(ex=box.examples)]


@pytest.mark.parametrize(
    ("era", "fail_on", "hint"),
    [
        ("1.x", "models/core/llama/convert_checkpoint.py", "ran the TensorRT-LLM >= 1.0 sequence (tensorrt_llm 1.2.1)"),
        ("0.2x", "convert_checkpoint.py --model_dir", "a KeyError for 'lm_head.weight'"),
    ],
)
def test_a_stage_1_failure_names_the_sequence_that_ran(tmp_path: Path, era: str, fail_on: str, hint: str) -> None:
    box = Sandbox(tmp_path, era)
    result = box.run(SHIM_FAIL=fail_on)
    assert result.returncode == 1
    report = result.stdout[result.stdout.index("FAIL stage 1") :]
    assert hint in report and report.index(hint) < report.index("What to report")
    failed = next(line for line in report.splitlines() if line.startswith("  failed command: "))
    assert fail_on in failed
    assert re.search(rf"^\| 1 \| .* \| FAIL \(exit 7\) \| \d+ \| {re.escape(NOTE[era])} \|$", result.stdout, re.M)


def test_a_failing_help_stops_stage_1_before_any_conversion(box: Sandbox) -> None:
    (box.workdir / "stage1").mkdir(parents=True)
    (box.workdir / "stage1" / "era.txt").write_text("0.2x\n0.20.0\n")  # a previous run's choice
    result = box.run("--only-stage", "1", SHIM_FAIL="convert_checkpoint.py --help")
    assert result.returncode == 1
    assert box.stock_calls() == [STOCK_SEQUENCE["1.x"][0].format(ex=box.examples)]
    failed = next(line for line in result.stdout.splitlines() if line.startswith("  failed command: "))
    assert "redrafter/convert_checkpoint.py --help" in failed
    assert "Stage 1 ran the" not in result.stdout  # no choice was made, and the stale one is gone
