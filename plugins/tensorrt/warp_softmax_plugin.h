// TensorRT IPluginV3 wrapper of the warped softmax (plugins/kernels/warp_softmax.h).
//
// Plugin "RedrafterWarpSoftmax", version "1". Attributes: top_k (int32), top_p (float32); see
// warp_attributes.h.
//
//   inputs   0 logits                float32 | float16 | bfloat16 [bs, num_slots, V]
//            1 inverted_temperature  float32 | float16 | bfloat16 [bs] or [1]
//            2 gen_lengths           int32 [bs]
//   outputs  0 probs                 float32 [bs, num_slots, V]
//
// probs is the warped distribution (temperature, top-k, top-p; HF's order) at every real slot
// p < gen_lengths[b], zeros at padding slots; RedrafterSamplingAccept takes it as input 0. bs,
// num_slots and V may be dynamic (V < 2^22). A length-1 inverted_temperature applies to every row.
// All tensors are linear and contiguous. No workspace.
#pragma once

#include "warp_attributes.h"

#include <NvInferRuntime.h>

#include <string>

namespace redrafter
{
namespace trt
{

constexpr char const* kWarpSoftmaxPluginName = "RedrafterWarpSoftmax";
constexpr char const* kWarpSoftmaxPluginVersion = "1";

class WarpSoftmaxPlugin : public nvinfer1::IPluginV3,
                          public nvinfer1::IPluginV3OneCore,
                          public nvinfer1::IPluginV3OneBuild,
                          public nvinfer1::IPluginV3OneRuntime
{
public:
    static constexpr int32_t kNbInputs = 3;
    static constexpr int32_t kNbOutputs = 1;

    WarpSoftmaxPlugin(WarpAttributes attributes, std::string pluginNamespace);
    ~WarpSoftmaxPlugin() override = default;

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
    WarpAttributes mAttributes;
    std::string mNamespace;
    WarpFields mSerialized{mAttributes};
};

class WarpSoftmaxPluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    explicit WarpSoftmaxPluginCreator(std::string pluginNamespace = "");

    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    std::string mNamespace;
    WarpFields mFieldNames;
};

} // namespace trt
} // namespace redrafter
