// Host launcher of fused sampling acceptance: the passes of plugins/kernels/fused_sampling_accept.cu
// as plain loops, with `threads` emulated threads taking units tid, tid + threads, ... and the
// scan tiles of the device (every sum is exact, so any count gives the same result).
#include "../kernels/fused_sampling_accept.h"
#include "redrafter_host.h"

#include <cstddef>
#include <vector>

namespace redrafter
{
namespace
{

struct RowView
{
    unsigned char const* bytes;
    FusedRowLayout layout;
    float invT;
};

// The k-th largest key (top-k cut), 4 radix passes.
template <LogitsDtype D>
uint32_t topKCutHost(RowView const& r, int32_t topK, int32_t threads)
{
    int32_t remaining = topK;
    uint32_t prefix = 0;
    for (int32_t pass = 0; pass < kRadixPasses; ++pass)
    {
        std::vector<int32_t> counts(kRadixBins, 0);
        for (int32_t tid = 0; tid < threads; ++tid)
        {
            fusedForEach<D>(r.bytes, r.layout, r.invT, tid, threads, [&](int32_t, float y) {
                int32_t const d = radixDigit(warpOrderedKey(y), prefix, pass);
                if (d >= 0)
                {
                    ++counts[d];
                }
            });
        }
        prefix = radixWithDigit(prefix, pass, radixSelectLargest(counts.data(), remaining));
    }
    return prefix;
}

template <LogitsDtype D>
uint64_t totalMassHost(RowView const& r, float maxY, uint32_t cut, int32_t threads)
{
    uint64_t total = 0;
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        fusedForEach<D>(
            r.bytes, r.layout, r.invT, tid, threads, [&](int32_t, float y) { total += fusedMass(y, maxY, cut); });
    }
    return total;
}

// The top-p cut over the tokens kept by `keepFrom`, 4 radix passes over their masses.
template <LogitsDtype D>
uint32_t topPCutHost(RowView const& r, float maxY, uint32_t keepFrom, uint64_t total, float topP, int32_t threads)
{
    uint64_t const threshold = warpTopPThreshold(topP, total);
    uint64_t below = 0;
    uint32_t prefix = 0;
    for (int32_t pass = 0; pass < kRadixPasses; ++pass)
    {
        std::vector<uint32_t> lo(kRadixBins, 0);
        std::vector<uint32_t> hi(kRadixBins, 0);
        for (int32_t tid = 0; tid < threads; ++tid)
        {
            fusedForEach<D>(r.bytes, r.layout, r.invT, tid, threads, [&](int32_t, float y) {
                uint64_t const m = fusedMass(y, maxY, keepFrom);
                int32_t const d = radixDigit(warpOrderedKey(y), prefix, pass);
                if (m > 0 && d >= 0)
                {
                    uint32_t const old = lo[d];
                    lo[d] = old + static_cast<uint32_t>(m); // the device's split 64-bit atomic
                    hi[d] += static_cast<uint32_t>(m >> 32) + (lo[d] < old ? 1u : 0u);
                }
            });
        }
        int32_t const d = fusedSelectMassSplit(lo.data(), hi.data(), threshold, below);
        if (d < 0)
        {
            return warpOrderedKey(maxY);
        }
        prefix = radixWithDigit(prefix, pass, d);
    }
    return prefix;
}

template <LogitsDtype D>
FusedNodeStats nodeStatsHost(RowView const& r, int32_t topK, float topP, int32_t threads)
{
    float maxY = bitsToFloat(0xFF800000u);
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        fusedForEach<D>(
            r.bytes, r.layout, r.invT, tid, threads, [&](int32_t, float y) { maxY = warpMaxCombine(maxY, y); });
    }
    uint32_t cut = warpTopKActive(topK, r.layout.V) ? topKCutHost<D>(r, topK, threads) : 0;
    uint64_t total = totalMassHost<D>(r, maxY, cut, threads);
    if (warpTopPActive(topP))
    {
        cut = topPCutHost<D>(r, maxY, cut, total, topP, threads);
        total = totalMassHost<D>(r, maxY, cut, threads);
    }
    return FusedNodeStats{maxY, cut, total, warpInverseTotal(total)};
}

