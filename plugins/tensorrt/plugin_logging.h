// Error reporting of the plugin library through TensorRT's logger.
//
// TensorRT hands the library an ILoggerFinder through the exported setLoggerFinder() entry point
// (plugin_library.cpp) when it loads the library with IPluginRegistry::loadLibrary. Until then (or
// when the library is used otherwise) errors go nowhere: plugins report failure by return codes too.
#pragma once

#include <NvInferRuntime.h>

namespace redrafter
{
namespace trt
{

void setPluginLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

// Logs "[RedrafterPlugins] <message>" at kERROR when a logger is known; returns 1 (an error code).
int32_t reportPluginError(char const* message) noexcept;

} // namespace trt
} // namespace redrafter
