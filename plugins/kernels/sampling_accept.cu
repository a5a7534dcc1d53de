// CUDA kernel for sampling acceptance. Contract and per-element logic: sampling_accept.h.
#include "sampling_accept.h"

#include <cstddef>

namespace redrafter
{
namespace
{

constexpr int32_t kWarp = 32;
constexpr int32_t kWarps = kSampleBlock / kWarp;

static_assert(kWarps <= kWarp, "one warp reduces the warps");

__device__ __forceinline__ int32_t warpFirstFound(int32_t x)
{
    for (int32_t offset = kWarp / 2; offset > 0; offset /= 2)
    {
        x = samplingFirstFound(x, __shfl_down_sync(0xFFFFFFFFu, x, offset));
    }
    return x;
}

static_assert(sizeof(SampleScratch::found) / sizeof(int32_t) == kWarps, "one found index per warp");

// Inverse-CDF sample of `row` without the excluded tokens, by the whole block. Returns -2 (for
// every thread) when the row has no mass outside the excluded tokens and some were excluded.
__device__ __forceinline__ int32_t blockSample(
    float const* row, int32_t V, int32_t const* excluded, int32_t numExcluded, float u, SampleScratch& s)
{
    int32_t const tid = threadIdx.x;
    SampleChunk const chunk = samplingChunk(V, blockDim.x, tid);
    double const sum = samplingChunkSum(row, chunk.begin, chunk.end, excluded, numExcluded);
    s.sums[tid] = sum;
    __syncthreads();
    if (tid == 0)
    {
        s.total = samplingChunkPrefixes(s.sums, blockDim.x, s.prefixes);
    }
    __syncthreads();
    double const total = s.total;
    if (!(total > 0.0) && numExcluded > 0)
    {
        return -2;
    }
    int32_t found = samplingChunkFind(
        row, chunk.begin, chunk.end, s.prefixes[tid], sum, samplingTarget(u, total), excluded, numExcluded);
    found = warpFirstFound(found);
    int32_t const lane = tid % kWarp;
    int32_t const warp = tid / kWarp;
    if (lane == 0)
    {
        s.found[warp] = found;
    }
    __syncthreads();
    if (warp == 0)
    {
        found = warpFirstFound(lane < kWarps ? s.found[lane] : -1);
        if (lane == 0)
        {
            s.result = samplingFinishIndex(found, V);
        }
    }
    __syncthreads();
    return s.result;
}

__global__ void __launch_bounds__(kSampleBlock, 1) samplingAcceptKernel(float const* __restrict__ probs,
    int32_t const* __restrict__ draftTokens, int32_t const* __restrict__ draftIndices,
    int32_t const* __restrict__ genLengths, void const* __restrict__ randValidation,
    void const* __restrict__ randSample, int32_t randDtype, int32_t numSlots, int32_t V, int32_t nb, int32_t bl,
    int32_t* __restrict__ numAcceptedTokens, int32_t* __restrict__ acceptedBeamIndex, int32_t* __restrict__ nextToken,
    int32_t* __restrict__ hiddenIndex, int32_t* __restrict__ pathIndices, int32_t* __restrict__ acceptedTokens)
{
    extern __shared__ int32_t dynamicShared[];
    int32_t* isChild = dynamicShared;
    float* childProb = reinterpret_cast<float*>(dynamicShared + nb);
    int32_t* excluded = dynamicShared + 2 * nb;
    __shared__ SampleShared shared; // all the static shared memory (samplingFitsSharedMemory counts it)
    SampleScratch& scratch = shared.scratch;
    int32_t& sNode = shared.node;
    int32_t& sBeam = shared.beam;
    int32_t& sDepth = shared.depth;
    int32_t& sActive = shared.active;
    int32_t& sNumExcluded = shared.numExcluded;

    int32_t const row = blockIdx.x;
    int32_t const tid = threadIdx.x;
    size_t const beamCells = static_cast<size_t>(nb) * bl;
    int32_t const* tokens = draftTokens + row * beamCells;
    int32_t const* indices = draftIndices + row * beamCells;
    int32_t const genLength = clampGenLength(genLengths[row], numSlots);
    float const* rowProbs = probs + static_cast<size_t>(row) * numSlots * static_cast<size_t>(V);
    size_t const randRowOffset = static_cast<size_t>(row) * nb * static_cast<size_t>(bl - 1);

    if (tid == 0)
    {
        sNode = 0;
        sBeam = 0;
        sDepth = 0;
        sActive = 1;
        sNumExcluded = 0;
    }
    __syncthreads();

    int32_t next = -1;
    if (genLength >= 1)
    {
        for (int32_t j = 0; j + 1 < bl; ++j)
        {
            int32_t const node = sNode;
            float const* nodeProbs = rowProbs + static_cast<size_t>(node) * V;
            for (int32_t i = tid; i < nb; i += blockDim.x)
            {
                bool const child = samplingIsChild(tokens, indices, nb, bl, i, j, node, genLength);
                isChild[i] = child;
                int32_t const token = tokens[static_cast<size_t>(i) * bl + j + 1];
                childProb[i] = child ? samplingTokenProb(nodeProbs, V, token) : 0.0f;
            }
            __syncthreads();
            if (tid == 0)
            {
                int32_t const chosen
                    = samplingFirstAccepted(isChild, childProb, randValidation, randDtype, randRowOffset, nb, bl, j);
                if (chosen >= 0)
                {
                    sNode = indices[static_cast<size_t>(chosen) * bl + j + 1];
                    sBeam = chosen;
                    sDepth = j + 1;
                }
                else
                {
                    sActive = 0;
                    sNumExcluded = samplingCollectExcluded(tokens, isChild, nb, bl, j, V, excluded);
                }
            }
            __syncthreads();
            if (!sActive)
            {
                break;
            }
        }
        float const* nodeProbs = rowProbs + static_cast<size_t>(sNode) * V;
        float const u = decodeElementAt(randSample, randDtype, static_cast<size_t>(row));
        int32_t const numExcluded = sActive ? 0 : sNumExcluded;
        next = blockSample(nodeProbs, V, excluded, numExcluded, u, scratch);
        if (next == -2) // the children held all the mass: sample from the node's distribution itself
        {
            next = blockSample(nodeProbs, V, excluded, 0, u, scratch);
        }
    }

    int32_t const beam = sBeam;
    int32_t const num = sDepth + 1;
    int32_t const* bestTokens = tokens + static_cast<size_t>(beam) * bl;
    int32_t const* bestIndices = indices + static_cast<size_t>(beam) * bl;
    if (tid == 0)
    {
        numAcceptedTokens[row] = num;
        acceptedBeamIndex[row] = beam;
        nextToken[row] = next;
        hiddenIndex[row] = bestIndices[num - 1];
    }
    for (int32_t k = tid; k < bl; k += blockDim.x)
    {
        pathIndices[static_cast<size_t>(row) * bl + k] = bestIndices[k];
        acceptedTokens[static_cast<size_t>(row) * bl + k] = greedyAcceptedTokenAt(bestTokens, bl, num, next, k);
    }
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterSamplingAccept(float const* probs, int32_t const* draftTokens, int32_t const* draftIndices,
    int32_t const* genLengths, void const* randValidation, void const* randSample, int32_t randDtype, int32_t bs,
    int32_t numSlots, int32_t V, int32_t nb, int32_t bl, int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex,
    int32_t* nextToken, int32_t* hiddenIndex, int32_t* pathIndices, int32_t* acceptedTokens, cudaStream_t stream)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || nb < 1 || bl < 1)
    {
        return kBadShape;
    }
    if (!isKnownDtype(randDtype))
    {
        return kBadDtype;
    }
    if (static_cast<int64_t>(nb) * bl > 0x7FFFFFFF || !samplingFitsSharedMemory(nb))
    {
        return kTooLarge;
    }
    size_t const sharedBytes = samplingSharedBytes(nb);
    samplingAcceptKernel<<<bs, kSampleBlock, sharedBytes, stream>>>(probs, draftTokens, draftIndices, genLengths,
        randValidation, randSample, randDtype, numSlots, V, nb, bl, numAcceptedTokens, acceptedBeamIndex, nextToken,
        hiddenIndex, pathIndices, acceptedTokens);
    return cudaGetLastError() == cudaSuccess ? kOk : kCudaError;
}
