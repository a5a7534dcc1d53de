"""trtllm-redrafter: ReDrafter for TensorRT-LLM, with an exact PyTorch reference runtime.

Where things are. ``runtime/`` is the exact reference decoder, one module per step of the
algorithm: start at ``runtime/decode.py`` (``Decoder.stream``), which calls ``beam_search``,
``tree``, ``target`` and ``accept`` in that order. ``api.py`` (``ReDrafter``) loads a target and a
drafter and runs that decoder; ``models.py`` resolves model aliases and loads models. Above the
API sit two peers: ``training/`` distils a drafter from a frozen target, and ``trtllm/`` converts
a model and drafter into a TensorRT-LLM checkpoint and engine. ``bench/``, above both, measures
speed and exactness. ``ops/`` loads the CUDA kernels of ``plugins/``. ``cli/`` is the command line, one
module per command group. ``devices.py``, ``errors.py`` and ``files.py`` are small helpers every
layer may use. Imports run one way only:

    cli -> bench -> training, trtllm -> api -> runtime -> ops -> (devices, errors, files, models)

``build_scripts/import_graph.py`` prints the graph and fails on a cycle or an upward import.
"""

__version__ = "0.1.0"
