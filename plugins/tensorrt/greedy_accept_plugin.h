// TensorRT IPluginV3 wrapper of greedy acceptance (plugins/kernels/greedy_accept.h, which runs the
// packed argmax of plugins/kernels/packed_argmax.h first).
//
// Plugin "RedrafterGreedyAccept", version "2", namespace "trtllm_redrafter". Attributes (int32,
// length 1): num_beams, beam_length (beam_shape_attributes.h) and max_batch_size (1..65535, the most
// generation requests one enqueue may hold).
//
//   inputs   0 logits               float32 | float16 | bfloat16 [R, V]  every row of the engine step, flat
//            1 row_offsets          int32 [bs]                          flat row of request b's slot 0
//            2 draft_tokens         int32 [bs, num_beams, beam_length]
//            3 draft_indices        int32 [bs, num_beams, beam_length]
//            4 gen_lengths          int32 [bs]
//   outputs  0 num_accepted_tokens  int32 [bs]
//            1 accepted_beam_index  int32 [bs]
//            2 next_token           int32 [bs]
//            3 hidden_index         int32 [bs]
//            4 path_indices         int32 [bs, beam_length]
//            5 accepted_tokens      int32 [bs, beam_length]
//
// Slot j of request b is logits[row_offsets[b] + j] for j < gen_lengths[b] (clamped to n_cap); the
// contract asks row_offsets[b] + gen_lengths[b] <= R, and a row outside [0, R) reads as prediction -1
// (never read). R, V and bs may be dynamic (R may be data-dependent). All tensors are linear and
// contiguous.
//
// Workspace: the packed argmax, int32 [max_batch_size, n_cap] rounded up to 256 bytes, from the
// attributes alone (n_cap = num_beams * (beam_length - 1) + 1), never from a data-dependent dim.
// configurePlugin refuses a profile whose batch can exceed max_batch_size; onShapeChange and enqueue
// refuse a batch above it, and the launcher checks the workspace size it is given.
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
constexpr char const* kGreedyAcceptPluginVersion = "2";
constexpr char const* kMaxBatchSizeField = "max_batch_size";

// num_beams and beam_length (BeamShapeAttributes) plus max_batch_size, which sizes the workspace.
struct GreedyAcceptAttributes : BeamShapeAttributes
{
    int32_t maxBatchSize{0};

    static constexpr int32_t kNbFields = 3;

    template <typename Self, typename Visit>
    static void forEachField(Self& self, Visit&& visit)
    {
        visit(kNumBeamsField, self.numBeams);
        visit(kBeamLengthField, self.beamLength);
        visit(kMaxBatchSizeField, self.maxBatchSize);
    }

    bool valid() const noexcept;
};

class GreedyAcceptPlugin : public PluginBase<GreedyAcceptPlugin, GreedyAcceptAttributes>
{
public:
    static constexpr char const* kName = kGreedyAcceptPluginName;
    static constexpr char const* kVersion = kGreedyAcceptPluginVersion;
    static constexpr char const* kFieldsError = "RedrafterGreedyAccept: needs int32 fields num_beams >= 1, "
                                                "beam_length >= 1 and max_batch_size in [1, 65535]";
    static constexpr int32_t kNbInputs = 5;
    static constexpr int32_t kNbOutputs = kNbAcceptOutputs;

    using PluginBase::PluginBase;
    REDRAFTER_PLUGIN_METHODS
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;

private:
    size_t workspaceBytes() const noexcept;
};

using GreedyAcceptPluginCreator = PluginCreator<GreedyAcceptPlugin>;

} // namespace trt
} // namespace redrafter
