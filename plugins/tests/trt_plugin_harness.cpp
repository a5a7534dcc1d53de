// Host-only harness for libtrtllm_redrafter_plugins.so, compiled against TensorRT's public headers.
//
// It needs neither libnvinfer nor a GPU: the plugin interfaces are virtual, so the harness plays
// TensorRT's part itself. It calls the library's getCreators() entry point, creates all five plugins
// (RedrafterPackBeams, RedrafterGreedyAccept, RedrafterWarpSoftmax, RedrafterSamplingAccept,
// RedrafterFusedSamplingAccept) from
// PluginFieldCollections, and checks names, versions, capability interfaces, output types,
// output shapes (through a small IExprBuilder of its own), supported formats, workspace size,
// configure / onShapeChange validation (the shared-memory and workspace limits the launchers enforce
// included), the serialization round trip (getFieldsToSerialize -> createPlugin in the runtime phase),
// clone / attachToContext, the namespace "trtllm_redrafter", registration into a registry of its own
// (plugin_registration.h) and error logging via setLoggerFinder(). It does not run enqueue() with work
// (that needs a GPU). tests/test_plugins_build.py also runs the LD_PRELOAD registration path against
// a stand-in libnvinfer (fake_nvinfer.cpp, preload_probe.cpp).
//
// Build and run (tests/test_plugins_build.py does this when REDRAFTER_TRT_INCLUDE_DIRS is set):
//   g++ -std=c++17 -isystem $TRT/include -isystem $CUDA/include trt_plugin_harness.cpp
//       -L$BUILD -ltrtllm_redrafter_plugins -Wl,-rpath,$BUILD -o harness && ./harness
// Prints one "ok ..." line per check and "harness: N checks, M failed"; exit status 1 on a failure.
#include "../tensorrt/plugin_registration.h"

#include <NvInferRuntime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace nvinfer1;

extern "C" void setLoggerFinder(ILoggerFinder* finder);
extern "C" IPluginCreatorInterface* const* getCreators(int32_t& nbCreators);

