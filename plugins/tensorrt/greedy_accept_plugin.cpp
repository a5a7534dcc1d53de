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

namespace
{

enum Input : int32_t
{
    kLogits = 0,
    kRowOffsets = 1,
    kDraftTokens = 2,
    kDraftIndices = 3,
    kGenLengths = 4,
};

} // namespace

bool GreedyAcceptAttributes::valid() const noexcept
{
    return BeamShapeAttributes::valid() && maxBatchSize >= 1 && maxBatchSize <= kArgmaxMaxRequests;
}

size_t GreedyAcceptPlugin::workspaceBytes() const noexcept
{
    return greedyAcceptWorkspaceBytes(
        mAttributes.maxBatchSize, packedCapacity(mAttributes.numBeams, mAttributes.beamLength));
}

int32_t GreedyAcceptPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || !isFloatInputType(inputTypes[kLogits]))
    {
        return reportPluginError("RedrafterGreedyAccept: expects float/half/bf16 logits and four int32 inputs");
    }
    for (int32_t k = kRowOffsets; k < kNbInputs; ++k)
    {
        if (inputTypes[k] != DataType::kINT32)
        {
            return reportPluginError("RedrafterGreedyAccept: expects float/half/bf16 logits and four int32 inputs");
        }
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
    if (nbInputs != kNbInputs || nbShapeInputs != 0 || nbOutputs != kNbOutputs || inputs[kLogits].nbDims != 2
        || inputs[kRowOffsets].nbDims != 1 || inputs[kDraftTokens].nbDims != 3 || inputs[kDraftIndices].nbDims != 3
        || inputs[kGenLengths].nbDims != 1)
    {
        return reportPluginError(
            "RedrafterGreedyAccept: inputs must be logits [R, V], row_offsets [bs], draft_tokens and draft_indices "
            "[bs, nb, bl], gen_lengths [bs]");
    }
    for (int32_t input : {kDraftTokens, kDraftIndices})
    {
        if (!mAttributes.constantsMatchBeams(inputs[input], mAttributes.beamLength))
        {
            return reportPluginError("RedrafterGreedyAccept: beam dims differ from num_beams / beam_length");
        }
    }
    setAcceptOutputShapes(inputs[kDraftTokens].d[0], exprBuilder.constant(mAttributes.beamLength), outputs);
    return 0;
}

bool GreedyAcceptPlugin::supportsType(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept
{
    DataType const type = inOut[pos].desc.type;
    return pos == kLogits ? isFloatInputType(type) : type == DataType::kINT32;
}

int32_t GreedyAcceptPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[kLogits].desc.dims.nbDims != 2
        || in[kRowOffsets].desc.dims.nbDims != 1 || !mAttributes.matchesBeams(in[kDraftTokens].desc.dims, bl)
        || !mAttributes.matchesBeams(in[kDraftIndices].desc.dims, bl) || in[kGenLengths].desc.dims.nbDims != 1)
    {
        return reportPluginError("RedrafterGreedyAccept: configurePlugin got unexpected inputs");
    }
    // What enqueue refuses, refused when the engine is built: a profile whose batch can exceed the
    // workspace's max_batch_size.
    for (int32_t input : {kRowOffsets, kDraftTokens, kDraftIndices, kGenLengths})
    {
        nvinfer1::Dims const& max = in[input].max;
        if (max.nbDims >= 1 && max.d[0] > mAttributes.maxBatchSize)
        {
            return reportPluginError(
                "RedrafterGreedyAccept: the profile's batch can exceed max_batch_size (bound the generation batch "
                "or raise max_batch_size)");
        }
    }
    return 0;
}

size_t GreedyAcceptPlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* /*inputs*/,
    int32_t /*nbInputs*/, nvinfer1::DynamicPluginTensorDesc const* /*outputs*/, int32_t /*nbOutputs*/) const noexcept
{
    return workspaceBytes(); // the attributes alone: R, the only data-dependent dim, plays no part
}

int32_t GreedyAcceptPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[kLogits].dims.nbDims != 2
        || in[kRowOffsets].dims.nbDims != 1 || !mAttributes.matchesBeams(in[kDraftTokens].dims, bl)
        || !mAttributes.matchesBeams(in[kDraftIndices].dims, bl) || in[kGenLengths].dims.nbDims != 1)
    {
        return reportPluginError("RedrafterGreedyAccept: runtime shapes do not match the contract");
    }
    int64_t const bs = in[kDraftTokens].dims.d[0];
    if (in[kRowOffsets].dims.d[0] != bs || in[kDraftIndices].dims.d[0] != bs || in[kGenLengths].dims.d[0] != bs)
    {
        return reportPluginError("RedrafterGreedyAccept: inputs disagree on the batch size");
    }
    if (bs > mAttributes.maxBatchSize)
    {
        return reportPluginError("RedrafterGreedyAccept: the batch exceeds max_batch_size");
    }
    return 0;
}

int32_t GreedyAcceptPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs, void* const* outputs, void* workspace,
    cudaStream_t stream) noexcept
{
    int64_t const bs = inputDesc[kDraftTokens].dims.d[0];
    int64_t const rows = inputDesc[kLogits].dims.d[0];
    int64_t const vocab = inputDesc[kLogits].dims.d[1];
    if (bs == 0)
    {
        return 0;
    }
    if (bs < 0 || bs > mAttributes.maxBatchSize)
    {
        return reportPluginError("RedrafterGreedyAccept: the batch exceeds max_batch_size (the workspace's size)");
    }
    if (rows < 0 || vocab < 1 || rows > kInt32Max || vocab > kInt32Max)
    {
        return reportPluginError("RedrafterGreedyAccept: logits dims out of range");
    }
    int32_t const status = redrafterGreedyAccept(inputs[kLogits], floatInputDtype(inputDesc[kLogits].type),
        static_cast<int32_t>(rows), static_cast<int32_t>(vocab), static_cast<int32_t const*>(inputs[kRowOffsets]),
        static_cast<int32_t const*>(inputs[kDraftTokens]), static_cast<int32_t const*>(inputs[kDraftIndices]),
        static_cast<int32_t const*>(inputs[kGenLengths]), static_cast<int32_t>(bs),
        packedCapacity(mAttributes.numBeams, mAttributes.beamLength), mAttributes.numBeams, mAttributes.beamLength,
        workspace, workspaceBytes(), static_cast<int32_t*>(outputs[0]), static_cast<int32_t*>(outputs[1]),
        static_cast<int32_t*>(outputs[2]), static_cast<int32_t*>(outputs[3]), static_cast<int32_t*>(outputs[4]),
        static_cast<int32_t*>(outputs[5]), stream);
    return status == kOk ? 0 : reportPluginError("RedrafterGreedyAccept: kernel launch failed");
}

} // namespace trt
} // namespace redrafter
