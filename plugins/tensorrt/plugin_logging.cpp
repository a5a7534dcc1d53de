// Error reporting of the plugin library. Contract: plugin_logging.h.
#include "plugin_logging.h"

#include <atomic>
#include <string>

namespace redrafter
{
namespace trt
{
namespace
{

std::atomic<nvinfer1::ILoggerFinder*> gLoggerFinder{nullptr};

} // namespace

void setPluginLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept
{
    gLoggerFinder.store(finder);
}

int32_t reportPluginError(char const* message) noexcept
{
    nvinfer1::ILoggerFinder* finder = gLoggerFinder.load();
    nvinfer1::ILogger* logger = finder != nullptr ? finder->findLogger() : nullptr;
    if (logger != nullptr)
    {
        try
        {
            std::string const text = std::string("[RedrafterPlugins] ") + message;
            logger->log(nvinfer1::ILogger::Severity::kERROR, text.c_str());
        }
        catch (...)
        {
            logger->log(nvinfer1::ILogger::Severity::kERROR, message);
        }
    }
    return 1;
}

} // namespace trt
} // namespace redrafter
