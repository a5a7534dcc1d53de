// TensorRT wrapper of greedy acceptance. Contract: greedy_accept_plugin.h.
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "greedy_accept_plugin.h"

#include "../kernels/greedy_accept.h"
#include "plugin_logging.h"

#include <utility>

namespace redrafter
{
namespace trt
{

using nvinfer1::DataType;
using nvinfer1::TensorFormat;

namespace
{

constexpr int64_t kInt32Max = 0x7FFFFFFF;

bool isLogitsType(DataType type) noexcept
{
    return type == DataType::kFLOAT || type == DataType::kHALF || type == DataType::kBF16;
}

// LogitsDtype value of a supported logits DataType (see plugins/common/logits_dtype.h).
int32_t logitsDtypeOf(DataType type) noexcept
{
    switch (type)
    {
    case DataType::kHALF: return static_cast<int32_t>(LogitsDtype::kFloat16);
    case DataType::kBF16: return static_cast<int32_t>(LogitsDtype::kBFloat16);
    default: return static_cast<int32_t>(LogitsDtype::kFloat32);
    }
}

} // namespace

GreedyAcceptPlugin::GreedyAcceptPlugin(BeamShapeAttributes attributes, std::string pluginNamespace)
    : mAttributes(attributes)
    , mNamespace(std::move(pluginNamespace))
{
}

nvinfer1::IPluginCapability* GreedyAcceptPlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

nvinfer1::IPluginV3* GreedyAcceptPlugin::clone() noexcept
{
    try
    {
        return new GreedyAcceptPlugin(mAttributes, mNamespace);
    }
    catch (...)
    {
        return nullptr;
    }
}

char const* GreedyAcceptPlugin::getPluginName() const noexcept
{
    return kGreedyAcceptPluginName;
}

char const* GreedyAcceptPlugin::getPluginVersion() const noexcept
{
    return kGreedyAcceptPluginVersion;
}

char const* GreedyAcceptPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

int32_t GreedyAcceptPlugin::getNbOutputs() const noexcept
{
    return kNbOutputs;
}

int32_t GreedyAcceptPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || !isLogitsType(inputTypes[0])
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
        for (int32_t k = 1; k < 3; ++k)
        {
            int64_t const expected = k == 1 ? mAttributes.numBeams : mAttributes.beamLength;
            if (inputs[input].d[k]->isConstant() && inputs[input].d[k]->getConstantValue() != expected)
            {
                return reportPluginError("RedrafterGreedyAccept: beam dims differ from num_beams / beam_length");
            }
        }
    }
    nvinfer1::IDimensionExpr const* bs = inputs[1].d[0];
    nvinfer1::IDimensionExpr const* bl = exprBuilder.constant(mAttributes.beamLength);
    for (int32_t k = 0; k < 4; ++k) // num_accepted_tokens, accepted_beam_index, next_token, hidden_index
    {
        outputs[k].nbDims = 1;
        outputs[k].d[0] = bs;
    }
    for (int32_t k = 4; k < 6; ++k) // path_indices, accepted_tokens
    {
        outputs[k].nbDims = 2;
        outputs[k].d[0] = bs;
        outputs[k].d[1] = bl;
    }
    return 0;
}

bool GreedyAcceptPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || pos < 0 || pos >= kNbInputs + kNbOutputs)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    if (desc.format != TensorFormat::kLINEAR)
    {
        return false;
    }
    return pos == 0 ? isLogitsType(desc.type) : desc.type == DataType::kINT32;
}

bool GreedyAcceptPlugin::matchesBeams(nvinfer1::Dims const& dims) const noexcept
{
    auto fits = [](int64_t actual, int64_t expected) { return actual == -1 || actual == expected; };
    return dims.nbDims == 3 && fits(dims.d[1], mAttributes.numBeams) && fits(dims.d[2], mAttributes.beamLength);
}

int32_t GreedyAcceptPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].desc.dims.nbDims != 3
        || !matchesBeams(in[1].desc.dims) || !matchesBeams(in[2].desc.dims))
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
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || in[0].dims.nbDims != 3 || !matchesBeams(in[1].dims)
        || !matchesBeams(in[2].dims) || in[3].dims.nbDims != 1)
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
    int32_t const status = redrafterGreedyAccept(inputs[0], logitsDtypeOf(inputDesc[0].type),
        static_cast<int32_t const*>(inputs[1]), static_cast<int32_t const*>(inputs[2]),
        static_cast<int32_t const*>(inputs[3]), static_cast<int32_t>(bs), static_cast<int32_t>(slots),
        static_cast<int32_t>(vocab), mAttributes.numBeams, mAttributes.beamLength, workspace,
        static_cast<int32_t*>(outputs[0]), static_cast<int32_t*>(outputs[1]), static_cast<int32_t*>(outputs[2]),
        static_cast<int32_t*>(outputs[3]), static_cast<int32_t*>(outputs[4]), static_cast<int32_t*>(outputs[5]),
        stream);
    return status == kOk ? 0 : reportPluginError("RedrafterGreedyAccept: kernel launch failed");
}

nvinfer1::IPluginV3* GreedyAcceptPlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept
{
    return clone();
}

nvinfer1::PluginFieldCollection const* GreedyAcceptPlugin::getFieldsToSerialize() noexcept
{
    return mSerialized.collection();
}

GreedyAcceptPluginCreator::GreedyAcceptPluginCreator(std::string pluginNamespace)
    : mNamespace(std::move(pluginNamespace))
{
}

nvinfer1::IPluginV3* GreedyAcceptPluginCreator::createPlugin(
    char const* /*name*/, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase /*phase*/) noexcept
{
    BeamShapeAttributes attributes;
    if (!BeamShapeAttributes::fromFields(fc, attributes))
    {
        reportPluginError("RedrafterGreedyAccept: needs int32 fields num_beams >= 1 and beam_length >= 1");
        return nullptr;
    }
    try
    {
        return new GreedyAcceptPlugin(attributes, mNamespace);
    }
    catch (...)
    {
        return nullptr;
    }
}

nvinfer1::PluginFieldCollection const* GreedyAcceptPluginCreator::getFieldNames() noexcept
{
    return mFieldNames.collection();
}

char const* GreedyAcceptPluginCreator::getPluginName() const noexcept
{
    return kGreedyAcceptPluginName;
}

char const* GreedyAcceptPluginCreator::getPluginVersion() const noexcept
{
    return kGreedyAcceptPluginVersion;
}

char const* GreedyAcceptPluginCreator::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

} // namespace trt
} // namespace redrafter
