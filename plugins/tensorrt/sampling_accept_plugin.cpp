// TensorRT wrapper of sampling acceptance. Contract: sampling_accept_plugin.h.
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "sampling_accept_plugin.h"

#include "../kernels/sampling_accept.h"
#include "accept_outputs.h"
#include "float_types.h"

namespace redrafter
{
namespace trt
{

using nvinfer1::DataType;

int32_t SamplingAcceptPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || inputTypes[0] != DataType::kFLOAT
        || inputTypes[1] != DataType::kINT32 || inputTypes[2] != DataType::kINT32 || inputTypes[3] != DataType::kINT32
        || !isFloatInputType(inputTypes[4]) || inputTypes[5] != inputTypes[4])
    {
        return reportPluginError(
            "RedrafterSamplingAccept: expects float32 probs, three int32 inputs and two uniforms of one float type");
    }
    for (int32_t k = 0; k < nbOutputs; ++k)
    {
        outputTypes[k] = DataType::kINT32;
    }
    return 0;
}

int32_t SamplingAcceptPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != kNbInputs || nbShapeInputs != 0 || nbOutputs != kNbOutputs || inputs[0].nbDims != 3
        || inputs[1].nbDims != 3 || inputs[2].nbDims != 3 || inputs[3].nbDims != 1 || inputs[4].nbDims != 3
        || inputs[5].nbDims != 1)
    {
        return reportPluginError(
            "RedrafterSamplingAccept: inputs must be probs [bs, slots, V], draft_tokens and draft_indices [bs, nb, "
            "bl], gen_lengths [bs], rand_validation [bs, nb, bl-1], rand_sample [bs]");
    }
    for (int32_t input : {1, 2, 4})
    {
        int64_t const last = input == 4 ? mAttributes.beamLength - 1 : mAttributes.beamLength;
        if (!mAttributes.constantsMatchBeams(inputs[input], last))
        {
            return reportPluginError("RedrafterSamplingAccept: beam dims differ from num_beams / beam_length");
        }
    }
    setAcceptOutputShapes(inputs[1].d[0], exprBuilder.constant(mAttributes.beamLength), outputs);
    return 0;
}

bool SamplingAcceptPlugin::supportsType(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept
{
    DataType const type = inOut[pos].desc.type;
    switch (pos)
    {
    case 0: return type == DataType::kFLOAT;
    case 4: return isFloatInputType(type);
    case 5: return type == inOut[4].desc.type; // TensorRT asks in position order: 4 is settled
    default: return type == DataType::kINT32;
    }
}

int32_t SamplingAcceptPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].desc.dims.nbDims != 3
        || !mAttributes.matchesBeams(in[1].desc.dims, bl) || !mAttributes.matchesBeams(in[2].desc.dims, bl)
        || !mAttributes.matchesBeams(in[4].desc.dims, bl - 1) || in[3].desc.dims.nbDims != 1
        || in[5].desc.dims.nbDims != 1)
    {
        return reportPluginError("RedrafterSamplingAccept: configurePlugin got unexpected inputs");
    }
    if (!samplingFitsSharedMemory(mAttributes.numBeams))
    {
        return reportPluginError(
            "RedrafterSamplingAccept: num_beams must be <= 3748 (static plus dynamic shared memory within 48 KiB); "
            "the kernel would refuse to launch");
    }
    return 0;
}

int32_t SamplingAcceptPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].dims.nbDims != 3
        || !mAttributes.matchesBeams(in[1].dims, bl) || !mAttributes.matchesBeams(in[2].dims, bl)
        || !mAttributes.matchesBeams(in[4].dims, bl - 1) || in[3].dims.nbDims != 1 || in[5].dims.nbDims != 1)
    {
        return reportPluginError("RedrafterSamplingAccept: runtime shapes do not match the contract");
    }
    int64_t const bs = in[0].dims.d[0];
    for (int32_t k = 1; k < kNbInputs; ++k)
    {
        if (in[k].dims.d[0] != bs)
        {
            return reportPluginError("RedrafterSamplingAccept: inputs disagree on the batch size");
        }
    }
    return 0;
}

int32_t SamplingAcceptPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs, void* const* outputs,
    void* /*workspace*/, cudaStream_t stream) noexcept
{
    nvinfer1::Dims const& probsDims = inputDesc[0].dims;
    int64_t const bs = probsDims.d[0];
    int64_t const slots = probsDims.d[1];
    int64_t const vocab = probsDims.d[2];
    if (bs == 0)
    {
        return 0;
    }
    if (bs < 0 || slots < 1 || vocab < 1 || bs > kInt32Max || slots > kInt32Max || vocab > kInt32Max)
    {
        return reportPluginError("RedrafterSamplingAccept: probs dims out of range");
    }
    int32_t const status = redrafterSamplingAccept(static_cast<float const*>(inputs[0]),
        static_cast<int32_t const*>(inputs[1]), static_cast<int32_t const*>(inputs[2]),
        static_cast<int32_t const*>(inputs[3]), inputs[4], inputs[5], floatInputDtype(inputDesc[5].type),
        static_cast<int32_t>(bs), static_cast<int32_t>(slots), static_cast<int32_t>(vocab), mAttributes.numBeams,
        mAttributes.beamLength, static_cast<int32_t*>(outputs[0]), static_cast<int32_t*>(outputs[1]),
        static_cast<int32_t*>(outputs[2]), static_cast<int32_t*>(outputs[3]), static_cast<int32_t*>(outputs[4]),
        static_cast<int32_t*>(outputs[5]), stream);
    return status == kOk ? 0 : reportPluginError("RedrafterSamplingAccept: kernel launch failed");
}

} // namespace trt
} // namespace redrafter
