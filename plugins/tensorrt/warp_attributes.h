// The two build-time attributes of RedrafterWarpSoftmax; their PluginFieldCollection form is
// plugin_fields.h's.
//
//   top_k  int32   (PluginFieldType::kINT32,   length 1)  >= 0; 0 (or >= V) = off
//   top_p  float32 (PluginFieldType::kFLOAT32, length 1)  in (0, 1]; 1 = off
//
// They are what getFieldsToSerialize() writes and what createPlugin() reads in both TensorRT
// phases. The same ranges are checked by the kernel launcher (plugins/kernels/warp_softmax.h).
#pragma once

#include <cstdint>

namespace redrafter
{
namespace trt
{

constexpr char const* kTopKField = "top_k";
constexpr char const* kTopPField = "top_p";

struct WarpAttributes
{
    int32_t topK{0};
    float topP{1.0f};

    static constexpr int32_t kNbFields = 2;

    template <typename Self, typename Visit>
    static void forEachField(Self& self, Visit&& visit)
    {
        visit(kTopKField, self.topK);
        visit(kTopPField, self.topP);
    }

    bool valid() const noexcept
    {
        return topK >= 0 && topP > 0.0f && topP <= 1.0f; // NaN fails
    }
};

} // namespace trt
} // namespace redrafter
