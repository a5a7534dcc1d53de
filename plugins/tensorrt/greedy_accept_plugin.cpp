// TensorRT wrapper of greedy acceptance. Contract: greedy_accept_plugin.h.
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "greedy_accept_plugin.h"

#include "../kernels/greedy_accept.h"
#include "accept_outputs.h"
#include "float_types.h"

namespace redrafter
{
namespace trt
{

using nvinfer1::DataType;

int32_t GreedyAcceptPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || !isFloatInputType(inputTypes[0])
        || inputTypes[1] != DataType::kINT32 || inputTypes[2] != DataType::kINT32 || inputTypes[3] != DataType::kINT32)
    {
        return reportPluginError("RedrafterGreedyAccept: expects float/half/bf16 logits and three int32 inputs");
    }
    for (int32_t k = 0; k < nbOutputs; ++k)
    {
        outputTypes[k] = DataType::kINT32;
    }
    return 0;
}

int32_t GreedyAcceptPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != kNbInputs || nbShapeInputs != 0 || nbOutputs != kNbOutputs || inputs[0].nbDims != 3
        || inputs[1].nbDims != 3 || inputs[2].nbDims != 3 || inputs[3].nbDims != 1)
    {
        return reportPluginError(
            "RedrafterGreedyAccept: inputs must be logits [bs, slots, V], draft_tokens and draft_indices [bs, nb, bl], "
            "gen_lengths [bs]");
    }
    for (int32_t input = 1; input <= 2; ++input)
    {
        if (!mAttributes.constantsMatchBeams(inputs[input], mAttributes.beamLength))
        {
            return reportPluginError("RedrafterGreedyAccept: beam dims differ from num_beams / beam_length");
        }
    }
    setAcceptOutputShapes(inputs[1].d[0], exprBuilder.constant(mAttributes.beamLength), outputs);
    return 0;
}

bool GreedyAcceptPlugin::supportsType(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept
{
    DataType const type = inOut[pos].desc.type;
    return pos == 0 ? isFloatInputType(type) : type == DataType::kINT32;
}

int32_t GreedyAcceptPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].desc.dims.nbDims != 3
        || !mAttributes.matchesBeams(in[1].desc.dims, bl) || !mAttributes.matchesBeams(in[2].desc.dims, bl))
    {
        return reportPluginError("RedrafterGreedyAccept: configurePlugin got unexpected inputs");
    }
    return 0;
}

size_t GreedyAcceptPlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*outputs*/, int32_t /*nbOutputs*/) const noexcept
{
    if (nbInputs != kNbInputs || inputs[0].max.nbDims != 3)
    {
        return 0;
    }
    int64_t const bs = inputs[0].max.d[0];
    int64_t const slots = inputs[0].max.d[1];
    if (bs < 1 || slots < 1 || bs > kInt32Max || slots > kInt32Max)
    {
        return 0;
    }
    return greedyAcceptWorkspaceBytes(static_cast<int32_t>(bs), static_cast<int32_t>(slots));
}

int32_t GreedyAcceptPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].dims.nbDims != 3
        || !mAttributes.matchesBeams(in[1].dims, bl) || !mAttributes.matchesBeams(in[2].dims, bl)
        || in[3].dims.nbDims != 1)
    {
        return reportPluginError("RedrafterGreedyAccept: runtime shapes do not match the contract");
    }
    int64_t const bs = in[0].dims.d[0];
    if (in[1].dims.d[0] != bs || in[2].dims.d[0] != bs || in[3].dims.d[0] != bs)
    {
        return reportPluginError("RedrafterGreedyAccept: inputs disagree on the batch size");
    }
    return 0;
}

int32_t GreedyAcceptPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs, void* const* outputs, void* workspace,
    cudaStream_t stream) noexcept
{
    nvinfer1::Dims const& logitsDims = inputDesc[0].dims;
    int64_t const bs = logitsDims.d[0];
    int64_t const slots = logitsDims.d[1];
    int64_t const vocab = logitsDims.d[2];
    if (bs == 0)
    {
        return 0;
    }
    if (bs < 0 || slots < 1 || vocab < 1 || bs > kInt32Max || slots > kInt32Max || vocab > kInt32Max)
    {
        return reportPluginError("RedrafterGreedyAccept: logits dims out of range");
    }
    int32_t const status = redrafterGreedyAccept(inputs[0], floatInputDtype(inputDesc[0].type),
        static_cast<int32_t const*>(inputs[1]), static_cast<int32_t const*>(inputs[2]),
        static_cast<int32_t const*>(inputs[3]), static_cast<int32_t>(bs), static_cast<int32_t>(slots),
        static_cast<int32_t>(vocab), mAttributes.numBeams, mAttributes.beamLength, workspace,
        static_cast<int32_t*>(outputs[0]), static_cast<int32_t*>(outputs[1]), static_cast<int32_t*>(outputs[2]),
        static_cast<int32_t*>(outputs[3]), static_cast<int32_t*>(outputs[4]), static_cast<int32_t*>(outputs[5]),
        stream);
    return status == kOk ? 0 : reportPluginError("RedrafterGreedyAccept: kernel launch failed");
}

} // namespace trt
} // namespace redrafter
