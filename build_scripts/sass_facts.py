"""SASS facts of the CUDA kernels, read from the machine code nvcc produces (no GPU needed).

For every kernel file in plugins/kernels/ this compiles a cubin for one architecture (default
sm_90), disassembles it with ``cuobjdump -sass`` and counts, per entry function:

    LDG.128   16-byte global loads (vectorised reads of the logits)
    LDG.U8    byte-wise global loads (what memcpy through ``unsigned char*`` compiles to)
    LDG       all global loads
    local     LDL / STL instructions (local memory: spills or dynamically indexed arrays)
    CAS       ATOMS.CAS / ATOMG.CAS (compare-and-swap loops, e.g. 64-bit shared atomicAdd emulated)
    ATOMS     all shared-memory atomics

cuobjdump (and the nvdisasm it runs) come from $CUOBJDUMP, PATH, next to nvcc, or the PyPI wheels
(``pip install --no-deps --target DIR nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm``, then ``--tools DIR``).

    python build_scripts/sass_facts.py [--arch 90] [--tools DIR] > docs/results/kernels/sass_facts_sm90.md
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KERNELS = sorted((REPO / "plugins" / "kernels").glob("*.cu"))
COUNTS = {
    "LDG.128": r"\bLDG\.E\.128",
    "LDG.U8": r"\bLDG\.E\.U8",
    "LDG": r"\bLDG\.",
    "local": r"\b(LDL|STL)\b",
    "CAS": r"\bATOM[SG]\.CAS",
    "ATOMS": r"\bATOMS\.",
}


def load_build_libs():
    spec = importlib.util.spec_from_file_location("build_libs", REPO / "plugins" / "build_libs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_cuobjdump(nvcc: str, tools: Path | None) -> str | None:
    candidates = [
        os.environ.get("CUOBJDUMP"),
        shutil.which("cuobjdump"),
        str(Path(nvcc).resolve().parent / "cuobjdump"),
    ]
    if tools is not None:
        candidates += [str(p) for p in sorted(tools.glob("nvidia/*/bin/cuobjdump"))]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def functions(sass: str) -> dict[str, str]:
    """Entry function name -> its SASS text."""
    parts = re.split(r"^\s*Function : (\S+)\s*$", sass, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def short_name(mangled: str) -> str:
    demangled = subprocess.run(["c++filt", mangled], capture_output=True, text=True).stdout.strip() or mangled
    demangled = re.sub(r"\(anonymous namespace\)::|redrafter::|^void ", "", demangled)
    for code, dtype in enumerate(("fp32", "fp16", "bf16")):  # LogitsDtype
        demangled = demangled.replace(f"<(LogitsDtype){code}>", f"<{dtype}>")
    return re.sub(r"\([^()]*\)$", "", demangled)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="90", help="compute capability (default 90)")
    p.add_argument("--tools", type=Path, help="a pip --target directory holding nvidia-cuda-cuobjdump")
    args = p.parse_args(argv)
    nvcc = load_build_libs().find_nvcc()
    if nvcc is None:
        print("error: nvcc not found (set $NVCC)", file=sys.stderr)
        return 2
    cuobjdump = find_cuobjdump(nvcc, args.tools)
    if cuobjdump is None:
        print("error: cuobjdump not found (set $CUOBJDUMP or pass --tools, see the docstring)", file=sys.stderr)
        return 2
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    print(f"# SASS facts, sm_{args.arch} ({version}; `python build_scripts/sass_facts.py --arch {args.arch}`)\n")
    print("| kernel file | entry function | " + " | ".join(COUNTS) + " |")
    print("|---|---|" + "---|" * len(COUNTS))
    with tempfile.TemporaryDirectory() as tmp:
        for source in KERNELS:
            cubin = Path(tmp) / f"{source.stem}.cubin"
            compile_cmd = [nvcc, "-std=c++17", "-O3", "-cubin", f"-arch=sm_{args.arch}", str(source), "-o", str(cubin)]
            subprocess.run(compile_cmd, check=True, capture_output=True)
            env = {**os.environ, "PATH": f"{Path(cuobjdump).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            dump = [cuobjdump, "-sass", str(cubin)]
            sass = subprocess.run(dump, check=True, capture_output=True, text=True, env=env).stdout
            for name, body in sorted(functions(sass).items()):
                counts = [str(len(re.findall(pattern, body))) for pattern in COUNTS.values()]
                print(f"| `{source.name}` | `{short_name(name)}` | " + " | ".join(counts) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