namespace
{

int gChecks = 0;
int gFailures = 0;

void check(bool condition, std::string const& what)
{
    ++gChecks;
    if (condition)
    {
        std::printf("ok %s\n", what.c_str());
    }
    else
    {
        ++gFailures;
        std::printf("FAILED %s\n", what.c_str());
    }
}

// --- a minimal expression system: every expression carries its value; only constants say so ---

class Value : public apiv::VDimensionExpr
{
public:
    Value(int64_t value, bool constant)
        : mValue(value)
        , mConstant(constant)
    {
    }
    bool isConstant() const override
    {
        return mConstant;
    }
    int64_t getConstantValue() const override
    {
        return mValue; // the harness reads values of non-constants too (see valueOf)
    }
    bool isSizeTensor() const override
    {
        return false;
    }

private:
    int64_t mValue;
    bool mConstant;
};

class Expr : public IDimensionExpr
{
public:
    explicit Expr(apiv::VDimensionExpr* impl)
    {
        mImpl = impl;
    }
    ~Expr() noexcept override = default;
};

class Builder : public apiv::VExprBuilder
{
public:
    IDimensionExpr const* make(int64_t value, bool constant)
    {
        mValues.push_back(std::make_unique<Value>(value, constant));
        mExprs.push_back(std::make_unique<Expr>(mValues.back().get()));
        return mExprs.back().get();
    }
    IDimensionExpr const* constant(int64_t value) override
    {
        return make(value, true);
    }
    IDimensionExpr const* operation(DimensionOperation op, IDimensionExpr const& a, IDimensionExpr const& b) override
    {
        int64_t const x = a.getConstantValue();
        int64_t const y = b.getConstantValue();
        bool const c = a.isConstant() && b.isConstant();
        switch (op)
        {
        case DimensionOperation::kSUM: return make(x + y, c);
        case DimensionOperation::kPROD: return make(x * y, c);
        case DimensionOperation::kMAX: return make(x > y ? x : y, c);
        case DimensionOperation::kMIN: return make(x < y ? x : y, c);
        case DimensionOperation::kSUB: return make(x - y, c);
        case DimensionOperation::kEQUAL: return make(x == y, c);
        case DimensionOperation::kLESS: return make(x < y, c);
        case DimensionOperation::kFLOOR_DIV: return make(x / y, c);
        case DimensionOperation::kCEIL_DIV: return make((x + y - 1) / y, c);
        }
        return nullptr;
    }
    IDimensionExpr const* declareSizeTensor(int32_t, IDimensionExpr const&, IDimensionExpr const&) override
    {
        return nullptr;
    }

private:
    std::deque<std::unique_ptr<Value>> mValues;
    std::deque<std::unique_ptr<Expr>> mExprs;
};

class ExprBuilder : public IExprBuilder
{
public:
    explicit ExprBuilder(apiv::VExprBuilder* impl)
    {
        mImpl = impl;
    }
    ~ExprBuilder() noexcept override = default;
};

DimsExprs dimsOf(Builder& b, std::vector<int64_t> const& values, std::vector<bool> const& constant)
{
    DimsExprs d{};
    d.nbDims = static_cast<int32_t>(values.size());
    for (size_t k = 0; k < values.size(); ++k)
    {
        d.d[k] = b.make(values[k], constant[k]);
    }
    return d;
}

std::vector<int64_t> valuesOf(DimsExprs const& d)
{
    std::vector<int64_t> v;
    for (int32_t k = 0; k < d.nbDims; ++k)
    {
        v.push_back(d.d[k] == nullptr ? -999 : d.d[k]->getConstantValue());
    }
    return v;
}

Dims dims(std::vector<int64_t> const& values)
{
    Dims d{};
    d.nbDims = static_cast<int32_t>(values.size());
    for (size_t k = 0; k < values.size(); ++k)
    {
        d.d[k] = values[k];
    }
    return d;
}

DynamicPluginTensorDesc dynamicDesc(DataType type, std::vector<int64_t> const& shape, TensorFormat format = TensorFormat::kLINEAR)
{
    DynamicPluginTensorDesc desc{};
    desc.desc.type = type;
    desc.desc.format = format;
    desc.desc.dims = dims(shape);
    desc.min = desc.opt = desc.max = dims(shape);
    return desc;
}

PluginTensorDesc runtimeDesc(DataType type, std::vector<int64_t> const& shape)
{
    PluginTensorDesc desc{};
    desc.type = type;
    desc.format = TensorFormat::kLINEAR;
    desc.dims = dims(shape);
    return desc;
}

// --- logging ---

class CapturingLogger : public ILogger
{
public:
    void log(Severity severity, char const* msg) noexcept override
    {
        if (severity == Severity::kERROR)
        {
            messages.emplace_back(msg);
        }
    }
    std::vector<std::string> messages;
};

class Finder : public ILoggerFinder
{
public:
    explicit Finder(ILogger* logger)
        : mLogger(logger)
    {
    }
    ILogger* findLogger() override
    {
        return mLogger;
    }

private:
    ILogger* mLogger;
};

// --- helpers over the plugin interfaces ---

struct Fields
{
    std::vector<PluginField> fields;
    PluginFieldCollection fc{};
};

std::unique_ptr<Fields> beamFields(int32_t const* nb, int32_t const* bl, PluginFieldType type = PluginFieldType::kINT32)
{
    auto f = std::make_unique<Fields>();
    if (nb != nullptr)
    {
        f->fields.emplace_back("num_beams", nb, type, 1);
    }
    if (bl != nullptr)
    {
        f->fields.emplace_back("beam_length", bl, type, 1);
    }
    f->fc.nbFields = static_cast<int32_t>(f->fields.size());
    f->fc.fields = f->fields.data();
    return f;
}

IPluginV3OneCore* core(IPluginV3* p)
{
    return static_cast<IPluginV3OneCore*>(p->getCapabilityInterface(PluginCapabilityType::kCORE));
}

IPluginV3OneBuild* build(IPluginV3* p)
{
    return static_cast<IPluginV3OneBuild*>(p->getCapabilityInterface(PluginCapabilityType::kBUILD));
}

IPluginV3OneRuntime* runtime(IPluginV3* p)
{
    return static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
}

// The (num_beams, beam_length[, max_batch_size]) a plugin serializes, in that order; -1 entries when
// the fields are not as expected.
std::vector<int32_t> serialized(IPluginV3* p)
{
    PluginFieldCollection const* fc = runtime(p)->getFieldsToSerialize();
    int32_t const n = fc != nullptr && (fc->nbFields == 2 || fc->nbFields == 3) ? fc->nbFields : 2;
    std::vector<int32_t> out(n, -1);
    if (fc == nullptr || fc->nbFields != n)
    {
        return out;
    }
    char const* const names[3] = {"num_beams", "beam_length", "max_batch_size"};
    for (int32_t k = 0; k < n; ++k)
    {
        PluginField const& f = fc->fields[k];
        if (f.type != PluginFieldType::kINT32 || f.length != 1 || f.data == nullptr)
        {
            return std::vector<int32_t>(n, -1);
        }
        for (int32_t name = 0; name < n; ++name)
        {
            if (std::strcmp(f.name, names[name]) == 0)
            {
                out[name] = *static_cast<int32_t const*>(f.data);
            }
        }
    }
    return out;
}

IPluginCreatorV3One* creatorNamed(char const* name)
{
    int32_t n = 0;
    IPluginCreatorInterface* const* creators = getCreators(n);
    for (int32_t k = 0; k < n; ++k)
    {
        auto* c = static_cast<IPluginCreatorV3One*>(creators[k]);
        if (std::strcmp(c->getPluginName(), name) == 0)
        {
            return c;
        }
    }
    return nullptr;
}

constexpr char const* kNamespace = "trtllm_redrafter";

// The checks every creator passes: found, V3One, `version` in the namespace "trtllm_redrafter".
// False when there is no creator (nothing more can be checked).
bool checkCreator(std::string const& tag, IPluginCreatorV3One* creator, char const* version = "1")
{
    check(creator != nullptr, tag + "creator returned by getCreators");
    if (creator == nullptr)
    {
        return false;
    }
    check(std::strcmp(creator->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0, tag + "creator is V3One");
    check(std::strcmp(creator->getPluginVersion(), version) == 0
            && std::strcmp(creator->getPluginNamespace(), kNamespace) == 0,
        tag + "creator version " + version + ", namespace trtllm_redrafter");
    return true;
}

// The fields num_beams, beam_length and, for RedrafterGreedyAccept (maxBatch not null), max_batch_size.
std::unique_ptr<Fields> beamFields(int32_t const* nb, int32_t const* bl, int32_t const* maxBatch)
{
    auto f = beamFields(nb, bl);
    if (maxBatch != nullptr)
    {
        f->fields.emplace_back("max_batch_size", maxBatch, PluginFieldType::kINT32, 1);
        f->fc.nbFields = static_cast<int32_t>(f->fields.size());
        f->fc.fields = f->fields.data();
    }
    return f;
}

// maxBatch: RedrafterGreedyAccept's max_batch_size (8), null for the plugins without it.
void checkCommon(char const* name, IPluginCreatorV3One* creator, char const* version = "1",
    int32_t const* maxBatch = nullptr)
{
    std::string const tag = std::string(name) + ": ";
    if (!checkCreator(tag, creator, version))
    {
        return;
    }
    int32_t const nbFields = maxBatch != nullptr ? 3 : 2;
    PluginFieldCollection const* names = creator->getFieldNames();
    check(names != nullptr && names->nbFields == nbFields && std::strcmp(names->fields[0].name, "num_beams") == 0
            && std::strcmp(names->fields[1].name, "beam_length") == 0
            && names->fields[0].type == PluginFieldType::kINT32 && names->fields[1].type == PluginFieldType::kINT32
            && (maxBatch == nullptr
                || (std::strcmp(names->fields[2].name, "max_batch_size") == 0
                    && names->fields[2].type == PluginFieldType::kINT32)),
        tag + (maxBatch != nullptr ? "field names num_beams, beam_length, max_batch_size (int32)"
                                   : "field names num_beams, beam_length (int32)"));

    int32_t const nb = 3;
    int32_t const bl = 4;
    int32_t const zero = 0;
    int64_t const wide = 3;
    check(creator->createPlugin(name, &beamFields(&nb, nullptr, maxBatch)->fc, TensorRTPhase::kBUILD) == nullptr,
        tag + "missing beam_length is rejected");
    check(creator->createPlugin(name, &beamFields(&zero, &bl, maxBatch)->fc, TensorRTPhase::kBUILD) == nullptr,
        tag + "num_beams = 0 is rejected");
    if (maxBatch != nullptr)
    {
        int32_t const tooMany = 65536;
        check(creator->createPlugin(name, &beamFields(&nb, &bl)->fc, TensorRTPhase::kBUILD) == nullptr
                && creator->createPlugin(name, &beamFields(&nb, &bl, &zero)->fc, TensorRTPhase::kBUILD) == nullptr
                && creator->createPlugin(name, &beamFields(&nb, &bl, &tooMany)->fc, TensorRTPhase::kBUILD) == nullptr,
            tag + "max_batch_size missing, 0 or 65536 is rejected");
    }
    auto wideFields = beamFields(nullptr, nullptr);
    wideFields->fields.emplace_back("num_beams", &wide, PluginFieldType::kINT64, 1);
    wideFields->fields.emplace_back("beam_length", &wide, PluginFieldType::kINT64, 1);
    wideFields->fc.nbFields = 2;
    wideFields->fc.fields = wideFields->fields.data();
    check(creator->createPlugin(name, &wideFields->fc, TensorRTPhase::kBUILD) == nullptr,
        tag + "int64 fields are rejected");

    std::unique_ptr<IPluginV3> plugin(
        creator->createPlugin(name, &beamFields(&nb, &bl, maxBatch)->fc, TensorRTPhase::kBUILD));
    check(plugin != nullptr, tag + "created from num_beams=3, beam_length=4");
    if (!plugin)
    {
        return;
    }
    std::vector<int32_t> attributes{3, 4};
    if (maxBatch != nullptr)
    {
        attributes.push_back(*maxBatch);
    }
    check(core(plugin.get()) != nullptr && build(plugin.get()) != nullptr && runtime(plugin.get()) != nullptr,
        tag + "core, build and runtime capabilities");
    check(std::strcmp(core(plugin.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_CORE") == 0
            && std::strcmp(build(plugin.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0
            && std::strcmp(runtime(plugin.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0,
        tag + "capability interface kinds");
    check(std::strcmp(core(plugin.get())->getPluginName(), name) == 0
            && std::strcmp(core(plugin.get())->getPluginVersion(), version) == 0
            && std::strcmp(core(plugin.get())->getPluginNamespace(), kNamespace) == 0,
        tag + "plugin name, version and namespace match the creator");
    check(build(plugin.get())->getNbOutputs() == 6, tag + "six outputs");

    check(serialized(plugin.get()) == attributes, tag + "serializes its attributes (num_beams=3, beam_length=4, ...)");
    std::unique_ptr<IPluginV3> restored(
        creator->createPlugin(name, runtime(plugin.get())->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
    check(restored != nullptr && serialized(restored.get()) == attributes
            && std::strcmp(core(restored.get())->getPluginNamespace(), kNamespace) == 0,
        tag + "runtime-phase createPlugin from the serialized fields round-trips");
    std::unique_ptr<IPluginV3> cloned(plugin->clone());
    check(cloned != nullptr && serialized(cloned.get()) == attributes
            && std::strcmp(core(cloned.get())->getPluginNamespace(), kNamespace) == 0,
        tag + "clone keeps attributes and namespace");
    std::unique_ptr<IPluginV3> attached(runtime(plugin.get())->attachToContext(nullptr));
    check(attached != nullptr && attached.get() != plugin.get() && serialized(attached.get()) == attributes,
        tag + "attachToContext returns a new plugin with the same attributes");
}

// checkCommon() of the creator of `name`, and a plugin it creates from num_beams=3, beam_length=4
// (both null when there is no creator).
struct BeamPluginUnderTest
{
    IPluginCreatorV3One* creator;
    std::unique_ptr<IPluginV3> plugin;
};

BeamPluginUnderTest beamPluginUnderTest(char const* name, char const* version = "1", int32_t const* maxBatch = nullptr)
{
    IPluginCreatorV3One* creator = creatorNamed(name);
    checkCommon(name, creator, version, maxBatch);
    if (creator == nullptr)
    {
        return {nullptr, nullptr};
    }
    int32_t const nb = 3;
    int32_t const bl = 4;
    return {creator, std::unique_ptr<IPluginV3>(
                         creator->createPlugin(name, &beamFields(&nb, &bl, maxBatch)->fc, TensorRTPhase::kBUILD))};
}

void checkPackBeams()
{
    char const* name = "RedrafterPackBeams";
    auto [creator, plugin] = beamPluginUnderTest(name); // n_cap = 10, one mask word
    if (creator == nullptr)
    {
        return;
    }
    IPluginV3OneBuild* b = build(plugin.get());
    IPluginV3OneRuntime* r = runtime(plugin.get());

    DataType in[2] = {DataType::kINT32, DataType::kINT32};
    DataType out[6];
    check(b->getOutputDataTypes(out, 6, in, 2) == 0, name + std::string(": int32 inputs accepted"));
    bool allInt = true;
    for (DataType t : out)
    {
        allInt = allInt && t == DataType::kINT32;
    }
    check(allInt, name + std::string(": every output is int32"));
    DataType badIn[2] = {DataType::kFLOAT, DataType::kINT32};
    check(b->getOutputDataTypes(out, 6, badIn, 2) != 0, name + std::string(": float draft_tokens rejected"));

    Builder values;
    ExprBuilder exprs(&values);
    DimsExprs inputs[2] = {dimsOf(values, {5, 3, 4}, {false, true, true}), dimsOf(values, {5}, {false})};
    DimsExprs outputs[6];
    check(b->getOutputShapes(inputs, 2, nullptr, 0, outputs, 6, exprs) == 0, name + std::string(": shapes inferred"));
    std::vector<std::vector<int64_t>> const expected
        = {{5, 10}, {5}, {5, 3, 4}, {5, 10}, {5, 10, 1}, {5, 10}};
    bool shapesOk = true;
    for (int k = 0; k < 6; ++k)
    {
        shapesOk = shapesOk && valuesOf(outputs[k]) == expected[k];
    }
    check(shapesOk, name + std::string(": output shapes [bs,10] [bs] [bs,3,4] [bs,10] [bs,10,1] [bs,10]"));
    check(outputs[0].d[1]->isConstant() && outputs[4].d[2]->isConstant(), name + std::string(": n_cap and W are constants"));
    DimsExprs wrong[2] = {dimsOf(values, {5, 2, 4}, {false, true, true}), dimsOf(values, {5}, {false})};
    check(b->getOutputShapes(wrong, 2, nullptr, 0, outputs, 6, exprs) != 0,
        name + std::string(": num_beams mismatch rejected"));

    int32_t const nb17 = 17;
    int32_t const bl3 = 3; // n_cap = 35: two mask words
    std::unique_ptr<IPluginV3> wide(creator->createPlugin(name, &beamFields(&nb17, &bl3)->fc, TensorRTPhase::kBUILD));
    DimsExprs wideIn[2] = {dimsOf(values, {2, 17, 3}, {true, true, true}), dimsOf(values, {2}, {true})};
    check(build(wide.get())->getOutputShapes(wideIn, 2, nullptr, 0, outputs, 6, exprs) == 0
            && valuesOf(outputs[4]) == std::vector<int64_t>{2, 35, 2},
        name + std::string(": 17 beams of length 3 give a [bs, 35, 2] mask"));

    std::vector<DynamicPluginTensorDesc> io
        = {dynamicDesc(DataType::kINT32, {-1, 3, 4}), dynamicDesc(DataType::kINT32, {-1})};
    for (int k = 0; k < 6; ++k)
    {
        io.push_back(dynamicDesc(DataType::kINT32, {-1, 10}));
    }
    bool formats = true;
    for (int pos = 0; pos < 8; ++pos)
    {
        formats = formats && b->supportsFormatCombination(pos, io.data(), 2, 6);
    }
    check(formats, name + std::string(": linear int32 supported at every position"));
    io[0].desc.type = DataType::kFLOAT;
    check(!b->supportsFormatCombination(0, io.data(), 2, 6), name + std::string(": float rejected"));
    io[0].desc.type = DataType::kINT32;
    io[0].desc.format = TensorFormat::kCHW32;
    check(!b->supportsFormatCombination(0, io.data(), 2, 6), name + std::string(": non-linear format rejected"));
    io[0].desc.format = TensorFormat::kLINEAR;

    check(b->configurePlugin(io.data(), 2, io.data() + 2, 6) == 0, name + std::string(": configure with dynamic bs"));
    check(b->getWorkspaceSize(io.data(), 2, io.data() + 2, 6) == 0, name + std::string(": no workspace"));
    // the scratch limit the launcher enforces (48 KiB of shared memory), refused at configure time
    bool scratch = true;
    for (auto [nbLimit, fits] : {std::pair<int32_t, bool>{30, true}, std::pair<int32_t, bool>{31, false}})
    {
        int32_t const bl100 = 100;
        std::unique_ptr<IPluginV3> large(
            creator->createPlugin(name, &beamFields(&nbLimit, &bl100)->fc, TensorRTPhase::kBUILD));
        std::vector<DynamicPluginTensorDesc> largeIo
            = {dynamicDesc(DataType::kINT32, {-1, nbLimit, 100}), dynamicDesc(DataType::kINT32, {-1})};
        for (int k = 0; k < 6; ++k)
        {
            largeIo.push_back(dynamicDesc(DataType::kINT32, {-1, 1}));
        }
        scratch = scratch && large != nullptr
            && (build(large.get())->configurePlugin(largeIo.data(), 2, largeIo.data() + 2, 6) == 0) == fits;
    }
    check(scratch, name + std::string(": configure accepts 30 x 100 beams, refuses 31 x 100 (scratch > 48 KiB)"));
    std::vector<PluginTensorDesc> rin = {runtimeDesc(DataType::kINT32, {7, 3, 4}), runtimeDesc(DataType::kINT32, {7})};
    std::vector<PluginTensorDesc> rout(6, runtimeDesc(DataType::kINT32, {7, 10}));
    check(r->onShapeChange(rin.data(), 2, rout.data(), 6) == 0, name + std::string(": onShapeChange accepts [7,3,4], [7]"));
    rin[1] = runtimeDesc(DataType::kINT32, {6});
    check(r->onShapeChange(rin.data(), 2, rout.data(), 6) != 0, name + std::string(": batch mismatch rejected"));
    rin = {runtimeDesc(DataType::kINT32, {0, 3, 4}), runtimeDesc(DataType::kINT32, {0})};
    check(r->enqueue(rin.data(), rout.data(), nullptr, nullptr, nullptr, nullptr) == 0,
        name + std::string(": enqueue of an empty batch is a no-op"));
}

void checkGreedyAccept()
{
    char const* name = "RedrafterGreedyAccept";
    int32_t const maxBatch = 8;
    auto [creator, plugin] = beamPluginUnderTest(name, "2", &maxBatch); // n_cap = 10
    if (creator == nullptr)
    {
        return;
    }
    std::string const tag = std::string(name) + ": ";
    IPluginV3OneBuild* b = build(plugin.get());
    IPluginV3OneRuntime* r = runtime(plugin.get());

    DataType out[6];
    for (DataType logits : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    {
        DataType in[5] = {logits, DataType::kINT32, DataType::kINT32, DataType::kINT32, DataType::kINT32};
        bool allInt = b->getOutputDataTypes(out, 6, in, 5) == 0;
        for (DataType t : out)
        {
            allInt = allInt && t == DataType::kINT32;
        }
        check(allInt, tag + "logits type accepted, int32 outputs");
    }
    DataType badIn[5] = {DataType::kINT8, DataType::kINT32, DataType::kINT32, DataType::kINT32, DataType::kINT32};
    check(b->getOutputDataTypes(out, 6, badIn, 5) != 0, tag + "int8 logits rejected");
    DataType floatOffsets[5] = {DataType::kHALF, DataType::kFLOAT, DataType::kINT32, DataType::kINT32, DataType::kINT32};
    check(b->getOutputDataTypes(out, 6, floatOffsets, 5) != 0, tag + "float row_offsets rejected");

    Builder values;
    ExprBuilder exprs(&values);
    // R = 37 flat rows (data-dependent: not a constant), bs = 5 requests
    DimsExprs inputs[5] = {dimsOf(values, {37, 32000}, {false, true}), dimsOf(values, {5}, {false}),
        dimsOf(values, {5, 3, 4}, {false, true, true}), dimsOf(values, {5, 3, 4}, {false, true, true}),
        dimsOf(values, {5}, {false})};
    DimsExprs outputs[6];
    check(b->getOutputShapes(inputs, 5, nullptr, 0, outputs, 6, exprs) == 0, tag + "shapes inferred");
    bool shapesOk = true;
    for (int k = 0; k < 6; ++k)
    {
        shapesOk = shapesOk && valuesOf(outputs[k]) == (k < 4 ? std::vector<int64_t>{5} : std::vector<int64_t>{5, 4});
    }
    check(shapesOk, tag + "output shapes [bs] x4, [bs, 4] x2 from draft_tokens' bs, not from R");
    inputs[3] = dimsOf(values, {5, 3, 5}, {false, true, true});
    check(b->getOutputShapes(inputs, 5, nullptr, 0, outputs, 6, exprs) != 0, tag + "beam_length mismatch rejected");
    inputs[3] = dimsOf(values, {5, 3, 4}, {false, true, true});
    inputs[0] = dimsOf(values, {5, 10, 32000}, {false, true, true});
    check(b->getOutputShapes(inputs, 5, nullptr, 0, outputs, 6, exprs) != 0,
        tag + "padded 3-d logits rejected (version 2 takes flat [R, V])");

    std::vector<DynamicPluginTensorDesc> io = {dynamicDesc(DataType::kHALF, {37, 100}),
        dynamicDesc(DataType::kINT32, {8}), dynamicDesc(DataType::kINT32, {8, 3, 4}),
        dynamicDesc(DataType::kINT32, {8, 3, 4}), dynamicDesc(DataType::kINT32, {8})};
    for (int k = 0; k < 6; ++k)
    {
        io.push_back(dynamicDesc(DataType::kINT32, {8}));
    }
    bool formats = true;
    for (int pos = 0; pos < 11; ++pos)
    {
        formats = formats && b->supportsFormatCombination(pos, io.data(), 5, 6);
    }
    check(formats, tag + "half logits and int32 elsewhere supported");
    io[0].desc.type = DataType::kINT32;
    check(!b->supportsFormatCombination(0, io.data(), 5, 6), tag + "int32 logits rejected");
    io[1].desc.type = DataType::kFLOAT;
    check(!b->supportsFormatCombination(1, io.data(), 5, 6), tag + "float row_offsets rejected");
    io[0].desc.type = DataType::kHALF;
    io[1].desc.type = DataType::kINT32;
    check(b->configurePlugin(io.data(), 5, io.data() + 5, 6) == 0, tag + "configure with a batch of max_batch_size");
    size_t const workspace = b->getWorkspaceSize(io.data(), 5, io.data() + 5, 6);
    check(workspace == 512, tag + "workspace 8*10*4 = 320 bytes (max_batch_size x n_cap), rounded up to 512");
    std::vector<DynamicPluginTensorDesc> huge = io;
    huge[0].max = dims({1 << 30, 100}); // R's bound plays no part
    huge[0].desc.dims = dims({-1, 100});
    check(b->getWorkspaceSize(huge.data(), 5, huge.data() + 5, 6) == workspace,
        tag + "workspace does not depend on R (a data-dependent dim)");
    huge[2].max = dims({9, 3, 4});
    check(b->configurePlugin(huge.data(), 5, huge.data() + 5, 6) != 0,
        tag + "configure refuses a profile whose batch can exceed max_batch_size");

    std::vector<PluginTensorDesc> rin = {runtimeDesc(DataType::kHALF, {37, 100}), runtimeDesc(DataType::kINT32, {2}),
        runtimeDesc(DataType::kINT32, {2, 3, 4}), runtimeDesc(DataType::kINT32, {2, 3, 4}),
        runtimeDesc(DataType::kINT32, {2})};
    std::vector<PluginTensorDesc> rout(6, runtimeDesc(DataType::kINT32, {2}));
    check(r->onShapeChange(rin.data(), 5, rout.data(), 6) == 0, tag + "onShapeChange accepts");
    rin[1] = runtimeDesc(DataType::kINT32, {3});
    check(r->onShapeChange(rin.data(), 5, rout.data(), 6) != 0, tag + "row_offsets batch mismatch rejected");
    rin[1] = runtimeDesc(DataType::kINT32, {2});
    rin[4] = runtimeDesc(DataType::kINT32, {3});
    check(r->onShapeChange(rin.data(), 5, rout.data(), 6) != 0, tag + "gen_lengths batch mismatch rejected");
    std::vector<PluginTensorDesc> big = {runtimeDesc(DataType::kHALF, {90, 100}), runtimeDesc(DataType::kINT32, {9}),
        runtimeDesc(DataType::kINT32, {9, 3, 4}), runtimeDesc(DataType::kINT32, {9, 3, 4}),
        runtimeDesc(DataType::kINT32, {9})};
    check(r->onShapeChange(big.data(), 5, rout.data(), 6) != 0, tag + "onShapeChange refuses bs 9 > max_batch_size");
    check(r->enqueue(big.data(), rout.data(), nullptr, nullptr, nullptr, nullptr) != 0,
        tag + "enqueue refuses bs 9 > max_batch_size before any launch (the workspace holds 8)");
    std::vector<PluginTensorDesc> empty = {runtimeDesc(DataType::kHALF, {4, 100}), runtimeDesc(DataType::kINT32, {0}),
        runtimeDesc(DataType::kINT32, {0, 3, 4}), runtimeDesc(DataType::kINT32, {0, 3, 4}),
        runtimeDesc(DataType::kINT32, {0})};
    check(r->enqueue(empty.data(), rout.data(), nullptr, nullptr, nullptr, nullptr) == 0,
        tag + "enqueue of an empty batch is a no-op");
}

void checkSamplingAccept()
{
    char const* name = "RedrafterSamplingAccept";
    auto [creator, plugin] = beamPluginUnderTest(name);
    if (creator == nullptr)
    {
        return;
    }
    std::string const tag = std::string(name) + ": ";
    IPluginV3OneBuild* b = build(plugin.get());
    IPluginV3OneRuntime* r = runtime(plugin.get());

    DataType out[6];
    for (DataType uniforms : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    {
        DataType in[6] = {DataType::kFLOAT, DataType::kINT32, DataType::kINT32, DataType::kINT32, uniforms, uniforms};
        bool allInt = b->getOutputDataTypes(out, 6, in, 6) == 0;
        for (DataType t : out)
        {
            allInt = allInt && t == DataType::kINT32;
        }
        check(allInt, tag + "uniform type accepted, int32 outputs");
    }
    DataType halfProbs[6]
        = {DataType::kHALF, DataType::kINT32, DataType::kINT32, DataType::kINT32, DataType::kFLOAT, DataType::kFLOAT};
    check(b->getOutputDataTypes(out, 6, halfProbs, 6) != 0, tag + "half probs rejected");
    DataType mixed[6]
        = {DataType::kFLOAT, DataType::kINT32, DataType::kINT32, DataType::kINT32, DataType::kFLOAT, DataType::kHALF};
    check(b->getOutputDataTypes(out, 6, mixed, 6) != 0, tag + "uniforms of two types rejected");

    Builder values;
    ExprBuilder exprs(&values);
    DimsExprs inputs[6] = {dimsOf(values, {5, 10, 32000}, {false, false, false}),
        dimsOf(values, {5, 3, 4}, {false, true, true}), dimsOf(values, {5, 3, 4}, {false, true, true}),
        dimsOf(values, {5}, {false}), dimsOf(values, {5, 3, 3}, {false, true, true}), dimsOf(values, {5}, {false})};
    DimsExprs outputs[6];
    check(b->getOutputShapes(inputs, 6, nullptr, 0, outputs, 6, exprs) == 0, tag + "shapes inferred");
    bool shapesOk = true;
    for (int k = 0; k < 6; ++k)
    {
        shapesOk = shapesOk && valuesOf(outputs[k]) == (k < 4 ? std::vector<int64_t>{5} : std::vector<int64_t>{5, 4});
    }
    check(shapesOk, tag + "output shapes [bs] x4, [bs, 4] x2");
    inputs[4] = dimsOf(values, {5, 3, 4}, {false, true, true});
    check(b->getOutputShapes(inputs, 6, nullptr, 0, outputs, 6, exprs) != 0,
        tag + "rand_validation [bs, nb, bl] (not bl-1) rejected");

    std::vector<DynamicPluginTensorDesc> io = {dynamicDesc(DataType::kFLOAT, {8, 10, 100}),
        dynamicDesc(DataType::kINT32, {8, 3, 4}), dynamicDesc(DataType::kINT32, {8, 3, 4}),
        dynamicDesc(DataType::kINT32, {8}), dynamicDesc(DataType::kBF16, {8, 3, 3}), dynamicDesc(DataType::kBF16, {8})};
    for (int k = 0; k < 6; ++k)
    {
        io.push_back(dynamicDesc(DataType::kINT32, {8}));
    }
    bool formats = true;
    for (int pos = 0; pos < 12; ++pos)
    {
        formats = formats && b->supportsFormatCombination(pos, io.data(), 6, 6);
    }
    check(formats, tag + "float32 probs, bf16 uniforms and int32 elsewhere supported");
    io[5].desc.type = DataType::kFLOAT;
    check(!b->supportsFormatCombination(5, io.data(), 6, 6),
        tag + "rand_sample of another type than rand_validation rejected");
    io[5].desc.type = DataType::kBF16;
    io[0].desc.type = DataType::kHALF;
    check(!b->supportsFormatCombination(0, io.data(), 6, 6), tag + "half probs rejected by the format check");
    io[0].desc.type = DataType::kFLOAT;
    check(b->configurePlugin(io.data(), 6, io.data() + 6, 6) == 0, tag + "configure");
    check(b->getWorkspaceSize(io.data(), 6, io.data() + 6, 6) == 0, tag + "no workspace");
    // static (4176 bytes) plus dynamic (12 per beam) shared memory within 48 KiB, refused at configure time
    bool sharedLimit = true;
    for (auto [nbLimit, fits] : {std::pair<int32_t, bool>{3748, true}, std::pair<int32_t, bool>{3749, false}})
    {
        int32_t const bl4 = 4;
        std::unique_ptr<IPluginV3> wide(
            creator->createPlugin(name, &beamFields(&nbLimit, &bl4)->fc, TensorRTPhase::kBUILD));
        std::vector<DynamicPluginTensorDesc> wideIo = io;
        wideIo[1] = dynamicDesc(DataType::kINT32, {8, nbLimit, 4});
        wideIo[2] = dynamicDesc(DataType::kINT32, {8, nbLimit, 4});
        wideIo[4] = dynamicDesc(DataType::kBF16, {8, nbLimit, 3});
        sharedLimit = sharedLimit && wide != nullptr
            && (build(wide.get())->configurePlugin(wideIo.data(), 6, wideIo.data() + 6, 6) == 0) == fits;
    }
    check(sharedLimit, tag + "configure accepts 3748 beams, refuses 3749 (static + dynamic shared memory > 48 KiB)");

    std::vector<PluginTensorDesc> rin = {runtimeDesc(DataType::kFLOAT, {2, 10, 100}),
        runtimeDesc(DataType::kINT32, {2, 3, 4}), runtimeDesc(DataType::kINT32, {2, 3, 4}),
        runtimeDesc(DataType::kINT32, {2}), runtimeDesc(DataType::kFLOAT, {2, 3, 3}),
        runtimeDesc(DataType::kFLOAT, {2})};
    std::vector<PluginTensorDesc> rout(6, runtimeDesc(DataType::kINT32, {2}));
    check(r->onShapeChange(rin.data(), 6, rout.data(), 6) == 0, tag + "onShapeChange accepts");
    rin[5] = runtimeDesc(DataType::kFLOAT, {3});
    check(r->onShapeChange(rin.data(), 6, rout.data(), 6) != 0, tag + "rand_sample batch mismatch rejected");
    rin = {runtimeDesc(DataType::kFLOAT, {0, 10, 100}), runtimeDesc(DataType::kINT32, {0, 3, 4}),
        runtimeDesc(DataType::kINT32, {0, 3, 4}), runtimeDesc(DataType::kINT32, {0}),
        runtimeDesc(DataType::kFLOAT, {0, 3, 3}), runtimeDesc(DataType::kFLOAT, {0})};
    check(r->enqueue(rin.data(), rout.data(), nullptr, nullptr, nullptr, nullptr) == 0,
        tag + "enqueue of an empty batch is a no-op");
}

// RedrafterFusedSamplingAccept: num_beams, beam_length, top_k, top_p.
std::unique_ptr<Fields> fusedFields(int32_t const* nb, int32_t const* bl, int32_t const* topK, float const* topP)
{
    auto f = beamFields(nb, bl);
    if (topK != nullptr)
    {
        f->fields.emplace_back("top_k", topK, PluginFieldType::kINT32, 1);
    }
    if (topP != nullptr)
    {
        f->fields.emplace_back("top_p", topP, PluginFieldType::kFLOAT32, 1);
    }
    f->fc.nbFields = static_cast<int32_t>(f->fields.size());
    f->fc.fields = f->fields.data();
    return f;
}

// "nb,bl,topK,topP" as serialized, or "" when the fields are not as expected.
std::string serializedFused(IPluginV3* p)
{
    PluginFieldCollection const* fc = runtime(p)->getFieldsToSerialize();
    if (fc == nullptr || fc->nbFields != 4)
    {
        return "";
    }
    std::string out;
    char const* const names[4] = {"num_beams", "beam_length", "top_k", "top_p"};
    for (int32_t k = 0; k < 4; ++k)
    {
        PluginField const& f = fc->fields[k];
        bool const isFloat = k == 3;
        if (std::strcmp(f.name, names[k]) != 0 || f.length != 1 || f.data == nullptr
            || f.type != (isFloat ? PluginFieldType::kFLOAT32 : PluginFieldType::kINT32))
        {
            return "";
        }
        out += (k ? "," : "")
            + (isFloat ? std::to_string(*static_cast<float const*>(f.data))
                       : std::to_string(*static_cast<int32_t const*>(f.data)));
    }
    return out;
}

// The fused plugin's inputs: logits [R, V], row_offsets, inverted_temperature, draft_tokens,
// draft_indices, gen_lengths, rand_validation, rand_sample (bs requests, nb = 3, bl = 4).
std::vector<DynamicPluginTensorDesc> fusedIo(DataType logits, int64_t rows, int64_t vocab, int64_t bs, int32_t nb)
{
    std::vector<DynamicPluginTensorDesc> io = {dynamicDesc(logits, {rows, vocab}), dynamicDesc(DataType::kINT32, {bs}),
        dynamicDesc(DataType::kFLOAT, {bs}), dynamicDesc(DataType::kINT32, {bs, nb, 4}),
        dynamicDesc(DataType::kINT32, {bs, nb, 4}), dynamicDesc(DataType::kINT32, {bs}),
        dynamicDesc(DataType::kHALF, {bs, nb, 3}), dynamicDesc(DataType::kHALF, {bs})};
    for (int k = 0; k < 6; ++k)
    {
        io.push_back(dynamicDesc(DataType::kINT32, {bs}));
    }
    return io;
}

void checkFusedSamplingAccept()
{
    char const* name = "RedrafterFusedSamplingAccept";
    std::string const tag = std::string(name) + ": ";
    IPluginCreatorV3One* creator = creatorNamed(name);
    if (!checkCreator(tag, creator))
    {
        return;
    }
    PluginFieldCollection const* names = creator->getFieldNames();
    check(names != nullptr && names->nbFields == 4 && std::strcmp(names->fields[0].name, "num_beams") == 0
            && std::strcmp(names->fields[1].name, "beam_length") == 0 && std::strcmp(names->fields[2].name, "top_k") == 0
            && std::strcmp(names->fields[3].name, "top_p") == 0 && names->fields[2].type == PluginFieldType::kINT32
            && names->fields[3].type == PluginFieldType::kFLOAT32,
        tag + "field names num_beams, beam_length, top_k (int32), top_p (float32)");
    int32_t const nb = 3;
    int32_t const bl = 4;
    int32_t const topK = 50;
    float const topP = 0.9f;
    int32_t const negative = -1;
    float const above = 1.5f;
    check(creator->createPlugin(name, &fusedFields(&nb, &bl, &topK, nullptr)->fc, TensorRTPhase::kBUILD) == nullptr
            && creator->createPlugin(name, &fusedFields(&nb, &bl, &negative, &topP)->fc, TensorRTPhase::kBUILD) == nullptr
            && creator->createPlugin(name, &fusedFields(&nb, &bl, &topK, &above)->fc, TensorRTPhase::kBUILD) == nullptr
            && creator->createPlugin(name, &fusedFields(&negative, &bl, &topK, &topP)->fc, TensorRTPhase::kBUILD)
                == nullptr,
        tag + "missing top_p, top_k = -1, top_p = 1.5 and num_beams = -1 are rejected");
    std::unique_ptr<IPluginV3> plugin(
        creator->createPlugin(name, &fusedFields(&nb, &bl, &topK, &topP)->fc, TensorRTPhase::kBUILD));
    check(plugin != nullptr, tag + "created from num_beams=3, beam_length=4, top_k=50, top_p=0.9");
    if (!plugin)
    {
        return;
    }
    IPluginV3OneBuild* b = build(plugin.get());
    IPluginV3OneRuntime* r = runtime(plugin.get());
    std::string const expected = "3,4,50," + std::to_string(0.9f);
    std::unique_ptr<IPluginV3> restored(creator->createPlugin(name, r->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
    std::unique_ptr<IPluginV3> cloned(plugin->clone());
    check(serializedFused(plugin.get()) == expected && restored != nullptr
            && serializedFused(restored.get()) == expected && cloned != nullptr
            && serializedFused(cloned.get()) == expected
            && std::strcmp(core(restored.get())->getPluginNamespace(), kNamespace) == 0,
        tag + "serializes its four attributes; runtime-phase createPlugin and clone round-trip");
    check(b->getNbOutputs() == 6, tag + "six outputs");

    DataType out[6];
    bool typesOk = true;
    for (DataType logits : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    {
        DataType in[8] = {logits, DataType::kINT32, DataType::kBF16, DataType::kINT32, DataType::kINT32,
            DataType::kINT32, DataType::kFLOAT, DataType::kFLOAT};
        typesOk = typesOk && b->getOutputDataTypes(out, 6, in, 8) == 0 && out[5] == DataType::kINT32;
    }
    check(typesOk, tag + "float32 / float16 / bfloat16 logits accepted, int32 outputs");
    DataType mixed[8] = {DataType::kHALF, DataType::kINT32, DataType::kFLOAT, DataType::kINT32, DataType::kINT32,
        DataType::kINT32, DataType::kFLOAT, DataType::kHALF};
    DataType intLogits[8] = {DataType::kINT32, DataType::kINT32, DataType::kFLOAT, DataType::kINT32,
        DataType::kINT32, DataType::kINT32, DataType::kFLOAT, DataType::kFLOAT};
    check(b->getOutputDataTypes(out, 6, mixed, 8) != 0 && b->getOutputDataTypes(out, 6, intLogits, 8) != 0,
        tag + "uniforms of two types and int32 logits rejected");

    Builder values;
    ExprBuilder exprs(&values);
    DimsExprs inputs[8] = {dimsOf(values, {37, 32000}, {false, false}), dimsOf(values, {5}, {false}),
        dimsOf(values, {1}, {true}), dimsOf(values, {5, 3, 4}, {false, true, true}),
        dimsOf(values, {5, 3, 4}, {false, true, true}), dimsOf(values, {5}, {false}),
        dimsOf(values, {5, 3, 3}, {false, true, true}), dimsOf(values, {5}, {false})};
    DimsExprs outputs[6];
    check(b->getOutputShapes(inputs, 8, nullptr, 0, outputs, 6, exprs) == 0
            && valuesOf(outputs[0]) == std::vector<int64_t>{5} && valuesOf(outputs[5]) == std::vector<int64_t>{5, 4},
        tag + "shapes inferred: [bs] x4, [bs, bl] x2");
    inputs[6] = dimsOf(values, {5, 3, 4}, {false, true, true});
    check(b->getOutputShapes(inputs, 8, nullptr, 0, outputs, 6, exprs) != 0,
        tag + "rand_validation [bs, nb, bl] (not bl-1) rejected");

    std::vector<DynamicPluginTensorDesc> io = fusedIo(DataType::kBF16, 41, 32000, 8, 3);
    bool formats = true;
    for (int pos = 0; pos < 14; ++pos)
    {
        formats = formats && b->supportsFormatCombination(pos, io.data(), 8, 6);
    }
    check(formats, tag + "bf16 logits, float32 temperature, half uniforms and int32 elsewhere supported");
    io[7].desc.type = DataType::kFLOAT;
    check(!b->supportsFormatCombination(7, io.data(), 8, 6), tag + "rand_sample of another type rejected");
    io[7].desc.type = DataType::kHALF;
    check(b->configurePlugin(io.data(), 8, io.data() + 8, 6) == 0 && b->getWorkspaceSize(io.data(), 8, io.data() + 8, 6) == 0,
        tag + "configure; no workspace");
    std::vector<DynamicPluginTensorDesc> huge = fusedIo(DataType::kBF16, 41, int64_t{1} << 22, 8, 3);
    check(b->configurePlugin(huge.data(), 8, huge.data() + 8, 6) != 0, tag + "configure refuses V = 2^22");
    bool sharedLimit = true; // 3216 bytes static + 12 per beam within 48 KiB: 3828 beams fit, 3829 do not
    for (auto [beams, fits] : {std::pair<int32_t, bool>{3828, true}, std::pair<int32_t, bool>{3829, false}})
    {
        std::unique_ptr<IPluginV3> wide(
            creator->createPlugin(name, &fusedFields(&beams, &bl, &topK, &topP)->fc, TensorRTPhase::kBUILD));
        std::vector<DynamicPluginTensorDesc> wideIo = fusedIo(DataType::kBF16, 41, 32000, 8, beams);
        sharedLimit = sharedLimit && wide != nullptr
            && (build(wide.get())->configurePlugin(wideIo.data(), 8, wideIo.data() + 8, 6) == 0) == fits;
    }
    check(sharedLimit, tag + "configure accepts 3828 beams, refuses 3829 (shared memory > 48 KiB)");

    auto runtimeIo = [](int64_t bs, int64_t temperatures) {
        return std::vector<PluginTensorDesc>{runtimeDesc(DataType::kBF16, {29, 100}), runtimeDesc(DataType::kINT32, {bs}),
            runtimeDesc(DataType::kFLOAT, {temperatures}), runtimeDesc(DataType::kINT32, {bs, 3, 4}),
            runtimeDesc(DataType::kINT32, {bs, 3, 4}), runtimeDesc(DataType::kINT32, {bs}),
            runtimeDesc(DataType::kFLOAT, {bs, 3, 3}), runtimeDesc(DataType::kFLOAT, {bs})};
    };
    std::vector<PluginTensorDesc> rout(6, runtimeDesc(DataType::kINT32, {2}));
    std::vector<PluginTensorDesc> rin = runtimeIo(2, 2);
    check(r->onShapeChange(rin.data(), 8, rout.data(), 6) == 0 && r->onShapeChange(runtimeIo(2, 1).data(), 8, rout.data(), 6) == 0,
        tag + "onShapeChange accepts bs or 1 temperatures");
    check(r->onShapeChange(runtimeIo(2, 3).data(), 8, rout.data(), 6) != 0, tag + "3 temperatures for bs 2 rejected");
    rin[7] = runtimeDesc(DataType::kFLOAT, {3});
    check(r->onShapeChange(rin.data(), 8, rout.data(), 6) != 0, tag + "rand_sample batch mismatch rejected");
    check(r->enqueue(runtimeIo(0, 1).data(), rout.data(), nullptr, nullptr, nullptr, nullptr) == 0,
        tag + "enqueue of an empty batch is a no-op");
}

struct WarpFieldValues
{
    int32_t topK;
    float topP;
};

std::unique_ptr<Fields> warpFields(int32_t const* topK, float const* topP)
{
    auto f = std::make_unique<Fields>();
    if (topK != nullptr)
    {
        f->fields.emplace_back("top_k", topK, PluginFieldType::kINT32, 1);
    }
    if (topP != nullptr)
    {
        f->fields.emplace_back("top_p", topP, PluginFieldType::kFLOAT32, 1);
    }
    f->fc.nbFields = static_cast<int32_t>(f->fields.size());
    f->fc.fields = f->fields.data();
    return f;
}

// The (top_k, top_p) a plugin serializes; {-1, -1} when the fields are not as expected.
WarpFieldValues serializedWarp(IPluginV3* p)
{
    PluginFieldCollection const* fc = runtime(p)->getFieldsToSerialize();
    WarpFieldValues out{-1, -1.0f};
    if (fc == nullptr || fc->nbFields != 2)
    {
        return out;
    }
    for (int32_t k = 0; k < 2; ++k)
    {
        PluginField const& f = fc->fields[k];
        if (f.length != 1 || f.data == nullptr)
        {
            return {-1, -1.0f};
        }
        if (std::strcmp(f.name, "top_k") == 0 && f.type == PluginFieldType::kINT32)
        {
            out.topK = *static_cast<int32_t const*>(f.data);
        }
        else if (std::strcmp(f.name, "top_p") == 0 && f.type == PluginFieldType::kFLOAT32)
        {
            out.topP = *static_cast<float const*>(f.data);
        }
    }
    return out;
}

bool sameWarp(WarpFieldValues a, WarpFieldValues b)
{
    return a.topK == b.topK && a.topP == b.topP;
}

void checkWarpSoftmax()
{
    char const* name = "RedrafterWarpSoftmax";
    std::string const tag = std::string(name) + ": ";
    IPluginCreatorV3One* creator = creatorNamed(name);
    if (!checkCreator(tag, creator))
    {
        return;
    }
    PluginFieldCollection const* names = creator->getFieldNames();
    check(names != nullptr && names->nbFields == 2 && std::strcmp(names->fields[0].name, "top_k") == 0
            && std::strcmp(names->fields[1].name, "top_p") == 0 && names->fields[0].type == PluginFieldType::kINT32
            && names->fields[1].type == PluginFieldType::kFLOAT32,
        tag + "field names top_k (int32), top_p (float32)");

    int32_t const topK = 40;
    float const topP = 0.9f;
    int32_t const negative = -1;
    float const zero = 0.0f;
    float const above = 1.5f;
    float const nan = std::nanf("");
    int32_t const intP = 1;
    check(creator->createPlugin(name, &warpFields(&topK, nullptr)->fc, TensorRTPhase::kBUILD) == nullptr,
        tag + "missing top_p is rejected");
    check(creator->createPlugin(name, &warpFields(&negative, &topP)->fc, TensorRTPhase::kBUILD) == nullptr,
        tag + "top_k = -1 is rejected");
    bool badP = true;
    for (float const* p : {&zero, &above, &nan})
    {
        badP = badP && creator->createPlugin(name, &warpFields(&topK, p)->fc, TensorRTPhase::kBUILD) == nullptr;
    }
    check(badP, tag + "top_p = 0, 1.5 and NaN are rejected");
    auto intFields = warpFields(&topK, nullptr);
    intFields->fields.emplace_back("top_p", &intP, PluginFieldType::kINT32, 1);
    intFields->fc.nbFields = 2;
    intFields->fc.fields = intFields->fields.data();
    check(creator->createPlugin(name, &intFields->fc, TensorRTPhase::kBUILD) == nullptr,
        tag + "an int32 top_p is rejected");

    std::unique_ptr<IPluginV3> plugin(
        creator->createPlugin(name, &warpFields(&topK, &topP)->fc, TensorRTPhase::kBUILD));
    check(plugin != nullptr, tag + "created from top_k=40, top_p=0.9");
    if (!plugin)
    {
        return;
    }
    IPluginV3OneBuild* b = build(plugin.get());
    IPluginV3OneRuntime* r = runtime(plugin.get());
    check(core(plugin.get()) != nullptr && b != nullptr && r != nullptr, tag + "core, build and runtime capabilities");
    check(std::strcmp(core(plugin.get())->getPluginName(), name) == 0
            && std::strcmp(core(plugin.get())->getPluginVersion(), "1") == 0 && b->getNbOutputs() == 1,
        tag + "plugin name, version 1, one output");
    WarpFieldValues const expected{40, 0.9f};
    check(sameWarp(serializedWarp(plugin.get()), expected), tag + "serializes top_k=40, top_p=0.9");
    std::unique_ptr<IPluginV3> restored(
        creator->createPlugin(name, r->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
    check(restored != nullptr && sameWarp(serializedWarp(restored.get()), expected),
        tag + "runtime-phase createPlugin from the serialized fields round-trips");
    std::unique_ptr<IPluginV3> cloned(plugin->clone());
    std::unique_ptr<IPluginV3> attached(r->attachToContext(nullptr));
    check(cloned != nullptr && sameWarp(serializedWarp(cloned.get()), expected) && attached != nullptr
            && attached.get() != plugin.get() && sameWarp(serializedWarp(attached.get()), expected),
        tag + "clone and attachToContext keep the attributes");

    DataType out[1];
    bool typesOk = true;
    for (DataType logits : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    {
        DataType in[3] = {logits, DataType::kBF16, DataType::kINT32};
        typesOk = typesOk && b->getOutputDataTypes(out, 1, in, 3) == 0 && out[0] == DataType::kFLOAT;
    }
    check(typesOk, tag + "float/half/bf16 logits give float32 probs");
    DataType badIn[3] = {DataType::kFLOAT, DataType::kINT32, DataType::kINT32};
    check(b->getOutputDataTypes(out, 1, badIn, 3) != 0, tag + "int32 inverted_temperature rejected");

    Builder values;
    ExprBuilder exprs(&values);
    DimsExprs inputs[3] = {dimsOf(values, {5, 10, 32000}, {false, false, true}), dimsOf(values, {5}, {false}),
        dimsOf(values, {5}, {false})};
    DimsExprs outputs[1];
    check(b->getOutputShapes(inputs, 3, nullptr, 0, outputs, 1, exprs) == 0
            && valuesOf(outputs[0]) == std::vector<int64_t>{5, 10, 32000},
        tag + "probs have the logits' shape");
    inputs[1] = dimsOf(values, {5, 1}, {false, true});
    check(b->getOutputShapes(inputs, 3, nullptr, 0, outputs, 1, exprs) != 0, tag + "2-d inverted_temperature rejected");

    std::vector<DynamicPluginTensorDesc> io = {dynamicDesc(DataType::kBF16, {8, 10, 100}),
        dynamicDesc(DataType::kFLOAT, {1}), dynamicDesc(DataType::kINT32, {8}),
        dynamicDesc(DataType::kFLOAT, {8, 10, 100})};
    bool formats = true;
    for (int pos = 0; pos < 4; ++pos)
    {
        formats = formats && b->supportsFormatCombination(pos, io.data(), 3, 1);
    }
    check(formats, tag + "bf16 logits, float temperature, int32 gen_lengths, float32 probs supported");
    io[3].desc.type = DataType::kHALF;
    check(!b->supportsFormatCombination(3, io.data(), 3, 1), tag + "half probs rejected");
    io[3].desc.type = DataType::kFLOAT;
    io[2].desc.format = TensorFormat::kCHW32;
    check(!b->supportsFormatCombination(2, io.data(), 3, 1), tag + "non-linear format rejected");
    io[2].desc.format = TensorFormat::kLINEAR;
    check(b->configurePlugin(io.data(), 3, io.data() + 3, 1) == 0, tag + "configure");
    check(b->getWorkspaceSize(io.data(), 3, io.data() + 3, 1) == 0, tag + "no workspace");
    std::vector<DynamicPluginTensorDesc> huge = io;
    huge[0] = dynamicDesc(DataType::kBF16, {8, 10, 1 << 22});
    check(b->configurePlugin(huge.data(), 3, huge.data() + 3, 1) != 0, tag + "V = 2^22 rejected");

    std::vector<PluginTensorDesc> rin = {runtimeDesc(DataType::kHALF, {2, 10, 100}),
        runtimeDesc(DataType::kFLOAT, {2}), runtimeDesc(DataType::kINT32, {2})};
    std::vector<PluginTensorDesc> rout(1, runtimeDesc(DataType::kFLOAT, {2, 10, 100}));
    check(r->onShapeChange(rin.data(), 3, rout.data(), 1) == 0, tag + "onShapeChange accepts a [bs] temperature");
    rin[1] = runtimeDesc(DataType::kFLOAT, {1});
    check(r->onShapeChange(rin.data(), 3, rout.data(), 1) == 0, tag + "onShapeChange accepts a [1] temperature");
    rin[1] = runtimeDesc(DataType::kFLOAT, {3});
    check(r->onShapeChange(rin.data(), 3, rout.data(), 1) != 0, tag + "a [3] temperature with bs 2 rejected");
    rin[1] = runtimeDesc(DataType::kFLOAT, {2});
    rin[2] = runtimeDesc(DataType::kINT32, {3});
    check(r->onShapeChange(rin.data(), 3, rout.data(), 1) != 0, tag + "gen_lengths batch mismatch rejected");
    rin = {runtimeDesc(DataType::kHALF, {0, 10, 100}), runtimeDesc(DataType::kFLOAT, {1}),
        runtimeDesc(DataType::kINT32, {0})};
    check(r->enqueue(rin.data(), rout.data(), nullptr, nullptr, nullptr, nullptr) == 0,
        tag + "enqueue of an empty batch is a no-op");
}

// A registry with IPluginRegistry's getCreator / registerCreator, for registerPluginCreators.
struct RecordingRegistry
{
    std::vector<std::string> keys; // "name/version/namespace"
    bool refuse = false;

    IPluginCreatorInterface* getCreator(char const* name, char const* version, char const* ns)
    {
        std::string const key = std::string(name) + "/" + version + "/" + ns;
        for (std::string const& k : keys)
        {
            if (k == key)
            {
                return reinterpret_cast<IPluginCreatorInterface*>(this); // any non-null pointer
            }
        }
        return nullptr;
    }

    bool registerCreator(IPluginCreatorInterface& creator, char const* ns)
    {
        auto& c = static_cast<IPluginCreatorV3One&>(creator);
        if (refuse)
        {
            return false;
        }
        keys.push_back(std::string(c.getPluginName()) + "/" + c.getPluginVersion() + "/" + ns);
        return true;
    }
};

void checkRegistration()
{
    using redrafter::trt::preloadListNames;
    using redrafter::trt::registerPluginCreators;
    int32_t n = 0;
    IPluginCreatorInterface* const* creators = getCreators(n);
    RecordingRegistry registry;
    check(registerPluginCreators(registry, creators, n, kNamespace) == n && static_cast<int32_t>(registry.keys.size()) == n,
        "registration: every creator registered once");
    bool named = true;
    for (std::string const& key : registry.keys)
    {
        named = named && key.size() > 17 && key.compare(key.size() - 17, 17, "/trtllm_redrafter") == 0;
    }
    check(named && registry.getCreator("RedrafterGreedyAccept", "2", kNamespace) != nullptr
            && registry.getCreator("RedrafterPackBeams", "1", kNamespace) != nullptr
            && registry.getCreator("RedrafterPackBeams", "1", "") == nullptr,
        "registration: under namespace trtllm_redrafter, RedrafterGreedyAccept at version 2");
    check(registerPluginCreators(registry, creators, n, kNamespace) == 0 && static_cast<int32_t>(registry.keys.size()) == n,
        "registration: a second call registers nothing (idempotent)");
    RecordingRegistry refusing;
    refusing.refuse = true;
    check(registerPluginCreators(refusing, creators, n, kNamespace) == -1, "registration: a refused creator gives -1");
    check(redrafterRegisterPlugins() == -1, "registration: redrafterRegisterPlugins() without a loaded libnvinfer gives -1");

    std::string const self = "/opt/build/libtrtllm_redrafter_plugins.so";
    auto canonical = [](std::string const& path) { return path == "/opt/link/lib.so" ? std::string("/opt/build/libtrtllm_redrafter_plugins.so") : path; };
    check(preloadListNames("/opt/build/libtrtllm_redrafter_plugins.so", self, canonical)
            && preloadListNames("/usr/lib/libfoo.so:/opt/link/lib.so", self, canonical)
            && preloadListNames("libfoo.so libtrtllm_redrafter_plugins.so", self, canonical)
            && !preloadListNames("/other/libtrtllm_redrafter_plugins.so", self, canonical)
            && !preloadListNames("libtrtllm_redrafter_plugins.so.1:", self, canonical)
            && !preloadListNames("", self, canonical) && !preloadListNames(nullptr, self, canonical),
        "registration: LD_PRELOAD names the library by path (canonical), or by file name alone");
}

void checkLogging()
{
    CapturingLogger logger;
    Finder finder(&logger);
    setLoggerFinder(&finder);
    IPluginCreatorV3One* creator = creatorNamed("RedrafterPackBeams");
    PluginFieldCollection empty{};
    check(creator != nullptr && creator->createPlugin("x", &empty, TensorRTPhase::kBUILD) == nullptr,
        "logging: bad fields rejected");
    check(!logger.messages.empty() && logger.messages.back().find("[RedrafterPlugins] RedrafterPackBeams") == 0,
        "logging: the error reached the logger found through setLoggerFinder");
    setLoggerFinder(nullptr);
}

} // namespace

int main()
{
    int32_t n = -1;
    IPluginCreatorInterface* const* creators = getCreators(n);
    check(creators != nullptr && n == 5, "getCreators returns five creators");
    checkPackBeams();
    checkGreedyAccept();
    checkWarpSoftmax();
    checkSamplingAccept();
    checkFusedSamplingAccept();
    checkRegistration();
    checkLogging();
    std::printf("harness: %d checks, %d failed\n", gChecks, gFailures);
    return gFailures == 0 ? 0 : 1;
}
