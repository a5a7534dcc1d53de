"""Builds of plugins/: the nvcc device compile of the kernels (sm_80 and sm_90), the CMake project
(and its refusal to claim a TensorRT plugin library without TensorRT's headers), and, when
$REDRAFTER_TRT_INCLUDE_DIRS names TensorRT header directories, the IPluginV3 wrappers against them.

Everything is built into temporary directories. Without nvcc the device tests are skipped, unless
$REDRAFTER_REQUIRE_NVCC=1 (then they fail).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from plugin_helpers import PLUGINS, load_build_libs

LAUNCHERS = (
    "redrafterPackBeams",
    "redrafterPackedArgmax",
    "redrafterGreedyAccept",
    "redrafterGreedyAcceptWorkspaceSize",
)
TRT_INCLUDE_DIRS = [Path(p) for p in os.environ.get("REDRAFTER_TRT_INCLUDE_DIRS", "").split(os.pathsep) if p]

build_libs = load_build_libs()


def require_nvcc() -> str:
    nvcc = build_libs.find_nvcc()
    if nvcc is None:
        if os.environ.get("REDRAFTER_REQUIRE_NVCC") == "1":
            pytest.fail("nvcc not found and REDRAFTER_REQUIRE_NVCC=1")
        pytest.skip("nvcc not found (set $NVCC)")
    return nvcc


def cuda_include_dir(nvcc: str) -> Path:
    include = build_libs.find_cuda_include(nvcc)
    assert include is not None, f"no cuda_runtime_api.h next to {nvcc}"
    return include


def run(cmd: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_kernels_device_compile_sm80_sm90(tmp_path: Path):
    """nvcc -c of every kernel file for sm_80 and sm_90 (warnings are errors), linked into the
    shared library that tests/gpu/check_kernels.sh loads."""
    nvcc = require_nvcc()
    library = build_libs.build_kernel_library(tmp_path, ["80", "90"], nvcc)
    lib = ctypes.CDLL(str(library))
    for name in LAUNCHERS:
        assert hasattr(lib, name), name
    # argument checks run before any CUDA call, so they work without a GPU
    lib.redrafterPackBeams.restype = ctypes.c_int32
    lib.redrafterPackedArgmax.restype = ctypes.c_int32
    lib.redrafterGreedyAcceptWorkspaceSize.restype = ctypes.c_size_t
    lib.redrafterGreedyAcceptWorkspaceSize.argtypes = [ctypes.c_int32, ctypes.c_int32]
    null = ctypes.c_void_p(0)
    assert lib.redrafterPackBeams(null, null, 0, 4, 5, *[null] * 7) == 1
    assert lib.redrafterPackedArgmax(null, 9, 1, 1, null, null, 1, 1, null, null) == 2  # dtype 9
    assert lib.redrafterPackedArgmax(null, 0, -1, 1, null, null, 1, 1, null, null) == 1  # R = -1
    assert lib.redrafterGreedyAcceptWorkspaceSize(3, 7) == 256  # 84 bytes, rounded up to 256


@pytest.mark.skipif(Path("/dev/nvidia0").exists(), reason="checks the no-GPU error path")
def test_device_launcher_reports_missing_gpu(tmp_path: Path):
    nvcc = require_nvcc()
    lib = ctypes.CDLL(str(build_libs.build_kernel_library(tmp_path, ["80"], nvcc)))
    lib.redrafterPackBeams.restype = ctypes.c_int32
    buffer = torch.zeros(64, dtype=torch.int32)
    p = ctypes.c_void_p(buffer.data_ptr())
    assert lib.redrafterPackBeams(p, p, 1, 1, 1, p, p, p, p, p, p, None) == 4  # kCudaError, no crash


def ptxas_static_shared_bytes(nvcc: str, source: Path, kernel: str, tmp_path: Path) -> set[int]:
    """The static shared memory ptxas reports for every entry function whose name contains `kernel`
    (sm_90; no "smem" in its line means 0), and that no such entry spills or has a stack frame."""
    log = run([nvcc, "-std=c++17", "-O3", "-gencode", "arch=compute_90,code=sm_90", "-Xptxas", "-v", "-c",
               str(source), "-o", str(tmp_path / f"{source.stem}.o")])  # fmt: skip
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if "Compiling entry function" in line and kernel in line]
    assert starts, log
    found = set()
    for start in starts:
        frame = next(line for line in lines[start + 1 :] if "stack frame" in line)
        assert "0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" in frame, frame
        usage = next(line for line in lines[start + 1 :] if "Used" in line and "registers" in line)
        match = re.search(r"(\d+) bytes smem", usage)
        found.add(int(match.group(1)) if match else 0)
    return found


def test_static_shared_memory_is_what_the_headers_count(tmp_path: Path):
    """The launchers' (and the plugins' configure-time) shared-memory limits count static memory as
    the headers say: none for pack_beams, samplingStaticSharedBytes() for sampling_accept,
    fusedStaticSharedBytes() for fused_sampling_accept; none of them spills or has a stack frame."""
    nvcc = require_nvcc()
    host = ctypes.CDLL(str(build_libs.build_host_library(tmp_path / "host")))
    host.redrafterSamplingStaticSharedBytes.restype = ctypes.c_size_t
    static = host.redrafterSamplingStaticSharedBytes()
    assert static == 4176
    kernels = PLUGINS / "kernels"
    assert ptxas_static_shared_bytes(nvcc, kernels / "sampling_accept.cu", "samplingAcceptKernel", tmp_path) == {static}
    assert ptxas_static_shared_bytes(nvcc, kernels / "pack_beams.cu", "packBeamsKernel", tmp_path) == {0}
    host.redrafterFusedStaticSharedBytes.restype = ctypes.c_size_t
    fused = host.redrafterFusedStaticSharedBytes()
    assert fused == 3216
    fused_kernel = ptxas_static_shared_bytes(nvcc, kernels / "fused_sampling_accept.cu", "fusedSampling", tmp_path)
    assert fused_kernel == {fused}  # all three logits dtypes


@pytest.mark.skipif(Path("/dev/nvidia0").exists(), reason="a launch that passes the checks needs no GPU to fail")
def test_launchers_refuse_what_does_not_fit_and_nothing_else(tmp_path: Path):
    """Without a GPU a launch that passes the argument checks fails with kCudaError (4); one that does
    not fit fails first with kTooLarge (3). The boundaries are the ones the plugins check when
    configured (trt_plugin_harness.cpp): sampling nb 3748, pack nb * bl about 3000, and the greedy
    workspace size passed to the launcher."""
    lib = ctypes.CDLL(str(build_libs.build_kernel_library(tmp_path, ["80"], require_nvcc())))
    for name in ("redrafterSamplingAccept", "redrafterPackBeams", "redrafterGreedyAccept"):
        getattr(lib, name).restype = ctypes.c_int32
    lib.redrafterGreedyAccept.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    lib.redrafterGreedyAccept.argtypes += [ctypes.c_void_p] * 4 + [ctypes.c_int32] * 4
    lib.redrafterGreedyAccept.argtypes += [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_void_p] * 7
    p = ctypes.c_void_p(torch.zeros(64, dtype=torch.int32).data_ptr())

    def sampling(nb: int) -> int:
        return lib.redrafterSamplingAccept(p, p, p, p, p, p, 0, 1, 1, 1, nb, 2, *[p] * 6, None)

    assert (sampling(3748), sampling(3749)) == (4, 3)

    fused = lib.redrafterFusedSamplingAccept
    fused.restype = ctypes.c_int32
    fused.argtypes = [ctypes.c_void_p] + [ctypes.c_int32] * 3 + [ctypes.c_void_p] * 2 + [ctypes.c_int32] * 2
    fused.argtypes += [ctypes.c_void_p] * 5 + [ctypes.c_int32] * 6 + [ctypes.c_float] + [ctypes.c_void_p] * 7

    def fused_sampling(nb: int, vocab: int = 8) -> int:
        return fused(p, 0, 4, vocab, p, p, 0, 1, p, p, p, p, p, 0, 1, 1, nb, 2, 0, 1.0, *[p] * 6, None)

    assert (fused_sampling(3828), fused_sampling(3829), fused_sampling(4, 1 << 22)) == (4, 3, 3)

    def pack(nb: int, bl: int) -> int:
        return lib.redrafterPackBeams(p, p, 1, nb, bl, p, p, p, p, p, p, None)

    assert (pack(1, 3071), pack(1, 3072), pack(30, 100), pack(31, 100)) == (4, 3, 4, 3)

    def greedy(workspace_bytes: int) -> int:  # bs 3, 7 slots: 84 bytes, rounded up to 256
        return lib.redrafterGreedyAccept(p, 0, 4, 8, p, p, p, p, 3, 7, 2, 4, p, workspace_bytes, *[p] * 6, None)

    assert (greedy(256), greedy(255)) == (4, 3)


def cmake_build(build_dir: Path, *options: str) -> str:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not found")
    log = run(["cmake", "-S", str(PLUGINS), "-B", str(build_dir), *options])
    log += run(["cmake", "--build", str(build_dir), "-j", "2"])
    return log


def test_cmake_builds_what_it_can_and_says_what_it_skips(tmp_path: Path):
    no_trt = tmp_path / "no_tensorrt"
    no_trt.mkdir()
    log = cmake_build(tmp_path / "build", f"-DTENSORRT_ROOT={no_trt}", "-DCMAKE_CUDA_ARCHITECTURES=80;90")
    build = tmp_path / "build"
    assert (build / "libredrafter_host.so").is_file()
    if build_libs.find_nvcc() is None:
        assert "no CUDA compiler found" in log
        assert not (build / "libredrafter_kernels.so").exists()
    else:
        assert (build / "libredrafter_kernels.so").is_file()
        assert "architectures 80;90" in log
    plugin_library = build / "libtrtllm_redrafter_plugins.so"
    if "libtrtllm_redrafter_plugins.so is NOT built" in log:
        assert not plugin_library.exists()  # nothing claims the wrappers were built
    else:  # NvInfer.h is installed system-wide on this machine
        assert "building libtrtllm_redrafter_plugins.so against" in log and plugin_library.is_file()

    # the CMake host library is the same code as the one the host tests build with g++
    host = ctypes.CDLL(str(build / "libredrafter_host.so"))
    beams = torch.tensor([[[7, 3, 5], [7, 3, 4], [7, 9, 2]]], dtype=torch.int32)
    base = torch.tensor([0], dtype=torch.int32)
    outs = [torch.zeros(7, dtype=torch.int32) for _ in range(6)]
    outs[2] = torch.zeros(9, dtype=torch.int32)
    args = [ctypes.c_void_p(t.data_ptr()) for t in (beams, base)]
    status = host.redrafterPackBeamsHost(*args, 1, 3, 3, *[ctypes.c_void_p(t.data_ptr()) for t in outs])
    assert status == 0
    assert outs[0].tolist() == [7, 3, 5, 4, 9, 2, 0] and outs[4].tolist() == [1, 3, 7, 11, 17, 49, 64]


@pytest.mark.skipif(not TRT_INCLUDE_DIRS, reason="set REDRAFTER_TRT_INCLUDE_DIRS to TensorRT include directories")
@pytest.mark.parametrize("trt_include", TRT_INCLUDE_DIRS, ids=str)
def test_trt_wrappers_against_headers(tmp_path: Path, trt_include: Path):
    """Syntax check, CMake build (headers only, -Wl,--no-undefined: no libnvinfer needed) and the
    host harness (plugins/tests/trt_plugin_harness.cpp) against one TensorRT header directory."""
    nvcc = require_nvcc()
    cuda_include = cuda_include_dir(nvcc)
    assert (trt_include / "NvInfer.h").is_file(), trt_include
    includes = ["-isystem", str(trt_include), "-isystem", str(cuda_include)]
    wrappers = sorted(map(str, (PLUGINS / "tensorrt").glob("*.cpp")))
    run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", *includes, *wrappers])

    build = tmp_path / "build"
    log = cmake_build(build, f"-DTENSORRT_ROOT={trt_include.parent}", "-DCMAKE_CUDA_ARCHITECTURES=80;90")
    assert f"building libtrtllm_redrafter_plugins.so against {trt_include}" in log
    assert (build / "libtrtllm_redrafter_plugins.so").is_file()

    harness = tmp_path / "harness"
    harness_src = str(PLUGINS / "tests" / "trt_plugin_harness.cpp")
    link = [f"-L{build}", "-ltrtllm_redrafter_plugins", f"-Wl,-rpath,{build}"]
    run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", *includes, harness_src, *link, "-o", str(harness)])
    output = run([str(harness)])
    assert output.rstrip().endswith(", 0 failed"), output
    print(trt_include, output.strip().splitlines()[-1])  # the check count, for docs/plugins.md
    check_registration_through_ld_preload(tmp_path, includes, trt_include, build / "libtrtllm_redrafter_plugins.so")


def tensorrt_major(trt_include: Path) -> int:
    text = (trt_include / "NvInferVersion.h").read_text()
    match = re.search(r"#define (?:TRT_MAJOR_ENTERPRISE|NV_TENSORRT_MAJOR) (\d+)", text)
    assert match, trt_include
    return int(match.group(1))


def check_registration_through_ld_preload(tmp_path: Path, includes: list[str], trt_include: Path, library: Path):
    """The served-engine path: a process started with LD_PRELOAD naming the plugin library has its
    creators registered, in namespace trtllm_redrafter, in the registry of the libnvinfer.so.<major>
    the dynamic loader finds (here a stand-in, plugins/tests/fake_nvinfer.cpp), before any of its
    own code runs; without LD_PRELOAD nothing is loaded. redrafterRegisterPlugins() (what
    ops/plugins.py calls) registers into an already loaded libnvinfer, idempotently."""
    soname = f"libnvinfer.so.{tensorrt_major(trt_include)}"
    fake_dir, probe = tmp_path / "fake_nvinfer", tmp_path / "preload_probe"
    fake_dir.mkdir()
    tests_dir = PLUGINS / "tests"
    run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", *includes,
         str(tests_dir / "fake_nvinfer.cpp"), f"-Wl,-soname,{soname}", "-o", str(fake_dir / soname)])  # fmt: skip
    run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", str(tests_dir / "preload_probe.cpp"), "-ldl",
         "-o", str(probe)])  # fmt: skip
    expected = ";".join(
        f"{name}/{version}/trtllm_redrafter"
        for name, version in [
            ("RedrafterPackBeams", "1"),
            ("RedrafterGreedyAccept", "2"),
            ("RedrafterWarpSoftmax", "1"),
            ("RedrafterSamplingAccept", "1"),
            ("RedrafterFusedSamplingAccept", "1"),
        ]
    )

    def probe_run(*args: str, **env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}
        result = subprocess.run([str(probe), soname, *args], capture_output=True, text=True, env={**clean, **env})
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    search = {"LD_LIBRARY_PATH": str(fake_dir)}
    assert probe_run(**search) == "no libnvinfer\n"  # the control: nothing preloaded, nothing loaded
    assert probe_run(LD_PRELOAD=str(library), **search).startswith(f"registered: {expected};")
    by_name = {"LD_PRELOAD": library.name, "LD_LIBRARY_PATH": f"{fake_dir}:{library.parent}"}
    assert probe_run(**by_name).startswith(f"registered: {expected};")
    unfound = probe_run(LD_PRELOAD=str(library))  # no libnvinfer to be found: one clear line on stderr
    assert f"the plugins were NOT registered: {soname} not found" in unfound, unfound
    in_process = probe_run(str(library), **search)
    match = re.match(r"redrafterRegisterPlugins: (\d+) (\d+)\nregistered: (.*);\n", in_process)
    assert match and match.group(3).startswith(expected), in_process
    assert int(match.group(1)) == int(match.group(2)) == match.group(3).count(";") + 1  # all of them, idempotent
