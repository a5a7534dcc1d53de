"""trtllm-redrafter: Apple's Recurrent Drafter as a TensorRT-LLM plugin and engine builder.

torch is deliberately not pinned here: NVIDIA's TensorRT-LLM container brings its own build.
On a CPU machine install the pinned CPU wheel first (see requirements-cpu.txt and the README).
"""

from setuptools import find_packages, setup

setup(
    name="trtllm-redrafter",
    version="0.1.0",
    description="ReDrafter (recurrent drafter + dynamic tree attention) for TensorRT-LLM, with a PyTorch reference",
    python_requires=">=3.10",
    packages=find_packages(include=["trtllm_redrafter", "trtllm_redrafter.*"]),
    package_data={"trtllm_redrafter": ["assets/**/*"]},
    install_requires=[
        "torch>=2.4",
        "transformers>=5,<6",
        "safetensors>=0.4",
        "accelerate>=1.0",
        "gguf>=0.10",
        "numpy>=1.24",
        "tqdm>=4.60",
        "ninja>=1.11",  # torch.utils.cpp_extension builds the torch ops (ops/torch_ops.py)
        "rich>=13",
        "matplotlib>=3.7",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.5"],
        # the optional llama.cpp row of `bench` (compiles from source, about 5 min on 2 cores)
        "llamacpp": ["llama-cpp-python>=0.3", "diskcache>=5"],
        # Installable only from NVIDIA's index / inside NVIDIA's container; never imported by the CPU path.
        "trtllm": ["tensorrt_llm", "tensorrt", "cuda-python"],
    },
    entry_points={"console_scripts": ["trtllm-redrafter=trtllm_redrafter.cli:main"]},
)
