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

#include "accept_outputs.h"
#include "beam_shape_attributes.h"
#include "plugin_base.h"

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

constexpr char const* kGreedyAcceptPluginName = "RedrafterGreedyAccept";
constexpr char const* kGreedyAcceptPluginVersion = "1";

class GreedyAcceptPlugin : public PluginBase<GreedyAcceptPlugin, BeamShapeAttributes>
{
public:
    static constexpr char const* kName = kGreedyAcceptPluginName;
    static constexpr char const* kVersion = kGreedyAcceptPluginVersion;
    static constexpr char const* kFieldsError
        = "RedrafterGreedyAccept: needs int32 fields num_beams >= 1 and beam_length >= 1";
    static constexpr int32_t kNbInputs = 4;
    static constexpr int32_t kNbOutputs = kNbAcceptOutputs;

    using PluginBase::PluginBase;
    REDRAFTER_PLUGIN_METHODS
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
};

using GreedyAcceptPluginCreator = PluginCreator<GreedyAcceptPlugin>;

} // namespace trt
} // namespace redrafter
