// TensorRT IPluginV3 wrapper of the warped softmax (plugins/kernels/warp_softmax.h).
//
// Plugin "RedrafterWarpSoftmax", version "1", namespace "trtllm_redrafter". Attributes: top_k
// (int32), top_p (float32); see warp_attributes.h.
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
#include "plugin_base.h"

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

constexpr char const* kWarpSoftmaxPluginName = "RedrafterWarpSoftmax";
constexpr char const* kWarpSoftmaxPluginVersion = "1";

class WarpSoftmaxPlugin : public PluginBase<WarpSoftmaxPlugin, WarpAttributes>
{
public:
    static constexpr char const* kName = kWarpSoftmaxPluginName;
    static constexpr char const* kVersion = kWarpSoftmaxPluginVersion;
    static constexpr char const* kFieldsError
        = "RedrafterWarpSoftmax: needs fields top_k (int32 >= 0) and top_p (float32 in (0, 1])";
    static constexpr int32_t kNbInputs = 3;
    static constexpr int32_t kNbOutputs = 1;

    using PluginBase::PluginBase;
    REDRAFTER_PLUGIN_METHODS
};

using WarpSoftmaxPluginCreator = PluginCreator<WarpSoftmaxPlugin>;

} // namespace trt
} // namespace redrafter
