// Host launcher of the warped softmax: the passes of plugins/kernels/warp_softmax.cu as plain loops,
// with `threads` emulated threads each taking v = tid, tid + threads, ... (the result does not
// depend on the count: every reduction is exact).
#include "../kernels/warp_softmax.h"
#include "redrafter_host.h"

#include <cstddef>
#include <vector>

namespace redrafter
{
namespace
{

template <LogitsDtype D>
void warpRowHost(unsigned char const* row, int32_t V, float invT, int32_t topK, float topP, int32_t threads, float* out)
{
    // 1. max
    float maxY = bitsToFloat(0xFF800000u);
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        maxY = warpMaxCombine(maxY, warpThreadMax<D>(row, V, invT, tid, threads));
    }

    // 2. top-k
    uint32_t keepFrom = 0;
    if (warpTopKActive(topK, V))
    {
        int32_t remaining = topK;
        uint32_t prefix = 0;
        for (int32_t pass = 0; pass < kRadixPasses; ++pass)
        {
            std::vector<int32_t> counts(kRadixBins, 0);
            for (int32_t tid = 0; tid < threads; ++tid)
            {
                for (int32_t v = tid; v < V; v += threads)
                {
                    int32_t const d = radixDigit(warpOrderedKey(warpScaledLogit<D>(row, v, invT)), prefix, pass);
                    if (d >= 0)
                    {
                        ++counts[d];
                    }
                }
            }
            prefix = radixWithDigit(prefix, pass, radixSelectLargest(counts.data(), remaining));
        }
        keepFrom = prefix;
    }

    // 3. masses and their total
    uint64_t total = 0;
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        for (int32_t v = tid; v < V; v += threads)
        {
            float const y = warpScaledLogit<D>(row, v, invT);
            float const e = warpMass(y, maxY, warpOrderedKey(y) >= keepFrom);
            out[v] = e;
            total += warpFixedMass(e);
        }
    }

    // 4. top-p
    uint32_t pFrom = 0;
    if (warpTopPActive(topP))
    {
        uint64_t const threshold = warpTopPThreshold(topP, total);
        uint64_t below = 0;
        uint32_t prefix = 0;
        for (int32_t pass = 0; pass < kRadixPasses; ++pass)
        {
            std::vector<uint64_t> masses(kRadixBins, 0);
            for (int32_t tid = 0; tid < threads; ++tid)
            {
                for (int32_t v = tid; v < V; v += threads)
                {
                    if (out[v] > 0.0f)
                    {
                        int32_t const d = radixDigit(warpOrderedKey(warpScaledLogit<D>(row, v, invT)), prefix, pass);
                        if (d >= 0)
                        {
                            masses[d] += warpFixedMass(out[v]);
                        }
                    }
                }
            }
            int32_t const d = radixSelectMass(masses.data(), threshold, below);
            if (d < 0)
            {
                prefix = warpOrderedKey(maxY);
                break;
            }
            prefix = radixWithDigit(prefix, pass, d);
        }
        pFrom = prefix;
        total = 0;
        for (int32_t tid = 0; tid < threads; ++tid)
        {
            for (int32_t v = tid; v < V; v += threads)
            {
                if (warpOrderedKey(warpScaledLogit<D>(row, v, invT)) >= pFrom)
                {
                    total += warpFixedMass(out[v]);
                }
            }
        }
    }

    // 5. normalise
    float const invTotal = warpInverseTotal(total);
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        for (int32_t v = tid; v < V; v += threads)
        {
            bool const kept = pFrom == 0 || warpOrderedKey(warpScaledLogit<D>(row, v, invT)) >= pFrom;
            out[v] = kept ? mulRn(out[v], invTotal) : 0.0f;
        }
    }
}

template <LogitsDtype D>
void warpSoftmaxHost(void const* logits, void const* invTemperature, int32_t temperatureDtype,
    int32_t temperatureCount, int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t V, int32_t topK,
    float topP, int32_t threads, float* probs)
{
    auto const* bytes = static_cast<unsigned char const*>(logits);
    for (int32_t row = 0; row < bs; ++row)
    {
        int32_t const genLength = clampGenLength(genLengths[row], numSlots);
        float const invT = warpInverseTemperature(invTemperature, temperatureDtype, temperatureCount, row);
        for (int32_t slot = 0; slot < numSlots; ++slot)
        {
            size_t const cell = static_cast<size_t>(row) * numSlots + slot;
            float* out = probs + cell * static_cast<size_t>(V);
            if (slot >= genLength)
            {
                for (int32_t v = 0; v < V; ++v)
                {
                    out[v] = 0.0f;
                }
                continue;
            }
            warpRowHost<D>(bytes + cell * static_cast<size_t>(V) * LogitsTraits<D>::kBytes, V, invT, topK, topP,
                threads, out);
        }
    }
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterWarpSoftmaxHost(void const* logits, int32_t logitsDtype, void const* invTemperature,
    int32_t temperatureDtype, int32_t temperatureCount, int32_t const* genLengths, int32_t bs, int32_t numSlots,
    int32_t V, int32_t topK, float topP, int32_t emulatedThreads, float* probs)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || emulatedThreads < 1)
    {
        return kBadShape;
    }
    if (!isKnownDtype(logitsDtype) || !isKnownDtype(temperatureDtype))
    {
        return kBadDtype;
    }
    if (!warpAttributesValid(topK, topP) || (temperatureCount != 1 && temperatureCount != bs))
    {
        return kBadArgument;
    }
    if (V >= kMaxWarpVocab)
    {
        return kTooLarge;
    }
    switch (static_cast<LogitsDtype>(logitsDtype))
    {
    case LogitsDtype::kFloat32:
        warpSoftmaxHost<LogitsDtype::kFloat32>(logits, invTemperature, temperatureDtype, temperatureCount, genLengths,
            bs, numSlots, V, topK, topP, emulatedThreads, probs);
        break;
    case LogitsDtype::kFloat16:
        warpSoftmaxHost<LogitsDtype::kFloat16>(logits, invTemperature, temperatureDtype, temperatureCount, genLengths,
            bs, numSlots, V, topK, topP, emulatedThreads, probs);
        break;
    case LogitsDtype::kBFloat16:
        warpSoftmaxHost<LogitsDtype::kBFloat16>(logits, invTemperature, temperatureDtype, temperatureCount,
            genLengths, bs, numSlots, V, topK, topP, emulatedThreads, probs);
        break;
    }
    return kOk;
}
