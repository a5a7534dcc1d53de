// TensorRT wrapper of fused sampling acceptance. Contract: fused_sampling_accept_plugin.h.
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "fused_sampling_accept_plugin.h"

#include "../kernels/fused_sampling_accept.h"
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
    kInvTemperature = 2,
    kDraftTokens = 3,
    kDraftIndices = 4,
    kGenLengths = 5,
    kRandValidation = 6,
    kRandSample = 7,
};

constexpr char const* kTypesError = "RedrafterFusedSamplingAccept: expects float/half/bf16 logits and "
                                    "inverted_temperature, int32 row_offsets / draft_tokens / draft_indices / "
                                    "gen_lengths, and two uniforms of one float type";

// The ranks of the inputs, in input order.
constexpr int32_t kRanks[FusedSamplingAcceptPlugin::kNbInputs] = {2, 1, 1, 3, 3, 1, 3, 1};

template <typename DimsT>
bool ranksMatch(DimsT const* dims, int32_t nbInputs)
{
    if (nbInputs != FusedSamplingAcceptPlugin::kNbInputs)
    {
        return false;
    }
    for (int32_t k = 0; k < nbInputs; ++k)
    {
        if (dims[k].nbDims != kRanks[k])
        {
            return false;
        }
    }
    return true;
}

bool ranksMatch(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs)
{
    nvinfer1::Dims dims[FusedSamplingAcceptPlugin::kNbInputs];
    for (int32_t k = 0; k < nbInputs && k < FusedSamplingAcceptPlugin::kNbInputs; ++k)
    {
        dims[k] = in[k].desc.dims;
    }
    return ranksMatch(dims, nbInputs);
}

bool ranksMatch(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs)
{
    nvinfer1::Dims dims[FusedSamplingAcceptPlugin::kNbInputs];
    for (int32_t k = 0; k < nbInputs && k < FusedSamplingAcceptPlugin::kNbInputs; ++k)
    {
        dims[k] = in[k].dims;
    }
    return ranksMatch(dims, nbInputs);
}

} // namespace

int32_t FusedSamplingAcceptPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || !isFloatInputType(inputTypes[kLogits])
        || !isFloatInputType(inputTypes[kInvTemperature]) || !isFloatInputType(inputTypes[kRandValidation])
        || inputTypes[kRandSample] != inputTypes[kRandValidation])
    {
        return reportPluginError(kTypesError);
    }
    for (int32_t k : {kRowOffsets, kDraftTokens, kDraftIndices, kGenLengths})
    {
        if (inputTypes[k] != DataType::kINT32)
        {
            return reportPluginError(kTypesError);
        }
    }
    for (int32_t k = 0; k < nbOutputs; ++k)
    {
        outputTypes[k] = DataType::kINT32;
    }
    return 0;
}

int32_t FusedSamplingAcceptPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbShapeInputs != 0 || nbOutputs != kNbOutputs || !ranksMatch(inputs, nbInputs))
    {
        return reportPluginError(
            "RedrafterFusedSamplingAccept: inputs must be logits [R, V], row_offsets [bs], inverted_temperature "
            "[bs] or [1], draft_tokens and draft_indices [bs, nb, bl], gen_lengths [bs], rand_validation [bs, nb, "
            "bl-1], rand_sample [bs]");
    }
    for (int32_t input : {kDraftTokens, kDraftIndices, kRandValidation})
    {
        int64_t const last = input == kRandValidation ? mAttributes.beamLength - 1 : mAttributes.beamLength;
        if (!mAttributes.constantsMatchBeams(inputs[input], last))
        {
            return reportPluginError("RedrafterFusedSamplingAccept: beam dims differ from num_beams / beam_length");
        }
    }
    setAcceptOutputShapes(inputs[kDraftTokens].d[0], exprBuilder.constant(mAttributes.beamLength), outputs);
    return 0;
}

