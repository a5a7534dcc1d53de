"""The TensorRT-LLM layer: checkpoint converter, network definition, engine builder, runtime backend.

    hf_model.py            read an HF base model directory (config + safetensors), no model class loaded
    sharding.py            tensor-parallel splits (column, row, fused QKV with GQA head replication)
    checkpoint_config.py   the TensorRT-LLM ``config.json`` (PretrainedConfig fields + ``redrafter_*``)
    convert.py             ``trtllm-redrafter convert``: HF base + Apple drafter -> TensorRT-LLM checkpoint
    engine_io.py           engine input/output names the TensorRT-LLM runtime binds (checked against docs)
    availability.py        is TensorRT-LLM importable and is there a GPU?
    drafter_module.py      the drafter as a TensorRT-LLM ``Module``            (needs tensorrt_llm)
    graph_ops.py           beam search, mask unpacking, acceptance as TRT-LLM functional ops (needs it)
    network.py             the ReDrafter model class over TRT-LLM's Llama/Qwen classes (needs it)
    builder.py             checkpoint -> engine, with our plugin library loaded  (needs it)
    runtime.py             run a built engine through ModelRunnerCpp              (needs it)

Only the modules marked "needs it" import ``tensorrt_llm``, and only inside functions, so importing
any module of this package (and running the CPU test suite) never imports TensorRT or TensorRT-LLM.
Its ``convert`` and ``build`` subcommands are in ``cli/engine.py``. See docs/trtllm.md.
"""
