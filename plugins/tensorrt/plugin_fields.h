// The PluginFieldCollection form of a plugin's build-time attributes, shared by every plugin.
//
// An attribute struct (beam_shape_attributes.h, warp_attributes.h) lists its fields once, in
//
//   static constexpr int32_t kNbFields;
//   template <typename Self, typename Visit> static void forEachField(Self& self, Visit&& visit);
//       // calls visit(name, self.member) for each field, in field order
//   bool valid() const noexcept;
//
// and the field type follows from the member's C++ type (int32_t: kINT32, float: kFLOAT32; every
// field has length 1). From that list come the creator's field names (AttributeFields()), a plugin's
// serialization (AttributeFields(attributes)) and createPlugin()'s parsing (readAttributes), which
// is the same in both TensorRT phases.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace redrafter
{
namespace trt
{

template <typename T>
constexpr nvinfer1::PluginFieldType pluginFieldType() noexcept
{
    static_assert(std::is_same<T, int32_t>::value || std::is_same<T, float>::value, "int32_t or float fields only");
    return std::is_same<T, int32_t>::value ? nvinfer1::PluginFieldType::kINT32 : nvinfer1::PluginFieldType::kFLOAT32;
}

// Reads every field of `Attributes`; false when one is missing, of another type or length, or the
// result is not valid(). Fields of other names, types or lengths are ignored; a later duplicate wins.
template <typename Attributes>
bool readAttributes(nvinfer1::PluginFieldCollection const* fc, Attributes& out) noexcept
{
    if (fc == nullptr || (fc->nbFields > 0 && fc->fields == nullptr))
    {
        return false;
    }
    bool found[Attributes::kNbFields] = {};
    for (int32_t k = 0; k < fc->nbFields; ++k)
    {
        nvinfer1::PluginField const& f = fc->fields[k];
        if (f.name == nullptr || f.data == nullptr || f.length != 1)
        {
            continue;
        }
        int32_t index = 0;
        Attributes::forEachField(out, [&](char const* name, auto& value) {
            using Value = std::remove_reference_t<decltype(value)>;
            if (f.type == pluginFieldType<Value>() && std::strcmp(f.name, name) == 0)
            {
                std::memcpy(&value, f.data, sizeof(Value));
                found[index] = true;
            }
            ++index;
        });
    }
    for (bool present : found)
    {
        if (!present)
        {
            return false;
        }
    }
    return out.valid();
}

// The field list of a creator (names and types, no data) and of a plugin's serialization (data
// pointing at the plugin's own attribute storage, so it stays valid for the plugin's lifetime).
template <typename Attributes>
class AttributeFields
{
public:
    // Creator form: no data.
    AttributeFields() noexcept
    {
        Attributes const names{};
        int32_t index = 0;
        Attributes::forEachField(names, [&](char const* name, auto const& value) {
            using Value = std::remove_const_t<std::remove_reference_t<decltype(value)>>;
            mFields[index++] = nvinfer1::PluginField(name, nullptr, pluginFieldType<Value>(), 1);
        });
        mCollection.nbFields = Attributes::kNbFields;
        mCollection.fields = mFields;
    }

    // Serialization form: points at `attributes`, which must outlive this object.
    explicit AttributeFields(Attributes const& attributes) noexcept
        : AttributeFields()
    {
        int32_t index = 0;
        Attributes::forEachField(attributes, [&](char const* /*name*/, auto const& value) {
            mFields[index++].data = &value;
        });
    }

    AttributeFields(AttributeFields const&) = delete;
    AttributeFields& operator=(AttributeFields const&) = delete;

    nvinfer1::PluginFieldCollection const* collection() const noexcept
    {
        return &mCollection;
    }

private:
    nvinfer1::PluginField mFields[Attributes::kNbFields];
    nvinfer1::PluginFieldCollection mCollection{};
};

} // namespace trt
} // namespace redrafter
