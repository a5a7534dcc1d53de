// The IPluginV3 plumbing every plugin of the library shares: PluginBase (CRTP) and PluginCreator.
//
// A plugin derives from PluginBase<Plugin, Attributes> and declares
//
//   static constexpr char const* kName, kVersion;  // plugin name and version
//   static constexpr char const* kFieldsError;      // logged when createPlugin() gets bad fields
//   static constexpr int32_t kNbInputs, kNbOutputs;
//   REDRAFTER_PLUGIN_METHODS  // supportsType, getOutputDataTypes, getOutputShapes, configurePlugin,
//                             // onShapeChange and enqueue, which it implements
//
// (and getWorkspaceSize when it needs one). PluginBase supplies the capability interfaces, name, version
// and namespace, clone() / attachToContext() (a new plugin with the same attributes), the output
// count, serialization of the attributes (plugin_fields.h), the input / output count and linear
// format checks of supportsFormatCombination (the type of each position is the plugin's), and no
// workspace. PluginCreator<Plugin> is the plugin's IPluginCreatorV3One: it reads the attributes from
// the fields in both TensorRT phases (plugin_fields.h) and creates the plugin.
#pragma once

#include "plugin_fields.h"
#include "plugin_logging.h"

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <utility>

namespace redrafter
{
namespace trt
{

// The methods each plugin implements itself; its class body declares them with this macro (the
// plugin-specific part of the IPluginV3 interfaces, see the list above).
#define REDRAFTER_PLUGIN_METHODS                                                                               \
    /* The type of input / output `pos` (linear format and counts are checked by PluginBase). */               \
    bool supportsType(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut) const noexcept;             \
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,                             \
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;                       \
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,                               \
        nvinfer1::DimsExprs const* shapeInputs, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs,           \
        int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept override;                             \
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,                     \
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;                    \
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,                              \
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;                           \
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc, \
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;

// Dims beyond this do not fit the kernels' int32 arguments.
constexpr int64_t kInt32Max = 0x7FFFFFFF;

// The plugin namespace of every creator and plugin of the library (trtllm_redrafter/ops/plugins.py's
// PLUGIN_NAMESPACE). An engine records each plugin's (name, version, namespace) and deserialization
// looks the creator up by all three (IPluginRegistry::getCreator), so a namespace of our own keeps the
// plugins apart from TensorRT's and TensorRT-LLM's ("tensorrt_llm") in the process-wide registry.
constexpr char const* kPluginNamespace = "trtllm_redrafter";

// Name, version and namespace of `Plugin`, for the interface that declares them (IPluginV3OneCore
// for the plugin, IPluginCreatorV3One for its creator).
template <typename Plugin, typename Interface>
class PluginIdentity : public Interface
{
public:
    explicit PluginIdentity(std::string pluginNamespace)
        : mNamespace(std::move(pluginNamespace))
    {
    }

    char const* getPluginName() const noexcept override
    {
        return Plugin::kName;
    }

    char const* getPluginVersion() const noexcept override
    {
        return Plugin::kVersion;
    }

    char const* getPluginNamespace() const noexcept override
    {
        return mNamespace.c_str();
    }

protected:
    std::string const& pluginNamespace() const noexcept
    {
        return mNamespace;
    }

private:
    std::string mNamespace;
};

template <typename Plugin, typename Attributes>
class PluginBase : public nvinfer1::IPluginV3,
                   public PluginIdentity<Plugin, nvinfer1::IPluginV3OneCore>,
                   public nvinfer1::IPluginV3OneBuild,
                   public nvinfer1::IPluginV3OneRuntime
{
public:
    using AttributesType = Attributes;

    PluginBase(Attributes attributes, std::string pluginNamespace)
        : PluginIdentity<Plugin, nvinfer1::IPluginV3OneCore>(std::move(pluginNamespace))
        , mAttributes(attributes)
    {
    }
    ~PluginBase() override = default;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override
    {
        switch (type)
        {
        case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
        case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
        case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
        }
        return nullptr;
    }

    nvinfer1::IPluginV3* clone() noexcept override
    {
        try
        {
            return new Plugin(mAttributes, this->pluginNamespace());
        }
        catch (...)
        {
            return nullptr;
        }
    }

    // IPluginV3OneBuild
    int32_t getNbOutputs() const noexcept override
    {
        return Plugin::kNbOutputs;
    }

    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override
    {
        if (nbInputs != Plugin::kNbInputs || nbOutputs != Plugin::kNbOutputs || pos < 0
            || pos >= Plugin::kNbInputs + Plugin::kNbOutputs)
        {
            return false;
        }
        return inOut[pos].desc.format == nvinfer1::TensorFormat::kLINEAR
            && static_cast<Plugin const*>(this)->supportsType(pos, inOut);
    }

    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* /*inputs*/, int32_t /*nbInputs*/,
        nvinfer1::DynamicPluginTensorDesc const* /*outputs*/, int32_t /*nbOutputs*/) const noexcept override
    {
        return 0;
    }

    // IPluginV3OneRuntime
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept override
    {
        return clone();
    }

    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override
    {
        return mSerialized.collection();
    }

protected:
    Attributes mAttributes;

private:
    AttributeFields<Attributes> mSerialized{mAttributes};
};

template <typename Plugin>
class PluginCreator : public PluginIdentity<Plugin, nvinfer1::IPluginCreatorV3One>
{
public:
    using Attributes = typename Plugin::AttributesType;

    explicit PluginCreator(std::string pluginNamespace = kPluginNamespace)
        : PluginIdentity<Plugin, nvinfer1::IPluginCreatorV3One>(std::move(pluginNamespace))
    {
    }

    nvinfer1::IPluginV3* createPlugin(char const* /*name*/, nvinfer1::PluginFieldCollection const* fc,
        nvinfer1::TensorRTPhase /*phase*/) noexcept override
    {
        Attributes attributes;
        if (!readAttributes(fc, attributes))
        {
            reportPluginError(Plugin::kFieldsError);
            return nullptr;
        }
        try
        {
            return new Plugin(attributes, this->pluginNamespace());
        }
        catch (...)
        {
            return nullptr;
        }
    }

    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override
    {
        return mFieldNames.collection();
    }

private:
    AttributeFields<Attributes> mFieldNames;
};

} // namespace trt
} // namespace redrafter
