// TensorRT IPluginV3 wrapper of sampling acceptance (plugins/kernels/sampling_accept.h).
//
// Plugin "RedrafterSamplingAccept", version "1". Attributes: num_beams, beam_length (int32; see
// beam_shape_attributes.h).
//
//   inputs   0 probs                float32 [bs, num_slots, V]  (RedrafterWarpSoftmax's output)
//            1 draft_tokens         int32 [bs, num_beams, beam_length]
//            2 draft_indices        int32 [bs, num_beams, beam_length]
//            3 gen_lengths          int32 [bs]
//            4 rand_validation      float32 | float16 | bfloat16 [bs, num_beams, beam_length - 1]
//            5 rand_sample          the type of input 4, [bs]
//   outputs  0 num_accepted_tokens  int32 [bs]
//            1 accepted_beam_index  int32 [bs]
//            2 next_token           int32 [bs]
//            3 hidden_index         int32 [bs]
//            4 path_indices         int32 [bs, beam_length]
//            5 accepted_tokens      int32 [bs, beam_length]
//
// The outputs mean what RedrafterGreedyAccept's mean, with next_token drawn by exact speculative
// sampling (docs/sampling.md). bs, num_slots and V may be dynamic. All tensors are linear and
// contiguous. No workspace; the kernel uses 12 * num_beams bytes of dynamic shared memory per row
// (num_beams <= 4096).
#pragma once

#include "beam_shape_attributes.h"

#include <NvInferRuntime.h>

#include <string>

namespace redrafter
{
namespace trt
{

constexpr char const* kSamplingAcceptPluginName = "RedrafterSamplingAccept";
constexpr char const* kSamplingAcceptPluginVersion = "1";

class SamplingAcceptPlugin : public nvinfer1::IPluginV3,
                             public nvinfer1::IPluginV3OneCore,
                             public nvinfer1::IPluginV3OneBuild,
                             public nvinfer1::IPluginV3OneRuntime
{
public:
    static constexpr int32_t kNbInputs = 6;
    static constexpr int32_t kNbOutputs = 6;

    SamplingAcceptPlugin(BeamShapeAttributes attributes, std::string pluginNamespace);
    ~SamplingAcceptPlugin() override = default;

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
    // True when `dims` (build-time dims may hold -1) can be [bs, nb, lastDim].
    bool matchesBeams(nvinfer1::Dims const& dims, int64_t lastDim) const noexcept;

    BeamShapeAttributes mAttributes;
    std::string mNamespace;
    BeamShapeFields mSerialized{mAttributes};
};

class SamplingAcceptPluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    explicit SamplingAcceptPluginCreator(std::string pluginNamespace = "");

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
