// TensorRT IPluginV3 wrapper of the beam-packing kernel (plugins/kernels/pack_beams.h).
//
// Plugin "RedrafterPackBeams", version "1", namespace "trtllm_redrafter". Attributes: num_beams, beam_length (int32; see
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
// rule for slots >= gen_lengths[b] is the kernel's (pack_beams.h). No workspace; one row's scratch
// lives in shared memory, and configurePlugin refuses attributes whose scratch exceeds 48 KiB
// (packFitsSharedMemory: num_beams * beam_length up to about 3000), which the launcher would refuse.
#pragma once

#include "beam_shape_attributes.h"
#include "plugin_base.h"

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

constexpr char const* kPackBeamsPluginName = "RedrafterPackBeams";
constexpr char const* kPackBeamsPluginVersion = "1";

class PackBeamsPlugin : public PluginBase<PackBeamsPlugin, BeamShapeAttributes>
{
public:
    static constexpr char const* kName = kPackBeamsPluginName;
    static constexpr char const* kVersion = kPackBeamsPluginVersion;
    static constexpr char const* kFieldsError
        = "RedrafterPackBeams: needs int32 fields num_beams >= 1 and beam_length >= 1";
    static constexpr int32_t kNbInputs = 2;
    static constexpr int32_t kNbOutputs = 6;

    using PluginBase::PluginBase;
    REDRAFTER_PLUGIN_METHODS
};

using PackBeamsPluginCreator = PluginCreator<PackBeamsPlugin>;

} // namespace trt
} // namespace redrafter
