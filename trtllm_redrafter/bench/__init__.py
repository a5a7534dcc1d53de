"""Measurement: ReDrafter's speed against other decoders, and its exactness against HF ``generate``.

    data.py      ``prepare-dataset``: Spec-Bench + MT-Bench requests in trtllm-bench's JSONL format
    settings.py  the method names, their baselines and ``bench``'s settings
    methods.py   one adapter per decoder (HF, prompt lookup, assisted, llama.cpp, ReDrafter, engines)
    run.py       ``bench``: the interleaved run and the beam-shape sweep
    report.py    medians, spread, speedups, tables and plots of a bench run
    summary.py   ``summarize``: tokens/step and speedup of ``run --json`` files
    parity.py    ``parity``: ``run --json`` output against HF greedy ``generate``

docs/benchmarks.md describes the method and holds the results.
"""
