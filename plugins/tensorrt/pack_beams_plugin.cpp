// TensorRT wrapper of the beam-packing kernel. Contract: pack_beams_plugin.h.
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "pack_beams_plugin.h"

#include "../kernels/pack_beams.h"

namespace redrafter
{
namespace trt
{

using nvinfer1::DataType;

int32_t PackBeamsPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || inputTypes[0] != DataType::kINT32
        || inputTypes[1] != DataType::kINT32)
    {
        return reportPluginError("RedrafterPackBeams: expects two int32 inputs and six outputs");
    }
    for (int32_t k = 0; k < nbOutputs; ++k)
    {
        outputTypes[k] = DataType::kINT32;
    }
    return 0;
}

int32_t PackBeamsPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != kNbInputs || nbShapeInputs != 0 || nbOutputs != kNbOutputs || inputs[0].nbDims != 3
        || inputs[1].nbDims != 1)
    {
        return reportPluginError("RedrafterPackBeams: draft_tokens must be [bs, nb, bl] and position_ids_base [bs]");
    }
    if (!mAttributes.constantsMatchBeams(inputs[0], mAttributes.beamLength))
    {
        return reportPluginError("RedrafterPackBeams: draft_tokens dims differ from num_beams / beam_length");
    }
    nvinfer1::IDimensionExpr const* bs = inputs[0].d[0];
    int32_t const nCap = packedCapacity(mAttributes.numBeams, mAttributes.beamLength);
    nvinfer1::IDimensionExpr const* slots = exprBuilder.constant(nCap);
    nvinfer1::IDimensionExpr const* words = exprBuilder.constant(maskWords(nCap));

    auto perSlot = [&](nvinfer1::DimsExprs& out) {
        out.nbDims = 2;
        out.d[0] = bs;
        out.d[1] = slots;
    };
    perSlot(outputs[0]); // packed_tokens
    outputs[1].nbDims = 1; // gen_lengths
    outputs[1].d[0] = bs;
    outputs[2].nbDims = 3; // draft_indices
    outputs[2].d[0] = bs;
    outputs[2].d[1] = exprBuilder.constant(mAttributes.numBeams);
    outputs[2].d[2] = exprBuilder.constant(mAttributes.beamLength);
    perSlot(outputs[3]); // position_offsets
    outputs[4].nbDims = 3; // packed_mask
    outputs[4].d[0] = bs;
    outputs[4].d[1] = slots;
    outputs[4].d[2] = words;
    perSlot(outputs[5]); // packed_position_ids
    return 0;
}

bool PackBeamsPlugin::supportsType(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept
{
    return inOut[pos].desc.type == DataType::kINT32;
}

int32_t PackBeamsPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs
        || !mAttributes.matchesBeams(in[0].desc.dims, mAttributes.beamLength))
    {
        return reportPluginError("RedrafterPackBeams: configurePlugin got unexpected inputs");
    }
    if (!packFitsSharedMemory(mAttributes.numBeams, mAttributes.beamLength))
    {
        return reportPluginError(
            "RedrafterPackBeams: one row's scratch exceeds 48 KiB of shared memory (num_beams * beam_length above "
            "about 3000); the kernel would refuse to launch");
    }
    return 0;
}

int32_t PackBeamsPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs
        || !mAttributes.matchesBeams(in[0].dims, mAttributes.beamLength) || in[1].dims.nbDims != 1
        || in[1].dims.d[0] != in[0].dims.d[0])
    {
        return reportPluginError("RedrafterPackBeams: runtime shapes do not match [bs, nb, bl] and [bs]");
    }
    return 0;
}

int32_t PackBeamsPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs, void* const* outputs,
    void* /*workspace*/, cudaStream_t stream) noexcept
{
    int64_t const bs = inputDesc[0].dims.d[0];
    if (bs == 0)
    {
        return 0;
    }
    if (bs < 0 || bs > kInt32Max)
    {
        return reportPluginError("RedrafterPackBeams: batch size out of range");
    }
    int32_t const status = redrafterPackBeams(static_cast<int32_t const*>(inputs[0]),
        static_cast<int32_t const*>(inputs[1]), static_cast<int32_t>(bs), mAttributes.numBeams, mAttributes.beamLength,
        static_cast<int32_t*>(outputs[0]), static_cast<int32_t*>(outputs[1]), static_cast<int32_t*>(outputs[2]),
        static_cast<int32_t*>(outputs[3]), static_cast<int32_t*>(outputs[4]), static_cast<int32_t*>(outputs[5]),
        stream);
    return status == kOk ? 0 : reportPluginError("RedrafterPackBeams: kernel launch failed");
}

} // namespace trt
} // namespace redrafter
