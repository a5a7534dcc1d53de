// TensorRT IPluginV3 wrapper of the beam-packing kernel (plugins/kernels/pack_beams.h).
//
// Plugin "RedrafterPackBeams", version "1". Attributes: num_beams, beam_length (int32; see
// beam_shape_attributes.h). n_cap = num_beams * (beam_length - 1) + 1, W = ceil(n_cap / 32).
//
//   inputs   0 draft_tokens         int32 [bs, num_beams, beam_length]
//            1 position_ids_base    int32 [bs]
//   outputs  0 packed_tokens        int32 [bs, n_cap]
//            1 gen_lengths          int32 [bs]
//            2 draft_indices        int32 [bs, num_beams, beam_length]
//            3 position_offsets     int32 [bs, n_cap]
//            4 packed_mask          int32 [bs, n_cap, W]
//            5 packed_position_ids  int32 [bs, n_cap]
//
// All tensors are linear (TensorFormat::kLINEAR) and contiguous; bs may be dynamic. The padding
// rule for slots >= gen_lengths[b] is the kernel's (pack_beams.h). No workspace.
#pragma once

#include "beam_shape_attributes.h"

#include <NvInferRuntime.h>

#include <string>

namespace redrafter
{
namespace trt
{

constexpr char const* kPackBeamsPluginName = "RedrafterPackBeams";
constexpr char const* kPackBeamsPluginVersion = "1";

class PackBeamsPlugin : public nvinfer1::IPluginV3,
                        public nvinfer1::IPluginV3OneCore,
                        public nvinfer1::IPluginV3OneBuild,
                        public nvinfer1::IPluginV3OneRuntime
{
public:
    static constexpr int32_t kNbInputs = 2;
    static constexpr int32_t kNbOutputs = 6;

    PackBeamsPlugin(BeamShapeAttributes attributes, std::string pluginNamespace);
    ~PackBeamsPlugin() override = default;

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
    // True when `dims` (build-time dims may hold -1) can be draft_tokens [bs, nb, bl].
    bool matchesDraftTokens(nvinfer1::Dims const& dims) const noexcept;

    BeamShapeAttributes mAttributes;
    std::string mNamespace;
    BeamShapeFields mSerialized{mAttributes};
};

class PackBeamsPluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    explicit PackBeamsPluginCreator(std::string pluginNamespace = "");

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
