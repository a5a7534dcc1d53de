"""The exact reference runtime: the oracle every other layer is tested against.

One decode step (``decode.Decoder.stream``, one loop iteration), in reading order:

    drafter.py      the recurrent draft head: hidden state + RNN state -> draft logits
    beam_search.py  nb beams of draft_len tokens from the drafter
    lookup.py       optional: one more beam copied from the context (docs/lookup.md)
    tree.py         the beams' shared prefixes packed into one tree, and its attention mask
    target.py       the target verifies the whole tree in one forward against its KV cache
    accept.py       greedy acceptance: the longest matching beam prefix, plus a bonus token
    sampling.py     exact speculative sampling: the same with the target's warped distribution
    decode.py       the loop that runs them and keeps the accepted path in the cache
    kernels.py      steps 2 and 4 through torch.ops.redrafter instead (``kernels="ops"``)

Imports run downward only: this package uses torch, ``errors`` and ``ops``, never
``api``, ``training``, ``bench``, ``trtllm`` or ``cli``.
"""
