// TensorRT IPluginV3 wrapper of greedy acceptance (plugins/kernels/greedy_accept.h, which runs the
// packed argmax of plugins/kernels/packed_argmax.h first).
//
// Plugin "RedrafterGreedyAccept", version "1". Attributes: num_beams, beam_length (int32; see
// beam_shape_attributes.h).
//
//   inputs   0 logits               float32 | float16 | bfloat16 [bs, num_slots, V]
//            1 draft_tokens         int32 [bs, num_beams, beam_length]
//            2 draft_indices        int32 [bs, num_beams, beam_length]
//            3 gen_lengths          int32 [bs]
//   outputs  0 num_accepted_tokens  int32 [bs]
//            1 accepted_beam_index  int32 [bs]
//            2 next_token           int32 [bs]
//            3 hidden_index         int32 [bs]
//            4 path_indices         int32 [bs, beam_length]
//            5 accepted_tokens      int32 [bs, beam_length]
//
// num_slots is usually RedrafterPackBeams' n_cap (any width >= every row's gen length works) and
// may be dynamic, like bs and V. All tensors are linear and contiguous. Workspace: the packed
// argmax, int32 [bs, num_slots] rounded up to 256 bytes, sized from the profile's maximum dims.
#pragma once

#include "beam_shape_attributes.h"

#include <NvInferRuntime.h>

#include <string>

namespace redrafter
{
namespace trt
{

constexpr char const* kGreedyAcceptPluginName = "RedrafterGreedyAccept";
constexpr char const* kGreedyAcceptPluginVersion = "1";

class GreedyAcceptPlugin : public nvinfer1::IPluginV3,
                           public nvinfer1::IPluginV3OneCore,
                           public nvinfer1::IPluginV3OneBuild,
                           public nvinfer1::IPluginV3OneRuntime
{
public:
    static constexpr int32_t kNbInputs = 4;
    static constexpr int32_t kNbOutputs = 6;

    GreedyAcceptPlugin(BeamShapeAttributes attributes, std::string pluginNamespace);
    ~GreedyAcceptPlugin() override = default;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV3OneBuild
    int32_t getNbOutputs() const noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs, nvinfer1::DataType const* inputTypes,
        int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;

    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
        int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

private:
    // True when `dims` (build-time dims may hold -1) can be [bs, nb, bl].
    bool matchesBeams(nvinfer1::Dims const& dims) const noexcept;

    BeamShapeAttributes mAttributes;
    std::string mNamespace;
    BeamShapeFields mSerialized{mAttributes};
};

class GreedyAcceptPluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    explicit GreedyAcceptPluginCreator(std::string pluginNamespace = "");

    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    std::string mNamespace;
    BeamShapeFields mFieldNames;
};

} // namespace trt
} // namespace redrafter
