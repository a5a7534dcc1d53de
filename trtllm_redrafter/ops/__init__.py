"""The CUDA kernels of ``plugins/`` as seen from Python.

    plugins.py    load the TensorRT plugin library and add its plugins to a TensorRT-LLM network
    torch_ops.py  build and load torch.ops.redrafter (plugins/torch/redrafter_ops.cpp) with cpp_extension

It imports nothing heavy at module level (no tensorrt, no tensorrt_llm), so any layer may import it.
"""