// The device's tiled scan: per tile, each thread sums its kFusedUnitsPerThread units, the tile's
// exclusive prefixes are taken in thread order, and the thread whose range passes the target finds
// the token.
template <LogitsDtype D>
int32_t sampleHost(RowView const& r, FusedNodeStats const& stats, int32_t const* excluded, int32_t numExcluded,
    uint64_t target, int32_t threads)
{
    int32_t const units = fusedUnitCount(r.layout);
    uint64_t base = 0;
    for (int32_t tile = 0; fusedTileUnit(tile, threads, 0) < units; ++tile)
    {
        for (int32_t tid = 0; tid < threads; ++tid)
        {
            int32_t const first = fusedTileUnit(tile, threads, tid);
            for (int32_t unit = first; unit < first + kFusedUnitsPerThread && unit < units; ++unit)
            {
                float y[kFusedMaxUnitElements];
                int32_t const count = fusedLoadUnit<D>(r.bytes, r.layout, unit, r.invT, y);
                int32_t const begin = fusedUnitBegin<D>(r.layout, unit);
                uint64_t const mass
                    = fusedUnitMass(y, count, begin, stats.maxY, stats.cut, excluded, numExcluded);
                if (base + mass > target)
                {
                    return fusedUnitFind(
                        y, count, begin, stats.maxY, stats.cut, excluded, numExcluded, base, target);
                }
                base += mass;
            }
        }
    }
    return r.layout.V - 1; // no cumulative mass exceeds the target: the reference's clamp
}

struct FusedArgs
{
    void const* logits;
    int32_t numRows;
    int32_t V;
    int32_t const* rowOffsets;
    void const* invTemperature;
    int32_t temperatureDtype;
    int32_t temperatureCount;
    int32_t const* draftTokens;
    int32_t const* draftIndices;
    int32_t const* genLengths;
    void const* randValidation;
    void const* randSample;
    int32_t randDtype;
    int32_t numSlots;
    int32_t nb;
    int32_t bl;
    int32_t topK;
    float topP;
    int32_t threads;
};

struct WalkEnd
{
    int32_t beam;
    int32_t depth;
    int32_t next;
};

// One request's walk and sample.
template <LogitsDtype D>
WalkEnd walkHost(FusedArgs const& a, int32_t request, std::vector<int32_t>& isChild, std::vector<float>& childProb,
    std::vector<int32_t>& excluded)
{
    size_t const beamCells = static_cast<size_t>(a.nb) * a.bl;
    int32_t const* tokens = a.draftTokens + request * beamCells;
    int32_t const* indices = a.draftIndices + request * beamCells;
    int32_t const rowOffset = a.rowOffsets[request];
    int32_t const genLength = fusedRealSlots(rowOffset, a.genLengths[request], a.numRows, a.numSlots);
    if (genLength < 1)
    {
        return WalkEnd{0, 0, -1};
    }
    size_t const randRowOffset = static_cast<size_t>(request) * a.nb * static_cast<size_t>(a.bl - 1);
    size_t const rowBytes = static_cast<size_t>(a.V) * LogitsTraits<D>::kBytes;
    auto const* logits = static_cast<unsigned char const*>(a.logits);
    float const invT = warpInverseTemperature(a.invTemperature, a.temperatureDtype, a.temperatureCount, request);

    int32_t node = 0;
    int32_t beam = 0;
    int32_t depth = 0;
    int32_t numExcluded = 0;
    for (int32_t j = 0;; ++j)
    {
        unsigned char const* bytes = logits + (static_cast<size_t>(rowOffset) + node) * rowBytes;
        RowView const r{bytes, fusedRowLayout<D>(bytes, a.V), invT};
        FusedNodeStats const stats = nodeStatsHost<D>(r, a.topK, a.topP, a.threads);
        int32_t chosen = -1;
        if (j + 1 < a.bl)
        {
            for (int32_t i = 0; i < a.nb; ++i)
            {
                bool const child = samplingIsChild(tokens, indices, a.nb, a.bl, i, j, node, genLength);
                isChild[i] = child;
                int32_t const token = tokens[static_cast<size_t>(i) * a.bl + j + 1];
                childProb[i] = child ? fusedTokenProb<D>(bytes, a.V, invT, token, stats) : 0.0f;
            }
            chosen = samplingFirstAccepted(
                isChild.data(), childProb.data(), a.randValidation, a.randDtype, randRowOffset, a.nb, a.bl, j);
            if (chosen >= 0)
            {
                node = indices[static_cast<size_t>(chosen) * a.bl + j + 1];
                beam = chosen;
                depth = j + 1;
                continue;
            }
            numExcluded = samplingCollectExcluded(tokens, isChild.data(), a.nb, a.bl, j, a.V, excluded.data());
        }
        uint64_t mass = fusedResidualMass<D>(bytes, invT, stats, excluded.data(), numExcluded);
        if (mass == 0) // the children held all the mass: the node's own distribution
        {
            numExcluded = 0;
            mass = stats.total;
        }
        float const u = decodeElementAt(a.randSample, a.randDtype, static_cast<size_t>(request));
        int32_t const next
            = sampleHost<D>(r, stats, excluded.data(), numExcluded, fusedTarget(u, mass), a.threads);
        return WalkEnd{beam, depth, next};
    }
}

