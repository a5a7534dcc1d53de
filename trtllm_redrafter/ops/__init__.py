"""The CUDA kernels of ``plugins/`` as seen from Python.

    plugins.py   load the TensorRT plugin library and add its plugins to a TensorRT-LLM network

It imports nothing heavy at module level (no tensorrt, no tensorrt_llm), so any layer may import it.
"""
