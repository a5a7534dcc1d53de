// Host launcher of sampling acceptance: the per-row steps of plugins/kernels/sampling_accept.cu as
// plain loops, with `threads` emulated threads for the inverse-CDF chunks (the device uses
// kSampleBlock = 256).
#include "../kernels/sampling_accept.h"
#include "redrafter_host.h"

#include <cstddef>
#include <vector>

namespace redrafter
{
namespace
{

// The device's blockSample: -2 when nothing is left outside the excluded tokens (and some were).
int32_t sampleHost(float const* row, int32_t V, int32_t const* excluded, int32_t numExcluded, float u, int32_t threads)
{
    std::vector<double> sums(static_cast<size_t>(threads));
    std::vector<double> prefixes(static_cast<size_t>(threads));
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        SampleChunk const chunk = samplingChunk(V, threads, tid);
        sums[tid] = samplingChunkSum(row, chunk.begin, chunk.end, excluded, numExcluded);
    }
    double const total = samplingChunkPrefixes(sums.data(), threads, prefixes.data());
    if (!(total > 0.0) && numExcluded > 0)
    {
        return -2;
    }
    float const target = samplingTarget(u, total);
    int32_t found = -1;
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        SampleChunk const chunk = samplingChunk(V, threads, tid);
        found = samplingFirstFound(found,
            samplingChunkFind(row, chunk.begin, chunk.end, prefixes[tid], sums[tid], target, excluded, numExcluded));
    }
    return samplingFinishIndex(found, V);
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterSamplingAcceptHost(float const* probs, int32_t const* draftTokens,
    int32_t const* draftIndices, int32_t const* genLengths, void const* randValidation, void const* randSample,
    int32_t randDtype, int32_t bs, int32_t numSlots, int32_t V, int32_t nb, int32_t bl, int32_t emulatedThreads,
    int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
    int32_t* pathIndices, int32_t* acceptedTokens)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || nb < 1 || bl < 1 || emulatedThreads < 1)
    {
        return kBadShape;
    }
    if (!isKnownDtype(randDtype))
    {
        return kBadDtype;
    }
    if (static_cast<int64_t>(nb) * bl > 0x7FFFFFFF)
    {
        return kTooLarge;
    }
    size_t const beamCells = static_cast<size_t>(nb) * bl;
    std::vector<int32_t> isChild(static_cast<size_t>(nb));
    std::vector<float> childProb(static_cast<size_t>(nb));
    std::vector<int32_t> excluded(static_cast<size_t>(nb));
    for (int32_t row = 0; row < bs; ++row)
    {
        int32_t const* tokens = draftTokens + row * beamCells;
        int32_t const* indices = draftIndices + row * beamCells;
        int32_t const genLength = clampGenLength(genLengths[row], numSlots);
        float const* rowProbs = probs + static_cast<size_t>(row) * numSlots * static_cast<size_t>(V);
        size_t const randRowOffset = static_cast<size_t>(row) * nb * static_cast<size_t>(bl - 1);

        int32_t node = 0;
        int32_t beam = 0;
        int32_t depth = 0;
        bool active = true;
        int32_t numExcluded = 0;
        int32_t next = -1;
        if (genLength >= 1)
        {
            for (int32_t j = 0; j + 1 < bl && active; ++j)
            {
                float const* nodeProbs = rowProbs + static_cast<size_t>(node) * V;
                for (int32_t i = 0; i < nb; ++i)
                {
                    bool const child = samplingIsChild(tokens, indices, nb, bl, i, j, node, genLength);
                    isChild[i] = child;
                    childProb[i]
                        = child ? samplingTokenProb(nodeProbs, V, tokens[static_cast<size_t>(i) * bl + j + 1]) : 0.0f;
                }
                int32_t const chosen = samplingFirstAccepted(
                    isChild.data(), childProb.data(), randValidation, randDtype, randRowOffset, nb, bl, j);
                if (chosen >= 0)
                {
                    node = indices[static_cast<size_t>(chosen) * bl + j + 1];
                    beam = chosen;
                    depth = j + 1;
                }
                else
                {
                    active = false;
                    numExcluded = samplingCollectExcluded(tokens, isChild.data(), nb, bl, j, V, excluded.data());
                }
            }
            float const* nodeProbs = rowProbs + static_cast<size_t>(node) * V;
            float const u = decodeElementAt(randSample, randDtype, static_cast<size_t>(row));
            next = sampleHost(nodeProbs, V, excluded.data(), active ? 0 : numExcluded, u, emulatedThreads);
            if (next == -2)
            {
                next = sampleHost(nodeProbs, V, excluded.data(), 0, u, emulatedThreads);
            }
        }
        int32_t const num = depth + 1;
        int32_t const* bestTokens = tokens + static_cast<size_t>(beam) * bl;
        int32_t const* bestIndices = indices + static_cast<size_t>(beam) * bl;
        numAcceptedTokens[row] = num;
        acceptedBeamIndex[row] = beam;
        nextToken[row] = next;
        hiddenIndex[row] = bestIndices[num - 1];
        for (int32_t k = 0; k < bl; ++k)
        {
            pathIndices[static_cast<size_t>(row) * bl + k] = bestIndices[k];
            acceptedTokens[static_cast<size_t>(row) * bl + k] = greedyAcceptedTokenAt(bestTokens, bl, num, next, k);
        }
    }
    return kOk;
}

extern "C" size_t redrafterSamplingStaticSharedBytes()
{
    return redrafter::samplingStaticSharedBytes();
}
