// The two build-time attributes of the beam plugins (RedrafterPackBeams, RedrafterSamplingAccept, and
// RedrafterGreedyAccept, which adds max_batch_size: greedy_accept_plugin.h); their
// PluginFieldCollection form is plugin_fields.h's.
//
//   num_beams    int32 (PluginFieldType::kINT32, length 1)  nb >= 1
//   beam_length  int32 (PluginFieldType::kINT32, length 1)  bl >= 1 (root + draft length)
//
// They fix the packed capacity n_cap = nb * (bl - 1) + 1 and the mask width ceil(n_cap / 32) as
// build-time constants, so output shapes do not depend on runtime values. The same two fields are
// what getFieldsToSerialize() writes and what createPlugin() reads in both TensorRT phases.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>

namespace redrafter
{
namespace trt
{

constexpr char const* kNumBeamsField = "num_beams";
constexpr char const* kBeamLengthField = "beam_length";

struct BeamShapeAttributes
{
    int32_t numBeams{0};
    int32_t beamLength{0};

    static constexpr int32_t kNbFields = 2;

    template <typename Self, typename Visit>
    static void forEachField(Self& self, Visit&& visit)
    {
        visit(kNumBeamsField, self.numBeams);
        visit(kBeamLengthField, self.beamLength);
    }

    bool valid() const noexcept
    {
        return numBeams >= 1 && beamLength >= 1 && static_cast<int64_t>(numBeams) * beamLength <= (1 << 20);
    }

    // True when `dims` (build-time dims may hold -1) can be [bs, num_beams, lastDim].
    bool matchesBeams(nvinfer1::Dims const& dims, int64_t lastDim) const noexcept
    {
        auto fits = [](int64_t actual, int64_t expected) { return actual == -1 || actual == expected; };
        return dims.nbDims == 3 && fits(dims.d[1], numBeams) && fits(dims.d[2], lastDim);
    }

    // False when a constant dim 1 or 2 of the 3-d `dims` differs from num_beams or lastDim.
    bool constantsMatchBeams(nvinfer1::DimsExprs const& dims, int64_t lastDim) const noexcept
    {
        for (int32_t k = 1; k < 3; ++k)
        {
            int64_t const expected = k == 1 ? numBeams : lastDim;
            if (dims.d[k]->isConstant() && dims.d[k]->getConstantValue() != expected)
            {
                return false;
            }
        }
        return true;
    }
};

} // namespace trt
} // namespace redrafter
