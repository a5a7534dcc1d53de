"""Shared fixtures: tiny random-weight targets of several architectures, and an oracle proposer."""

from __future__ import annotations

import random

import pytest
import torch
from tiny_models import ARCHS, HIDDEN, VOCAB, hf_greedy, tiny_model  # noqa: F401 (re-exported to the tests)


class OracleProposer:
    """Proposes beams that include (parts of) the true greedy continuation.

    It finds where each row is by matching the drafter context ``hidden`` against the target's
    hidden states over the reference sequences (nearest neighbour; exact in float64), then builds
    beams mixing: the full true continuation, the true continuation broken at a random depth,
    duplicates of one beam, and random tokens. This exercises full, partial and zero acceptance,
    prefix dedupe and the cache bookkeeping.
    """

    def __init__(self, model, prompts: list[list[int]], continuations: list[list[int]], seed: int = 0) -> None:
        self.seqs: list[list[int]] = []
        keys, where = [], []
        with torch.no_grad():
            for prompt, cont in zip(prompts, continuations):
                seq = prompt + cont
                h = model.get_decoder()(input_ids=torch.tensor([seq])).last_hidden_state[0]  # [T, H]
                for p in range(len(seq)):
                    keys.append(h[p])
                    where.append((len(self.seqs), p))
                self.seqs.append(seq)
        self.keys = torch.stack(keys)  # [N, H]
        self.where = where
        self.vocab = model.config.vocab_size
        self.rng = random.Random(seed)

    def __call__(self, hidden: torch.Tensor, root: torch.Tensor, nb: int, draft_len: int) -> torch.Tensor:
        bs = hidden.shape[0]
        vocab = self.vocab
        out = torch.zeros(bs, nb, draft_len + 1, dtype=torch.long)
        dist = torch.cdist(hidden.to(self.keys.dtype), self.keys)  # [bs, N]
        for b in range(bs):
            s, p = self.where[int(dist[b].argmin())]
            true = self.seqs[s][p + 2 : p + 2 + draft_len]
            true = true + [self.rng.randrange(vocab) for _ in range(draft_len - len(true))]
            beams = [[self.rng.randrange(vocab) for _ in range(draft_len)] for _ in range(nb)]
            kind = self.rng.random()
            slot = self.rng.randrange(nb)
            if kind < 0.35:  # full acceptance
                beams[slot] = list(true)
            elif kind < 0.7:  # partial: break the true continuation at a random depth
                d = self.rng.randrange(draft_len)
                beams[slot] = true[:d] + [(true[d] + 1) % vocab] + true[d + 1 :]
            elif kind < 0.85:  # all beams identical (maximal dedupe), true prefix
                beams = [list(true)] * nb
            for i in range(nb):
                out[b, i] = torch.tensor([int(root[b])] + beams[i])
        return out


@pytest.fixture(params=ARCHS)
def arch(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def smol_dir():
    """The converted default model directory (converted once per machine)."""
    from trtllm_redrafter.models import DEFAULT_MODEL, resolve_model

    return resolve_model(DEFAULT_MODEL)


def save_tiny_with_tokenizer(smol_dir, out, seed: int = 0, hidden: int = 32):
    """A tiny random Llama that shares SmolLM2's tokenizer and chat template (float32 on disk)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smol_dir)
    settings = dict(vocab_size=len(tok), hidden_size=hidden, max_position_embeddings=2048)
    ids = dict(bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)
    tiny_model("llama", torch.float32, seed, **settings, **ids).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_smol(smol_dir, tmp_path_factory):
    return save_tiny_with_tokenizer(smol_dir, tmp_path_factory.mktemp("tiny_smol"))
