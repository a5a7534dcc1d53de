"""The GPU check scripts' stage runner: each stage prints PASS, FAIL or SKIP with its figures, a
failing stage never stops the next one, and a table plus one ``RESULT:`` line end the run."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

Stage = tuple[str, Callable[[], tuple[bool | None, str]]]  # (name, run -> (ok or None = skipped, figures))


def verdict(ok: bool | None) -> str:
    return "SKIP" if ok is None else ("PASS" if ok else "FAIL")


def run_stages(stages: list[Stage], where: str) -> int:
    """Runs every stage; returns the exit status (1 when a stage failed)."""
    results: list[tuple[str, bool | None, str, float]] = []
    for name, stage in stages:
        t0 = time.perf_counter()
        try:
            ok, figures = stage()
        except Exception as exc:  # a stage's failure is reported and the next stage still runs
            traceback.print_exc()
            ok, figures = False, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t0
        print(f"{verdict(ok)} {name}: {figures} ({seconds:.1f} s)", flush=True)
        results.append((name, ok, figures, seconds))
    print("\n| stage | result | figures | s |\n|---|---|---|---|")
    for name, ok, figures, seconds in results:
        print(f"| {name} | {verdict(ok)} | {figures} | {seconds:.1f} |")
    failed = [name for name, ok, _, _ in results if ok is False]
    print(f"RESULT: {'FAIL ' + ', '.join(failed) if failed else 'PASS'} on {where}")
    return 1 if failed else 0
