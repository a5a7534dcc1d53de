// TensorRT IPluginV3 wrapper of sampling acceptance (plugins/kernels/sampling_accept.h).
//
// Plugin "RedrafterSamplingAccept", version "1", namespace "trtllm_redrafter". Attributes:
// num_beams, beam_length (int32; see beam_shape_attributes.h).
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
// contiguous. No workspace; the kernel uses 4176 bytes of static and 12 * num_beams bytes of dynamic
// shared memory per row, at most 48 KiB together: configurePlugin refuses num_beams > 3748.
#pragma once

#include "accept_outputs.h"
#include "beam_shape_attributes.h"
#include "plugin_base.h"

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

constexpr char const* kSamplingAcceptPluginName = "RedrafterSamplingAccept";
constexpr char const* kSamplingAcceptPluginVersion = "1";

class SamplingAcceptPlugin : public PluginBase<SamplingAcceptPlugin, BeamShapeAttributes>
{
public:
    static constexpr char const* kName = kSamplingAcceptPluginName;
    static constexpr char const* kVersion = kSamplingAcceptPluginVersion;
    static constexpr char const* kFieldsError
        = "RedrafterSamplingAccept: needs int32 fields num_beams >= 1 and beam_length >= 1";
    static constexpr int32_t kNbInputs = 6;
    static constexpr int32_t kNbOutputs = kNbAcceptOutputs;

    using PluginBase::PluginBase;
    REDRAFTER_PLUGIN_METHODS
};

using SamplingAcceptPluginCreator = PluginCreator<SamplingAcceptPlugin>;

} // namespace trt
} // namespace redrafter