template <LogitsDtype D>
void fusedHost(FusedArgs const& a, int32_t bs, int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex,
    int32_t* nextToken, int32_t* hiddenIndex, int32_t* pathIndices, int32_t* acceptedTokens)
{
    std::vector<int32_t> isChild(static_cast<size_t>(a.nb));
    std::vector<float> childProb(static_cast<size_t>(a.nb));
    std::vector<int32_t> excluded(static_cast<size_t>(a.nb));
    size_t const beamCells = static_cast<size_t>(a.nb) * a.bl;
    for (int32_t request = 0; request < bs; ++request)
    {
        WalkEnd const end = walkHost<D>(a, request, isChild, childProb, excluded);
        int32_t const num = end.depth + 1;
        int32_t const* bestTokens = a.draftTokens + request * beamCells + static_cast<size_t>(end.beam) * a.bl;
        int32_t const* bestIndices = a.draftIndices + request * beamCells + static_cast<size_t>(end.beam) * a.bl;
        numAcceptedTokens[request] = num;
        acceptedBeamIndex[request] = end.beam;
        nextToken[request] = end.next;
        hiddenIndex[request] = bestIndices[num - 1];
        for (int32_t k = 0; k < a.bl; ++k)
        {
            pathIndices[static_cast<size_t>(request) * a.bl + k] = bestIndices[k];
            acceptedTokens[static_cast<size_t>(request) * a.bl + k]
                = greedyAcceptedTokenAt(bestTokens, a.bl, num, end.next, k);
        }
    }
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterFusedSamplingAcceptHost(void const* logits, int32_t logitsDtype, int32_t numRows,
    int32_t V, int32_t const* rowOffsets, void const* invTemperature, int32_t temperatureDtype,
    int32_t temperatureCount, int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths,
    void const* randValidation, void const* randSample, int32_t randDtype, int32_t bs, int32_t numSlots, int32_t nb,
    int32_t bl, int32_t topK, float topP, int32_t emulatedThreads, int32_t* numAcceptedTokens,
    int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex, int32_t* pathIndices,
    int32_t* acceptedTokens)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || nb < 1 || bl < 1 || numRows < 0 || emulatedThreads < 1)
    {
        return kBadShape;
    }
    if (!isKnownDtype(logitsDtype) || !isKnownDtype(temperatureDtype) || !isKnownDtype(randDtype))
    {
        return kBadDtype;
    }
    if (!warpAttributesValid(topK, topP) || (temperatureCount != 1 && temperatureCount != bs))
    {
        return kBadArgument;
    }
    if (V >= kMaxWarpVocab || static_cast<int64_t>(nb) * bl > 0x7FFFFFFF)
    {
        return kTooLarge;
    }
    FusedArgs const a{logits, numRows, V, rowOffsets, invTemperature, temperatureDtype, temperatureCount, draftTokens,
        draftIndices, genLengths, randValidation, randSample, randDtype, numSlots, nb, bl, topK, topP, emulatedThreads};
    switch (static_cast<LogitsDtype>(logitsDtype))
    {
    case LogitsDtype::kFloat32:
        fusedHost<LogitsDtype::kFloat32>(
            a, bs, numAcceptedTokens, acceptedBeamIndex, nextToken, hiddenIndex, pathIndices, acceptedTokens);
        break;
    case LogitsDtype::kFloat16:
        fusedHost<LogitsDtype::kFloat16>(
            a, bs, numAcceptedTokens, acceptedBeamIndex, nextToken, hiddenIndex, pathIndices, acceptedTokens);
        break;
    case LogitsDtype::kBFloat16:
        fusedHost<LogitsDtype::kBFloat16>(
            a, bs, numAcceptedTokens, acceptedBeamIndex, nextToken, hiddenIndex, pathIndices, acceptedTokens);
        break;
    }
    return kOk;
}

extern "C" size_t redrafterFusedStaticSharedBytes()
{
    return redrafter::fusedStaticSharedBytes();
}
