// The TensorRT data types of the float inputs (logits, temperatures, uniforms) and their
// LogitsDtype codes (plugins/common/logits_dtype.h), shared by the sampling plugins.
#pragma once

#include "../common/logits_dtype.h"

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

// float32, float16 or bfloat16.
inline bool isFloatInputType(nvinfer1::DataType type) noexcept
{
    return type == nvinfer1::DataType::kFLOAT || type == nvinfer1::DataType::kHALF
        || type == nvinfer1::DataType::kBF16;
}

// The LogitsDtype value of a float input type (isFloatInputType must hold).
inline int32_t floatInputDtype(nvinfer1::DataType type) noexcept
{
    switch (type)
    {
    case nvinfer1::DataType::kHALF: return static_cast<int32_t>(LogitsDtype::kFloat16);
    case nvinfer1::DataType::kBF16: return static_cast<int32_t>(LogitsDtype::kBFloat16);
    default: return static_cast<int32_t>(LogitsDtype::kFloat32);
    }
}

} // namespace trt
} // namespace redrafter
