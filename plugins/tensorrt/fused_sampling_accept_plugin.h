// TensorRT IPluginV3 wrapper of fused sampling acceptance (plugins/kernels/fused_sampling_accept.h):
// the warped softmax and the exact sampling acceptance in one kernel, reading the flat logits.
//
// Plugin "RedrafterFusedSamplingAccept", version "1", namespace "trtllm_redrafter". Attributes:
// num_beams, beam_length (int32, beam_shape_attributes.h), top_k (int32 >= 0, 0 = off) and top_p
// (float32 in (0, 1], 1 = off), as RedrafterWarpSoftmax's (warp_attributes.h).
//
//   inputs   0 logits                float32 | float16 | bfloat16 [R, V]  every row of the engine step, flat
//            1 row_offsets           int32 [bs]                          flat row of request b's slot 0
//            2 inverted_temperature  float32 | float16 | bfloat16 [bs] or [1]
//            3 draft_tokens          int32 [bs, num_beams, beam_length]
//            4 draft_indices         int32 [bs, num_beams, beam_length]
//            5 gen_lengths           int32 [bs]
//            6 rand_validation       float32 | float16 | bfloat16 [bs, num_beams, beam_length - 1]
//            7 rand_sample           the type of input 6, [bs]
//   outputs  0 num_accepted_tokens   int32 [bs]
//            1 accepted_beam_index   int32 [bs]
//            2 next_token            int32 [bs]
//            3 hidden_index          int32 [bs]
//            4 path_indices          int32 [bs, beam_length]
//            5 accepted_tokens       int32 [bs, beam_length]
//
// The outputs mean what RedrafterSamplingAccept's mean. Slot j of request b is logits[row_offsets[b]
// + j] for j < gen_lengths[b] (clamped to n_cap and to the rows that exist). R, V and bs may be
// dynamic (R data-dependent). All tensors are linear and contiguous. No workspace; the kernel uses
// fusedStaticSharedBytes() (3216) bytes of static and 12 * num_beams bytes of dynamic shared memory
// per request, at most 48 KiB together: configurePlugin refuses a num_beams that does not fit, and a
// V >= 2^22 (the fixed-point total's bound) when V is known.
#pragma once

#include "accept_outputs.h"
#include "beam_shape_attributes.h"
#include "plugin_base.h"
#include "warp_attributes.h"

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

constexpr char const* kFusedSamplingAcceptPluginName = "RedrafterFusedSamplingAccept";
constexpr char const* kFusedSamplingAcceptPluginVersion = "1";

// num_beams and beam_length plus top_k and top_p.
struct FusedSamplingAttributes : BeamShapeAttributes
{
    int32_t topK{0};
    float topP{1.0f};

    static constexpr int32_t kNbFields = 4;

    template <typename Self, typename Visit>
    static void forEachField(Self& self, Visit&& visit)
    {
        visit(kNumBeamsField, self.numBeams);
        visit(kBeamLengthField, self.beamLength);
        visit(kTopKField, self.topK);
        visit(kTopPField, self.topP);
    }

    bool valid() const noexcept
    {
        return BeamShapeAttributes::valid() && WarpAttributes{topK, topP}.valid();
    }
};

class FusedSamplingAcceptPlugin : public PluginBase<FusedSamplingAcceptPlugin, FusedSamplingAttributes>
{
public:
    static constexpr char const* kName = kFusedSamplingAcceptPluginName;
    static constexpr char const* kVersion = kFusedSamplingAcceptPluginVersion;
    static constexpr char const* kFieldsError
        = "RedrafterFusedSamplingAccept: needs int32 fields num_beams >= 1, beam_length >= 1, top_k >= 0 and a "
          "float32 field top_p in (0, 1]";
    static constexpr int32_t kNbInputs = 8;
    static constexpr int32_t kNbOutputs = kNbAcceptOutputs;

    using PluginBase::PluginBase;
    REDRAFTER_PLUGIN_METHODS
};

using FusedSamplingAcceptPluginCreator = PluginCreator<FusedSamplingAcceptPlugin>;

} // namespace trt
} // namespace redrafter
