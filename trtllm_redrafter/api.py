"""High-level API: load a target and a drafter, generate or stream text.

rd = ReDrafter.load("smollm2-135m-instruct", dtype="bfloat16")
for piece in rd.stream_text(rd.encode("Why is the sky blue?"), DecodeConfig()):
    print(piece, end="", flush=True)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from trtllm_redrafter.devices import resolve_device
from trtllm_redrafter.errors import RedrafterError
from trtllm_redrafter.models import ALIASES, DEFAULT_MODEL, load_target_model, parse_dtype, resolve_model
from trtllm_redrafter.runtime.decode import DecodeConfig, Decoder, RowState, stats_of
from trtllm_redrafter.runtime.drafter import Drafter, DrafterConfig, check_compatible, init_drafter
from trtllm_redrafter.runtime.target import HFTarget

ASSETS = Path(__file__).parent / "assets" / "drafters"
CHAT_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>")


def shipped_drafter(model: str) -> Path | None:
    """The drafter committed for a model alias, if there is one (never for a model directory)."""
    if model not in ALIASES:
        return None
    path = ASSETS / model
    return path if (path / "config.json").is_file() else None


def eos_ids(model, tokenizer) -> tuple[int, ...]:
    """EOS ids of the generation config and tokenizer, plus the chat template's end-of-turn token."""
    ids: set[int] = set()
    for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if source is None:
            continue
        ids.update(source if isinstance(source, list) else [source])
    vocab = tokenizer.get_vocab()
    template = tokenizer.chat_template or ""
    ids.update(vocab[t] for t in CHAT_END_TOKENS if t in vocab and t in template)
    return tuple(sorted(ids))


def encode_prompt(tokenizer, prompt: str | list[dict], raw: bool = False) -> list[int]:
    """A prompt string (through the chat template unless raw) or a messages list -> token ids."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise RedrafterError("the prompt is empty")
        if raw:
            return tokenizer(prompt, add_special_tokens=False)["input_ids"]
        prompt = [{"role": "user", "content": prompt}]
    if not tokenizer.chat_template:
        raise RedrafterError("this model has no chat template; pass --raw to use the prompt as plain text")
    text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class ReDrafter:
    def __init__(self, model, tokenizer, drafter: Drafter | None, drafter_source: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.drafter = drafter
        self.drafter_source = drafter_source
        self.target = HFTarget(model)
        self.eos_token_ids = eos_ids(model, tokenizer)

    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        drafter: str | None = None,
        dtype: str = "bfloat16",
        seed: int = 0,
        device: str = "auto",
    ) -> ReDrafter:
        """The target and its drafter on ``device`` (devices.py: auto = CUDA when available)."""
        torch_dtype = parse_dtype(dtype)
        dev = resolve_device(device)
        hf_model, tokenizer = load_target_model(resolve_model(model), torch_dtype)
        target = HFTarget(hf_model.to(dev))
        if drafter is not None:
            source = drafter
            head = Drafter.load(drafter, torch_dtype, target.lm_head.weight)
        elif (path := shipped_drafter(model)) is not None:
            source = f"shipped:{path.name}"
            head = Drafter.load(path, torch_dtype, target.lm_head.weight)
        else:
            source = f"fresh-init(seed={seed})"
            print(
                f"[trtllm-redrafter] no trained drafter for {model!r}: using a freshly initialised one "
                f"(seed {seed}); output stays exact, acceptance will be low",
                file=sys.stderr,
            )
            cfg = DrafterConfig(
                target.vocab_size, target.hidden_size, exit_dim=target.hidden_size, lm_head_from_target=True
            )
            head = init_drafter(cfg, seed=seed).to(torch_dtype).attach_target_head(target.lm_head.weight)
        check_compatible(head.config, target.vocab_size, target.hidden_size, where=f"drafter {source}")
        return cls(hf_model, tokenizer, head.to(dev), source)

    # ---- prompts ---------------------------------------------------------------------------
    def encode(self, prompt: str | list[dict], raw: bool = False) -> list[int]:
        return encode_prompt(self.tokenizer, prompt, raw)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # ---- generation ------------------------------------------------------------------------
    def decoder(self, config: DecodeConfig) -> Decoder:
        config = replace(config, eos_token_ids=config.eos_token_ids or self.eos_token_ids)
        return Decoder(self.target, self.drafter, config, detokenize=self.decode)

    def generate(self, prompts: list[list[int]], config: DecodeConfig) -> list[dict]:
        decoder = self.decoder(config)
        rows = decoder.generate(prompts)
        return [self.result(row, decoder.config) for row in rows]

    def result(self, row: RowState, config: DecodeConfig) -> dict:
        text = row.text if row.text is not None else self.decode(row.token_ids)
        return {"token_ids": row.token_ids, "text": text, "stats": stats_of(row, config.max_tree_tokens)}

    def stream_text(self, prompt_ids: list[int], config: DecodeConfig) -> Iterator[str | dict]:
        """Yield text pieces as tokens are accepted, then the final result dict."""
        decoder = self.decoder(config)
        tokens: list[int] = []
        shown = ""
        for event in decoder.stream([prompt_ids]):
            tokens.extend(event.new_tokens)
            row = decoder.rows[0]
            text = row.text if row.text is not None else self.decode(tokens)
            if text.endswith("\ufffd") and not event.done:  # an incomplete UTF-8 sequence: wait
                continue
            if len(text) > len(shown):
                yield text[len(shown) :]
                shown = text
        yield self.result(decoder.rows[0], decoder.config)
