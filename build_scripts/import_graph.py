#!/usr/bin/env python3
"""The package's import graph: print it, and fail on an import cycle or an import that runs upward.

    python build_scripts/import_graph.py              # layer graph, then any violation; exit 1 on one
    python build_scripts/import_graph.py --modules    # also every module-to-module edge

Every ``import`` and ``from ... import`` of ``trtllm_redrafter`` counts, wherever it stands (module
level, inside a function, under ``TYPE_CHECKING``), read with ``ast`` so nothing is imported. The
layers, highest first; an edge may run down or stay inside its own layer, never up or sideways:

    cli  >  bench  >  training | trtllm  >  api  >  runtime  >  ops  >  base (devices, errors, files, models)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

PACKAGE = "trtllm_redrafter"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
RANKS = {"base": 0, "ops": 1, "runtime": 2, "api": 3, "training": 4, "trtllm": 4, "bench": 5, "cli": 6}
BASE = {PACKAGE, f"{PACKAGE}.devices", f"{PACKAGE}.errors", f"{PACKAGE}.files", f"{PACKAGE}.models"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package modules that ``path`` imports (``from a import b`` names a.b when b is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == PACKAGE:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs if subs else {node.module}
    return out & known


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    return {m: imports_of(p, set(mods)) - {m} for m, p in mods.items()}


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    return module.split(".")[1]  # api, runtime, training, ...


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def unplaced(g: dict[str, set[str]]) -> list[str]:
    """Modules in no layer: a new top-level module must join a layer (or ``BASE``) first."""
    return sorted(m for m in g if layer(m) not in RANKS)


def upward(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges from a layer to a higher one, or to a different layer of the same rank."""
    bad = []
    for src, dsts in sorted(g.items()):
        for dst in sorted(dsts):
            a, b = layer(src), layer(dst)
            if a != b and a in RANKS and b in RANKS and RANKS[a] <= RANKS[b]:
                bad.append((src, dst))
    return bad


def layer_edges(g: dict[str, set[str]]) -> Counter:
    return Counter((layer(s), layer(d)) for s, ds in g.items() for d in ds if layer(s) != layer(d))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", action="store_true", help="also print every module-to-module edge")
    parser.add_argument("--root", type=Path, default=ROOT, help="the package directory (default: this checkout's)")
    args = parser.parse_args(argv)
    g = graph(args.root.resolve())
    print(f"{len(g)} modules, {sum(map(len, g.values()))} import edges")
    print("layer edges (importing layer -> imported layer: number of module edges):")
    for (a, b), n in sorted(layer_edges(g).items(), key=lambda kv: (-RANKS.get(kv[0][0], 9), kv[0])):
        print(f"  {a:>8} -> {b:<8} {n}")
    if args.modules:
        for src, dsts in sorted(g.items()):
            print(f"{src} -> {', '.join(sorted(dsts)) or '-'}")
    found, bad, loose = cycles(g), upward(g), unplaced(g)
    for m in loose:
        print(f"UNPLACED: {m} is in no layer")
    for comp in found:
        print("CYCLE: " + " <-> ".join(comp))
    for src, dst in bad:
        print(f"UPWARD: {src} ({layer(src)}) imports {dst} ({layer(dst)})")
    ok = not (found or bad or loose)
    print("no cycles, no upward imports" if ok else f"{len(found)} cycles, {len(bad)} upward, {len(loose)} unplaced")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
