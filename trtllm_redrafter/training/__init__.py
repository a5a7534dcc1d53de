"""Distillation: train a drafter for a target by knowledge distillation from the frozen target.

    corpus.py        ``distill-data``: the target answers training prompts; the tokens are stored in shards
    features.py      ``distill-features``: the target's hidden states and top-k log-probs, computed once
    batches.py       the data loader: samples -> padded batches with the target's view of them
    loss.py          the KD loss over the drafter unrolled from every position (teacher forcing)
    drafter_init.py  the drafter a run starts as: architecture, draft vocabulary, initial weights
    settings.py      ``train``'s settings and the learning-rate schedule
    train.py         the training loop (DDP under torchrun)
    evaluate.py      held-out and teacher-forced agreement with the target's argmax
    checkpoint.py    kill-safe checkpoints and exact resume
    logs.py          log.csv, history.json, loss.png

docs/distillation.md has the recipe and the record of every shipped drafter.
"""
