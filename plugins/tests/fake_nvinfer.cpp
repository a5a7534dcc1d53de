// A stand-in libnvinfer.so.<major> for the registration test (tests/test_plugins_build.py): it
// exports getPluginRegistry() and getLogger() like TensorRT, over a registry that only records what
// is registered, plus fakeRegistered() to read that record. Built with the soname of the TensorRT
// headers it is compiled against, so the plugin library's dlopen("libnvinfer.so.<major>") finds it
// on LD_LIBRARY_PATH. Test code only: it implements just enough of IPluginRegistry.
//
//   g++ -std=c++17 -shared -fPIC -isystem $TRT/include fake_nvinfer.cpp
//       -Wl,-soname,libnvinfer.so.<major> -o libnvinfer.so.<major>
#include <NvInferRuntime.h>
#include <NvInferVersion.h>

#include <string>
#include <vector>

using namespace nvinfer1;

// TensorRT 10's IPluginRegistry still declares the IPluginCreator (V2) overloads, deprecated.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace
{

class RecordingRegistry : public IPluginRegistry
{
public:
    std::vector<std::string> keys; // "name/version/namespace"
    std::vector<IPluginCreatorInterface*> creators;

    bool registerCreator(IPluginCreatorInterface& creator, AsciiChar const* const pluginNamespace) noexcept override
    {
        auto& c = static_cast<IPluginCreatorV3One&>(creator);
        std::string const key = std::string(c.getPluginName()) + "/" + c.getPluginVersion() + "/" + pluginNamespace;
        for (std::string const& k : keys)
        {
            if (k == key)
            {
                return false;
            }
        }
        keys.push_back(key);
        creators.push_back(&creator);
        return true;
    }

    IPluginCreatorInterface* getCreator(AsciiChar const* const pluginName, AsciiChar const* const pluginVersion,
        AsciiChar const* const pluginNamespace) noexcept override
    {
        std::string const key = std::string(pluginName) + "/" + pluginVersion + "/" + pluginNamespace;
        for (size_t k = 0; k < keys.size(); ++k)
        {
            if (keys[k] == key)
            {
                return creators[k];
            }
        }
        return nullptr;
    }

    IPluginCreatorInterface* const* getAllCreators(int32_t* const numCreators) const noexcept override
    {
        *numCreators = static_cast<int32_t>(creators.size());
        return creators.data();
    }

    // the rest of the interface: unused by the plugin library
    void setErrorRecorder(IErrorRecorder* const) noexcept override {}
    IErrorRecorder* getErrorRecorder() const noexcept override
    {
        return nullptr;
    }
    bool isParentSearchEnabled() const override
    {
        return false;
    }
    void setParentSearchEnabled(bool const) override {}
    PluginLibraryHandle loadLibrary(AsciiChar const*) noexcept override
    {
        return nullptr;
    }
    void deregisterLibrary(PluginLibraryHandle) noexcept override {}
    bool deregisterCreator(IPluginCreatorInterface const&) noexcept override
    {
        return false;
    }
    IPluginResource* acquirePluginResource(AsciiChar const*, IPluginResource*) noexcept override
    {
        return nullptr;
    }
    int32_t releasePluginResource(AsciiChar const*) noexcept override
    {
        return 0;
    }
#if NV_TENSORRT_MAJOR > 10 || NV_TENSORRT_MINOR >= 10
    IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* const numCreators) noexcept override
    {
        return getAllCreators(numCreators);
    }
#endif
#if NV_TENSORRT_MAJOR < 11
    bool registerCreator(IPluginCreator&, AsciiChar const* const) noexcept override
    {
        return false;
    }
    IPluginCreator* const* getPluginCreatorList(int32_t* const numCreators) const noexcept override
    {
        *numCreators = 0;
        return nullptr;
    }
    IPluginCreator* getPluginCreator(AsciiChar const* const, AsciiChar const* const, AsciiChar const* const) noexcept
        override
    {
        return nullptr;
    }
    bool deregisterCreator(IPluginCreator const&) noexcept override
    {
        return false;
    }
#endif
};

RecordingRegistry gRegistry;
std::string gRecord;

} // namespace

extern "C" __attribute__((visibility("default"))) IPluginRegistry* getPluginRegistry() noexcept
{
    return &gRegistry;
}

extern "C" __attribute__((visibility("default"))) ILogger* getLogger() noexcept
{
    return nullptr;
}

// "name/version/namespace;..." of every registered creator, in registration order.
extern "C" __attribute__((visibility("default"))) char const* fakeRegistered() noexcept
{
    gRecord.clear();
    for (std::string const& key : gRegistry.keys)
    {
        gRecord += key + ";";
    }
    return gRecord.c_str();
}
