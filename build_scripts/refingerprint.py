"""Move corpus and features manifests from the version-1 target fingerprint to version 2.

    python build_scripts/refingerprint.py data/distill/smollm2-135m-instruct runs/features/orig \\
        --model smollm2-135m-instruct --written-by 5.24.0

Version 1 hashed the bytes of the target's files, ``config.json`` included, and that file names the
transformers release that wrote it (training/fingerprint.py). A manifest is moved only when its
version-1 hash equals this target's, computed from the files as they are or with
``transformers_version`` set to ``--written-by``: the same weights and config, written by another
release. Anything else is refused and nothing is written. Each manifest is replaced atomically;
rank manifests (``manifest.rank*-of-*.json``) beside it are moved the same way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trtllm_redrafter.files import write_json_atomic
from trtllm_redrafter.models import resolve_model
from trtllm_redrafter.training.fingerprint import FINGERPRINT_VERSION, legacy_fingerprint, target_record
from trtllm_redrafter.training.shards import MANIFEST, manifest_paths, read_json


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", type=Path, help="corpus or features directories")
    ap.add_argument("--model", required=True, help="the target alias or directory the manifests name")
    ap.add_argument("--written-by", help="the transformers release that wrote config.json when they were built")
    args = ap.parse_args()
    model_dir = resolve_model(args.model)
    legacy = {legacy_fingerprint(model_dir)}
    if args.written_by:
        legacy.add(legacy_fingerprint(model_dir, args.written_by))
    moves = []
    for d in args.dirs:
        paths = manifest_paths(d)
        if not paths:
            print(f"refingerprint: {d} holds no {MANIFEST}", file=sys.stderr)
            return 2
        for p in paths:
            manifest = read_json(p)
            target = manifest.get("target", {})
            if target.get("fingerprint") == FINGERPRINT_VERSION:
                print(f"{p}: already version {FINGERPRINT_VERSION}")
            elif target.get("sha256") in legacy:
                moves.append((p, {**manifest, "target": target_record(target["model"], model_dir)}))
            else:
                print(f"refingerprint: {p} was not built from {model_dir}; nothing written", file=sys.stderr)
                return 2
    for p, manifest in moves:  # only once every manifest has passed
        write_json_atomic(p, manifest)
        print(f"{p}: version 1 -> {FINGERPRINT_VERSION} ({manifest['target']['sha256'][:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
