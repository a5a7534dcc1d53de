"""trtllm-redrafter: ReDrafter for TensorRT-LLM, with an exact PyTorch reference runtime.

Follow one decoding step: decode.py (the loop) -> beam_search.py -> tree.py -> target.py -> accept.py.
"""

__version__ = "0.1.0"
