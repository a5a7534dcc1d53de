"""The exact sampling test's target and oracle: a tiny peaked target, the exact joint distribution of
its next L tokens after warping, and a chi-square p-value (no pytest: tests/gpu/check_runtime.py
uses them too)."""

from __future__ import annotations

import torch
from tiny_models import tiny_model

from trtllm_redrafter.runtime.decode import DecodeConfig
from trtllm_redrafter.runtime.sampling import warp_logits

V = 12
PROMPT = [3, 5, 7]
L = 3  # continuation length whose joint distribution is tested


def tiny_target(seed: int = 0):
    model = tiny_model(
        "llama", torch.float64, seed, vocab_size=V, max_position_embeddings=64, tie_word_embeddings=False
    )
    with torch.no_grad():
        model.lm_head.weight.mul_(6.0)  # peaked, text-like distributions
    return model


@torch.no_grad()
def warped_probs(model, contexts: list[list[int]], cfg: DecodeConfig) -> torch.Tensor:
    logits = model(input_ids=torch.tensor(contexts)).logits[:, -1].float()
    return torch.softmax(warp_logits(logits, cfg.temperature, cfg.top_k, cfg.top_p), -1)  # [n, V]


def exact_joint(model, cfg: DecodeConfig) -> dict[tuple[int, ...], float]:
    joint = {(): 1.0}
    for _ in range(L):
        prefixes = list(joint)
        probs = warped_probs(model, [PROMPT + list(p) for p in prefixes], cfg)
        joint = {p + (y,): joint[p] * float(probs[i, y]) for i, p in enumerate(prefixes) for y in range(V)}
    return joint


def chi_square_pvalue(counts: dict, expected: dict, n: int) -> float:
    """Pearson chi-square against the exact distribution; bins with expected < 5 are pooled."""
    big = [k for k, p in expected.items() if p * n >= 5]
    small_p = 1.0 - sum(expected[k] for k in big)
    obs = [counts.get(k, 0) for k in big] + [n - sum(counts.get(k, 0) for k in big)]
    exp = [expected[k] * n for k in big] + [small_p * n]
    if exp[-1] < 5:  # nothing worth a pooled bin
        obs, exp = obs[:-1], exp[:-1]
    stat = sum((o - e) ** 2 / e for o, e in zip(obs, exp))
    dof = len(obs) - 1
    return float(
        torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(stat / 2, dtype=torch.float64))
    )
