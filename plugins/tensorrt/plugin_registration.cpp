// Self-registration of the plugin library. Contract: plugin_registration.h.
#include "plugin_registration.h"

#include "plugin_base.h"
#include "plugin_logging.h"

#include <NvInferRuntime.h>
#include <NvInferVersion.h>

#include <dlfcn.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators); // plugin_library.cpp

namespace redrafter
{
namespace trt
{
namespace
{

// The soname of the TensorRT this library was compiled against ("libnvinfer.so.10").
std::string nvinferSoname()
{
    return "libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR);
}

// dlsym of `symbol` in the process's libnvinfer: the one already loaded, or, when `load`, the one the
// dynamic loader finds (LD_LIBRARY_PATH, the ld.so cache). nullptr when there is none.
void* nvinferSymbol(char const* symbol, bool load)
{
    std::string const soname = nvinferSoname();
    void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (handle == nullptr && load)
    {
        handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_GLOBAL);
    }
    return handle != nullptr ? dlsym(handle, symbol) : nullptr;
}

// TensorRT's global logger (getLogger(), NvInferRuntime.h) as the plugins' logger.
class GlobalLoggerFinder : public nvinfer1::ILoggerFinder
{
public:
    nvinfer1::ILogger* findLogger() override
    {
        using GetLogger = nvinfer1::ILogger* (*) ();
        auto const getLogger = reinterpret_cast<GetLogger>(nvinferSymbol("getLogger", false));
        return getLogger != nullptr ? getLogger() : nullptr;
    }
};

// -1: no TensorRT; -2: a creator refused; else the number of creators registered.
int32_t registerInProcess(bool load) noexcept
{
    using GetRegistry = nvinfer1::IPluginRegistry* (*) ();
    auto const getRegistry = reinterpret_cast<GetRegistry>(nvinferSymbol("getPluginRegistry", load));
    nvinfer1::IPluginRegistry* registry = getRegistry != nullptr ? getRegistry() : nullptr;
    if (registry == nullptr)
    {
        return -1;
    }
    static GlobalLoggerFinder loggerFinder; // constructed on first use, also from the load-time constructor
    setPluginLoggerFinder(&loggerFinder);
    int32_t nbCreators = 0;
    nvinfer1::IPluginCreatorInterface* const* creators = getCreators(nbCreators);
    return registerPluginCreators(*registry, creators, nbCreators, kPluginNamespace) < 0 ? -2 : nbCreators;
}

// The canonical path of this library (dladdr of one of its functions), or "" when unknown.
std::string libraryPath()
{
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&registerInProcess), &info) == 0 || info.dli_fname == nullptr)
    {
        return {};
    }
    char resolved[PATH_MAX];
    return realpath(info.dli_fname, resolved) != nullptr ? std::string(resolved) : std::string(info.dli_fname);
}

std::string canonicalPath(std::string const& path)
{
    char resolved[PATH_MAX];
    return realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

// Runs when the dynamic loader loads the library. Registers only when LD_PRELOAD names this library:
// a library loaded any other way (loadLibrary, ctypes) leaves registration to its loader, since
// loadLibrary fails when a creator is registered already.
__attribute__((constructor)) void registerWhenPreloaded()
{
    char const* preload = std::getenv("LD_PRELOAD");
    if (preload == nullptr || !preloadListNames(preload, libraryPath(), canonicalPath))
    {
        return;
    }
    int32_t const status = registerInProcess(true);
    if (status < 0)
    {
        std::fprintf(stderr, "[RedrafterPlugins] LD_PRELOAD: the plugins were NOT registered: %s\n",
            status == -1 ? (nvinferSoname() + " not found by the dynamic loader").c_str()
                         : "TensorRT's plugin registry refused a creator");
    }
}

} // namespace
} // namespace trt
} // namespace redrafter

extern "C" int32_t redrafterRegisterPlugins() noexcept
{
    return redrafter::trt::registerInProcess(false);
}
