// Entry points of libtrtllm_redrafter_plugins.so for IPluginRegistry::loadLibrary (Python:
// tensorrt.get_plugin_registry().load_library(path); trtexec --dynamicPlugins / --staticPlugins).
//
// TensorRT calls setLoggerFinder() and then getCreators() and registers every returned creator
// (their namespace is "trtllm_redrafter"; which namespace loadLibrary registers them under is not
// documented). trtllm_redrafter/ops/plugins.py and LD_PRELOAD register them through
// plugin_registration.cpp instead, under that namespace explicitly; a library loaded any other way
// registers nothing by itself (loadLibrary fails if a creator is already registered).
#include "../common/host_device.h"
#include "fused_sampling_accept_plugin.h"
#include "greedy_accept_plugin.h"
#include "pack_beams_plugin.h"
#include "plugin_logging.h"
#include "sampling_accept_plugin.h"
#include "warp_softmax_plugin.h"

#include <NvInferRuntime.h>

extern "C" RD_API void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    redrafter::trt::setPluginLoggerFinder(finder);
}

extern "C" RD_API nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static redrafter::trt::PackBeamsPluginCreator packBeams;
    static redrafter::trt::GreedyAcceptPluginCreator greedyAccept;
    static redrafter::trt::WarpSoftmaxPluginCreator warpSoftmax;
    static redrafter::trt::SamplingAcceptPluginCreator samplingAccept;
    static redrafter::trt::FusedSamplingAcceptPluginCreator fusedSamplingAccept;
    static nvinfer1::IPluginCreatorInterface* const creators[]
        = {&packBeams, &greedyAccept, &warpSoftmax, &samplingAccept, &fusedSamplingAccept};
    nbCreators = static_cast<int32_t>(sizeof(creators) / sizeof(creators[0]));
    return creators;
}
