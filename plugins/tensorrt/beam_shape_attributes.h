// The two build-time attributes shared by both plugins, and their PluginFieldCollection form.
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
#include <cstring>

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

    bool valid() const noexcept
    {
        return numBeams >= 1 && beamLength >= 1 && static_cast<int64_t>(numBeams) * beamLength <= (1 << 20);
    }

    // Reads both fields; false when one is missing, of another type or length, or out of range.
    static bool fromFields(nvinfer1::PluginFieldCollection const* fc, BeamShapeAttributes& out) noexcept
    {
        if (fc == nullptr || (fc->nbFields > 0 && fc->fields == nullptr))
        {
            return false;
        }
        bool haveBeams = false;
        bool haveLength = false;
        for (int32_t k = 0; k < fc->nbFields; ++k)
        {
            nvinfer1::PluginField const& f = fc->fields[k];
            if (f.name == nullptr || f.data == nullptr || f.type != nvinfer1::PluginFieldType::kINT32 || f.length != 1)
            {
                continue;
            }
            if (std::strcmp(f.name, kNumBeamsField) == 0)
            {
                std::memcpy(&out.numBeams, f.data, sizeof(int32_t));
                haveBeams = true;
            }
            else if (std::strcmp(f.name, kBeamLengthField) == 0)
            {
                std::memcpy(&out.beamLength, f.data, sizeof(int32_t));
                haveLength = true;
            }
        }
        return haveBeams && haveLength && out.valid();
    }
};

// The field list of a creator (names and types, no data) and of a plugin's serialization (data
// pointing at the plugin's own attribute storage, so it stays valid for the plugin's lifetime).
class BeamShapeFields
{
public:
    // Creator form: no data.
    BeamShapeFields() noexcept
    {
        mFields[0] = nvinfer1::PluginField(kNumBeamsField, nullptr, nvinfer1::PluginFieldType::kINT32, 1);
        mFields[1] = nvinfer1::PluginField(kBeamLengthField, nullptr, nvinfer1::PluginFieldType::kINT32, 1);
        mCollection.nbFields = 2;
        mCollection.fields = mFields;
    }

    // Serialization form: points at `attributes`, which must outlive this object.
    explicit BeamShapeFields(BeamShapeAttributes const& attributes) noexcept
        : BeamShapeFields()
    {
        mFields[0].data = &attributes.numBeams;
        mFields[1].data = &attributes.beamLength;
    }

    BeamShapeFields(BeamShapeFields const&) = delete;
    BeamShapeFields& operator=(BeamShapeFields const&) = delete;

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
