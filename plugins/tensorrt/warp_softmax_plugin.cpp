// TensorRT wrapper of the warped softmax. Contract: warp_softmax_plugin.h.
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "warp_softmax_plugin.h"

#include "../kernels/warp_softmax.h"
#include "float_types.h"

namespace redrafter
{
namespace trt
{

using nvinfer1::DataType;

int32_t WarpSoftmaxPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || !isFloatInputType(inputTypes[0])
        || !isFloatInputType(inputTypes[1]) || inputTypes[2] != DataType::kINT32)
    {
        return reportPluginError(
            "RedrafterWarpSoftmax: expects float/half/bf16 logits and inverted_temperature, int32 gen_lengths");
    }
    outputTypes[0] = DataType::kFLOAT;
    return 0;
}

int32_t WarpSoftmaxPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& /*exprBuilder*/) noexcept
{
    if (nbInputs != kNbInputs || nbShapeInputs != 0 || nbOutputs != kNbOutputs || inputs[0].nbDims != 3
        || inputs[1].nbDims != 1 || inputs[2].nbDims != 1)
    {
        return reportPluginError(
            "RedrafterWarpSoftmax: inputs must be logits [bs, slots, V], inverted_temperature [bs] or [1], "
            "gen_lengths [bs]");
    }
    outputs[0] = inputs[0];
    return 0;
}

bool WarpSoftmaxPlugin::supportsType(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept
{
    DataType const type = inOut[pos].desc.type;
    switch (pos)
    {
    case 0:
    case 1: return isFloatInputType(type);
    case 2: return type == DataType::kINT32;
    default: return type == DataType::kFLOAT;
    }
}

int32_t WarpSoftmaxPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].desc.dims.nbDims != 3
        || in[1].desc.dims.nbDims != 1 || in[2].desc.dims.nbDims != 1)
    {
        return reportPluginError("RedrafterWarpSoftmax: configurePlugin got unexpected inputs");
    }
    if (in[0].desc.dims.d[2] >= kMaxWarpVocab || (in[0].max.nbDims == 3 && in[0].max.d[2] >= kMaxWarpVocab))
    {
        return reportPluginError("RedrafterWarpSoftmax: the vocabulary must be below 2^22");
    }
    return 0;
}

int32_t WarpSoftmaxPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].dims.nbDims != 3 || in[1].dims.nbDims != 1
        || in[2].dims.nbDims != 1)
    {
        return reportPluginError("RedrafterWarpSoftmax: runtime shapes do not match the contract");
    }
    int64_t const bs = in[0].dims.d[0];
    if (in[2].dims.d[0] != bs || (in[1].dims.d[0] != bs && in[1].dims.d[0] != 1))
    {
        return reportPluginError("RedrafterWarpSoftmax: inputs disagree on the batch size");
    }
    if (in[0].dims.d[2] >= kMaxWarpVocab)
    {
        return reportPluginError("RedrafterWarpSoftmax: the vocabulary must be below 2^22");
    }
    return 0;
}

int32_t WarpSoftmaxPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs, void* const* outputs,
    void* /*workspace*/, cudaStream_t stream) noexcept
{
    nvinfer1::Dims const& logitsDims = inputDesc[0].dims;
    int64_t const bs = logitsDims.d[0];
    int64_t const slots = logitsDims.d[1];
    int64_t const vocab = logitsDims.d[2];
    if (bs == 0 || slots == 0 || vocab == 0)
    {
        return 0; // an empty output
    }
    int64_t const temperatures = inputDesc[1].dims.d[0];
    if (bs < 0 || slots < 0 || vocab < 0 || bs > kInt32Max || slots > kInt32Max || vocab > kInt32Max
        || (temperatures != 1 && temperatures != bs))
    {
        return reportPluginError("RedrafterWarpSoftmax: input dims out of range");
    }
    int32_t const status = redrafterWarpSoftmax(inputs[0], floatInputDtype(inputDesc[0].type), inputs[1],
        floatInputDtype(inputDesc[1].type), static_cast<int32_t>(temperatures), static_cast<int32_t const*>(inputs[2]),
        static_cast<int32_t>(bs), static_cast<int32_t>(slots), static_cast<int32_t>(vocab), mAttributes.topK,
        mAttributes.topP, static_cast<float*>(outputs[0]), stream);
    return status == kOk ? 0 : reportPluginError("RedrafterWarpSoftmax: kernel launch failed");
}

} // namespace trt
} // namespace redrafter
