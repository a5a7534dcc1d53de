// Registration of the library's creators in the process's TensorRT plugin registry, under the
// library's own namespace (kPluginNamespace, plugin_base.h), by the library itself.
//
// Two entry points of libtrtllm_redrafter_plugins.so use it (plugin_registration.cpp):
//
//   redrafterRegisterPlugins()  exported; trtllm_redrafter/ops/plugins.py calls it after loading the
//                               library into a process that has imported tensorrt
//   a load-time constructor     when the library is named in LD_PRELOAD, it registers the creators as
//                               the process starts, before any code of the process runs. This is how
//                               processes that deserialize an engine without our Python code (trtllm-serve
//                               and TensorRT-LLM's executor workers, Triton's tensorrtllm backend) find
//                               the plugins: LD_PRELOAD=/abs/path/libtrtllm_redrafter_plugins.so is the
//                               one environment setting they need (docs/plugins.md, "Serving").
//
// Why not IPluginRegistry::loadLibrary: its documentation (NvInferRuntimeCommon.h) does not say in
// which namespace it registers the creators, and it fails when any of them is registered already.
// registerCreator(creator, pluginNamespace) takes the namespace explicitly. The exported
// getCreators() / setLoggerFinder() stay for loadLibrary users (trtexec --dynamicPlugins).
//
// The functions below are the testable part: templates over the registry type, so the host harness
// (plugins/tests/trt_plugin_harness.cpp) runs them against a registry of its own.
#pragma once

#include "../common/host_device.h"

#include <NvInferRuntime.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace redrafter
{
namespace trt
{

// Registers every creator not yet registered under `pluginNamespace` (name, version and namespace,
// IPluginRegistry::getCreator). Returns how many it added, or -1 when the registry refused one.
template <typename Registry>
int32_t registerPluginCreators(Registry& registry, nvinfer1::IPluginCreatorInterface* const* creators,
    int32_t nbCreators, char const* pluginNamespace) noexcept
{
    int32_t added = 0;
    for (int32_t k = 0; k < nbCreators; ++k)
    {
        auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(creators[k]); // every creator here is V3One
        if (registry.getCreator(creator->getPluginName(), creator->getPluginVersion(), pluginNamespace) != nullptr)
        {
            continue;
        }
        if (!registry.registerCreator(*creators[k], pluginNamespace))
        {
            return -1;
        }
        ++added;
    }
    return added;
}

// The part of `path` after its last '/'.
inline char const* fileName(char const* path) noexcept
{
    char const* slash = std::strrchr(path, '/');
    return slash != nullptr ? slash + 1 : path;
}

// True when the LD_PRELOAD value `list` names the library whose canonical path is `self`. The dynamic
// loader separates entries by ':' or ' '. An entry with a '/' names it when canonical(entry) equals
// `self`; an entry without one (searched for on the library path) when it equals self's file name.
template <typename Canonical>
bool preloadListNames(char const* list, std::string const& self, Canonical&& canonical)
{
    if (list == nullptr || self.empty())
    {
        return false;
    }
    std::string const all(list);
    size_t begin = 0;
    while (begin <= all.size())
    {
        size_t end = all.find_first_of(": ", begin);
        end = end == std::string::npos ? all.size() : end;
        std::string const entry = all.substr(begin, end - begin);
        if (!entry.empty())
        {
            bool const named = entry.find('/') != std::string::npos ? canonical(entry) == self
                                                                    : entry == fileName(self.c_str());
            if (named)
            {
                return true;
            }
        }
        begin = end + 1;
    }
    return false;
}

} // namespace trt
} // namespace redrafter

extern "C"
{
    // Registers the library's creators in the registry of the TensorRT already loaded in this
    // process (libnvinfer.so.<major of the headers built against>) under "trtllm_redrafter", and
    // routes the plugins' errors to TensorRT's logger. Returns the number of creators now registered
    // there, -1 when no TensorRT is loaded, -2 when the registry refused a creator. Idempotent.
    RD_API int32_t redrafterRegisterPlugins() noexcept;
}
