"""Build the kernel libraries without CMake: the host library (g++) and the CUDA kernel library (nvcc).

Used by the tests (tests/test_plugins_host.py builds into a temporary directory) and by the GPU
check (tests/gpu/check_kernels.sh). The CMake project in this directory builds the same libraries
plus the TensorRT plugin library; see docs/plugins.md.

    python plugins/build_libs.py host --out DIR                 # DIR/libredrafter_host.so
    python plugins/build_libs.py kernels --out DIR --arch 80,90 # DIR/libredrafter_kernels.so
    python plugins/build_libs.py objects --out DIR --arch 80,90 # DIR/<kernel>.o, device compile only

Standard library only: the GPU machine needs no extra package to run it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PLUGINS_DIR = Path(__file__).resolve().parent
HOST_SOURCES = sorted((PLUGINS_DIR / "host").glob("*.cpp"))
KERNEL_SOURCES = sorted((PLUGINS_DIR / "kernels").glob("*.cu"))
HOST_LIBRARY = "libredrafter_host.so"
KERNEL_LIBRARY = "libredrafter_kernels.so"
WARNINGS = ["-Wall", "-Wextra", "-Werror"]
RELAXED_WARNINGS = ["-Wall", "-Wextra"]


def find_nvcc() -> str | None:
    """$NVCC, then nvcc on PATH, then the usual install location."""
    for candidate in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def find_cuda_include(nvcc: str) -> Path | None:
    """The directory holding cuda_runtime_api.h, as nvcc itself reports it (nvcc may be a wrapper script)."""
    result = subprocess.run([nvcc, "--dryrun", "-c", "-x", "cu", os.devnull], capture_output=True, text=True)
    candidates = re.findall(r'INCLUDES="-I([^"]+)"', result.stdout + result.stderr)
    candidates += [str(Path(nvcc).resolve().parents[1] / "include"), "/usr/local/cuda/include"]
    for candidate in candidates:
        if (Path(candidate) / "cuda_runtime_api.h").is_file():
            return Path(candidate).resolve()
    return None


def gencode_flags(archs: list[str]) -> list[str]:
    """SASS for every listed compute capability ("80", "90", ...), plus PTX of the newest one."""
    flags = []
    for arch in archs:
        flags += ["-gencode", f"arch=compute_{arch},code=sm_{arch}"]
    newest = max(archs, key=int)
    flags += ["-gencode", f"arch=compute_{newest},code=compute_{newest}"]
    return flags


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}{result.stderr}")


def host_library_command(out_dir: Path, cxx: str = "g++") -> list[str]:
    return [
        cxx,
        "-std=c++17",
        "-O2",
        *WARNINGS,
        "-fPIC",
        "-fvisibility=hidden",
        "-shared",
        *map(str, HOST_SOURCES),
        "-o",
        str(out_dir / HOST_LIBRARY),
    ]


def build_host_library(out_dir: Path, cxx: str = "g++") -> Path:
    """g++ only: the host launchers over the kernels' core functions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _run(host_library_command(out_dir, cxx))
    return out_dir / HOST_LIBRARY


def _nvcc_common(nvcc: str, archs: list[str], werror: bool = True) -> list[str]:
    host_flags = ",".join(["-fPIC", "-fvisibility=hidden", *(WARNINGS if werror else RELAXED_WARNINGS)])
    device_werror = ["-Werror", "all-warnings"] if werror else []
    return [nvcc, "-std=c++17", "-O3", *device_werror, "-Xcompiler", host_flags, *gencode_flags(archs)]


def build_kernel_objects(
    out_dir: Path,
    archs: list[str],
    nvcc: str | None = None,
    werror: bool = True,
    sources: list[Path] | None = None,
) -> list[Path]:
    """Device compile of every kernel file (or of `sources`) with nvcc -c, one object per file;
    warnings are errors unless werror=False."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise RuntimeError("nvcc not found (set $NVCC)")
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for source in KERNEL_SOURCES if sources is None else sources:
        obj = out_dir / (source.stem + ".o")
        _run([*_nvcc_common(nvcc, archs, werror), "-c", str(source), "-o", str(obj)])
        objects.append(obj)
    return objects


def build_kernel_library(
    out_dir: Path,
    archs: list[str],
    nvcc: str | None = None,
    werror: bool = True,
    sources: list[Path] | None = None,
) -> Path:
    """The CUDA kernels (all, or `sources`) and their extern "C" launchers as one shared library
    (static cudart)."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise RuntimeError("nvcc not found (set $NVCC)")
    objects = build_kernel_objects(out_dir / "obj", archs, nvcc, werror, sources)
    library = out_dir / KERNEL_LIBRARY
    _run([nvcc, "-shared", *gencode_flags(archs), *map(str, objects), "-o", str(library)])
    return library


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["host", "kernels", "objects"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arch", default="80,90", help="compute capabilities, comma separated (default 80,90)")
    parser.add_argument("--no-werror", action="store_true", help="keep warnings as warnings (other compilers)")
    args = parser.parse_args(argv)
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    if args.what == "host":
        print(build_host_library(args.out))
    elif args.what == "kernels":
        print(build_kernel_library(args.out, archs, werror=not args.no_werror))
    else:
        for obj in build_kernel_objects(args.out, archs, werror=not args.no_werror):
            print(obj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