bool FusedSamplingAcceptPlugin::supportsType(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept
{
    DataType const type = inOut[pos].desc.type;
    switch (pos)
    {
    case kLogits:
    case kInvTemperature:
    case kRandValidation: return isFloatInputType(type);
    case kRandSample: return type == inOut[kRandValidation].desc.type; // asked in position order: 6 is settled
    default: return type == DataType::kINT32;
    }
}

int32_t FusedSamplingAcceptPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbOutputs != kNbOutputs || !ranksMatch(in, nbInputs)
        || !mAttributes.matchesBeams(in[kDraftTokens].desc.dims, bl)
        || !mAttributes.matchesBeams(in[kDraftIndices].desc.dims, bl)
        || !mAttributes.matchesBeams(in[kRandValidation].desc.dims, bl - 1))
    {
        return reportPluginError("RedrafterFusedSamplingAccept: configurePlugin got unexpected inputs");
    }
    // What the launcher refuses, refused when the engine is built.
    if (!fusedFitsSharedMemory(mAttributes.numBeams))
    {
        return reportPluginError(
            "RedrafterFusedSamplingAccept: num_beams too large (static plus dynamic shared memory must fit 48 KiB); "
            "the kernel would refuse to launch");
    }
    int64_t const vocab = in[kLogits].max.nbDims == 2 ? in[kLogits].max.d[1] : -1;
    if (vocab >= kMaxWarpVocab)
    {
        return reportPluginError("RedrafterFusedSamplingAccept: V must be < 2^22 (the fixed-point total's bound)");
    }
    return 0;
}

int32_t FusedSamplingAcceptPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    int32_t const bl = mAttributes.beamLength;
    if (nbOutputs != kNbOutputs || !ranksMatch(in, nbInputs) || !mAttributes.matchesBeams(in[kDraftTokens].dims, bl)
        || !mAttributes.matchesBeams(in[kDraftIndices].dims, bl)
        || !mAttributes.matchesBeams(in[kRandValidation].dims, bl - 1))
    {
        return reportPluginError("RedrafterFusedSamplingAccept: runtime shapes do not match the contract");
    }
    int64_t const bs = in[kDraftTokens].dims.d[0];
    for (int32_t k : {kRowOffsets, kDraftIndices, kGenLengths, kRandValidation, kRandSample})
    {
        if (in[k].dims.d[0] != bs)
        {
            return reportPluginError("RedrafterFusedSamplingAccept: inputs disagree on the batch size");
        }
    }
    int64_t const temperatures = in[kInvTemperature].dims.d[0];
    if (temperatures != 1 && temperatures != bs)
    {
        return reportPluginError("RedrafterFusedSamplingAccept: inverted_temperature must hold 1 or bs values");
    }
    return 0;
}

int32_t FusedSamplingAcceptPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs, void* const* outputs,
    void* /*workspace*/, cudaStream_t stream) noexcept
{
    int64_t const bs = inputDesc[kDraftTokens].dims.d[0];
    int64_t const rows = inputDesc[kLogits].dims.d[0];
    int64_t const vocab = inputDesc[kLogits].dims.d[1];
    int64_t const temperatures = inputDesc[kInvTemperature].dims.d[0];
    if (bs == 0)
    {
        return 0;
    }
    if (bs < 0 || rows < 0 || vocab < 1 || bs > kInt32Max || rows > kInt32Max || vocab > kInt32Max)
    {
        return reportPluginError("RedrafterFusedSamplingAccept: input dims out of range");
    }
    int32_t const status = redrafterFusedSamplingAccept(inputs[kLogits], floatInputDtype(inputDesc[kLogits].type),
        static_cast<int32_t>(rows), static_cast<int32_t>(vocab), static_cast<int32_t const*>(inputs[kRowOffsets]),
        inputs[kInvTemperature], floatInputDtype(inputDesc[kInvTemperature].type), static_cast<int32_t>(temperatures),
        static_cast<int32_t const*>(inputs[kDraftTokens]), static_cast<int32_t const*>(inputs[kDraftIndices]),
        static_cast<int32_t const*>(inputs[kGenLengths]), inputs[kRandValidation], inputs[kRandSample],
        floatInputDtype(inputDesc[kRandSample].type), static_cast<int32_t>(bs),
        packedCapacity(mAttributes.numBeams, mAttributes.beamLength), mAttributes.numBeams, mAttributes.beamLength,
        mAttributes.topK, mAttributes.topP, static_cast<int32_t*>(outputs[0]), static_cast<int32_t*>(outputs[1]),
        static_cast<int32_t*>(outputs[2]), static_cast<int32_t*>(outputs[3]), static_cast<int32_t*>(outputs[4]),
        static_cast<int32_t*>(outputs[5]), stream);
    return status == kOk ? 0 : reportPluginError("RedrafterFusedSamplingAccept: kernel launch failed");
}

} // namespace trt
} // namespace redrafter
