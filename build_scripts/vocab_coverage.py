"""Coverage of a corpus's response tokens by its most frequent V' tokens (docs/distillation.md).

python build_scripts/vocab_coverage.py data/distill/smollm2-135m-instruct 1024 2048 4096 8192
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def response_counts(corpus: Path) -> torch.Tensor:
    counts = torch.zeros(0, dtype=torch.long)
    manifest = json.loads((corpus / "manifest.json").read_text())
    for shard in manifest["shards"]:
        t = load_file(str(corpus / shard["file"]))
        tokens, offsets, plens = t["tokens"].long(), t["offsets"].tolist(), t["prompt_lens"].tolist()
        for j, plen in enumerate(plens):
            c = torch.bincount(tokens[offsets[j] + plen : offsets[j + 1]])
            if c.numel() > counts.numel():
                counts = torch.cat([counts, counts.new_zeros(c.numel() - counts.numel())])
            counts[: c.numel()] += c
    return counts


def main(argv: list[str]) -> None:
    corpus, sizes = Path(argv[0]), [int(v) for v in argv[1:]]
    counts = response_counts(corpus)
    total = int(counts.sum())
    cum = counts.sort(descending=True).values.cumsum(0)
    cover = {v: round(float(cum[v - 1]) / total, 4) for v in sizes}
    print(json.dumps({"response_tokens": total, "distinct": int((counts > 0).sum()), "coverage": cover}))


if __name__ == "__main__":
    main(sys.argv[1:])
