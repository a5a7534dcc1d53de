// The two build-time attributes of RedrafterWarpSoftmax and their PluginFieldCollection form.
//
//   top_k  int32   (PluginFieldType::kINT32,   length 1)  >= 0; 0 (or >= V) = off
//   top_p  float32 (PluginFieldType::kFLOAT32, length 1)  in (0, 1]; 1 = off
//
// They are what getFieldsToSerialize() writes and what createPlugin() reads in both TensorRT
// phases. The same ranges are checked by the kernel launcher (plugins/kernels/warp_softmax.h).
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <cstring>

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

    bool valid() const noexcept
    {
        return topK >= 0 && topP > 0.0f && topP <= 1.0f; // NaN fails
    }

    // Reads both fields; false when one is missing, of another type or length, or out of range.
    static bool fromFields(nvinfer1::PluginFieldCollection const* fc, WarpAttributes& out) noexcept
    {
        if (fc == nullptr || (fc->nbFields > 0 && fc->fields == nullptr))
        {
            return false;
        }
        bool haveTopK = false;
        bool haveTopP = false;
        for (int32_t k = 0; k < fc->nbFields; ++k)
        {
            nvinfer1::PluginField const& f = fc->fields[k];
            if (f.name == nullptr || f.data == nullptr || f.length != 1)
            {
                continue;
            }
            if (std::strcmp(f.name, kTopKField) == 0 && f.type == nvinfer1::PluginFieldType::kINT32)
            {
                std::memcpy(&out.topK, f.data, sizeof(int32_t));
                haveTopK = true;
            }
            else if (std::strcmp(f.name, kTopPField) == 0 && f.type == nvinfer1::PluginFieldType::kFLOAT32)
            {
                std::memcpy(&out.topP, f.data, sizeof(float));
                haveTopP = true;
            }
        }
        return haveTopK && haveTopP && out.valid();
    }
};

// The field list of the creator (names and types, no data) and of a plugin's serialization (data
// pointing at the plugin's own attribute storage, valid for the plugin's lifetime).
class WarpFields
{
public:
    WarpFields() noexcept
    {
        mFields[0] = nvinfer1::PluginField(kTopKField, nullptr, nvinfer1::PluginFieldType::kINT32, 1);
        mFields[1] = nvinfer1::PluginField(kTopPField, nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1);
        mCollection.nbFields = 2;
        mCollection.fields = mFields;
    }

    explicit WarpFields(WarpAttributes const& attributes) noexcept
        : WarpFields()
    {
        mFields[0].data = &attributes.topK;
        mFields[1].data = &attributes.topP;
    }

    WarpFields(WarpFields const&) = delete;
    WarpFields& operator=(WarpFields const&) = delete;

    nvinfer1::PluginFieldCollection const* collection() const noexcept
    {
        return &mCollection;
    }

private:
    nvinfer1::PluginField mFields[2];
    nvinfer1::PluginFieldCollection mCollection{};
};

} // namespace trt
} // namespace redrafter
