// CUDA kernel for fused sampling acceptance. Contract and per-element logic: fused_sampling_accept.h.
#include "fused_sampling_accept.h"

#include <cstddef>

namespace redrafter
{
namespace
{

constexpr int32_t kWarp = 32;
constexpr int32_t kWarps = kFusedBlock / kWarp;

static_assert(kFusedBlock == kRadixBins, "one histogram bin per thread");
static_assert(kWarps <= kWarp, "one warp's worth of warp partials");

// Block-wide max; every thread gets it.
__device__ float blockMax(float x, FusedShared& s)
{
    for (int32_t offset = kWarp / 2; offset > 0; offset /= 2)
    {
        x = warpMaxCombine(x, __shfl_xor_sync(0xFFFFFFFFu, x, offset));
    }
    if (threadIdx.x % kWarp == 0)
    {
        s.warpMax[threadIdx.x / kWarp] = x;
    }
    __syncthreads();
    float result = s.warpMax[0];
#pragma unroll
    for (int32_t w = 1; w < kWarps; ++w)
    {
        result = warpMaxCombine(result, s.warpMax[w]);
    }
    __syncthreads();
    return result;
}

// Block-wide exclusive scan of fixed-point masses in thread order (exact); `total` gets the sum.
__device__ uint64_t blockExclusiveScan(uint64_t x, FusedShared& s, uint64_t& total)
{
    int32_t const lane = threadIdx.x % kWarp;
    int32_t const warp = threadIdx.x / kWarp;
    unsigned long long inclusive = x;
#pragma unroll
    for (int32_t offset = 1; offset < kWarp; offset *= 2)
    {
        unsigned long long const other = __shfl_up_sync(0xFFFFFFFFu, inclusive, offset);
        inclusive += lane >= offset ? other : 0ull;
    }
    if (lane == kWarp - 1)
    {
        s.warpSums[warp] = inclusive;
    }
    __syncthreads();
    unsigned long long before = 0;
    unsigned long long all = 0;
#pragma unroll
    for (int32_t w = 0; w < kWarps; ++w)
    {
        before += w < warp ? s.warpSums[w] : 0ull;
        all += s.warpSums[w];
    }
    __syncthreads();
    total = all;
    return before + inclusive - x;
}

__device__ uint64_t blockSum(uint64_t x, FusedShared& s)
{
    uint64_t total = 0;
    blockExclusiveScan(x, s, total);
    return total;
}

// One 64-bit histogram add as two 32-bit shared atomics with a carry (no CAS loop).
__device__ __forceinline__ void atomicAddMass(uint32_t* lo, uint32_t* hi, uint64_t m)
{
    uint32_t const low = static_cast<uint32_t>(m);
    uint32_t const old = atomicAdd(lo, low);
    uint32_t const high = static_cast<uint32_t>(m >> 32) + (old + low < old ? 1u : 0u);
    if (high != 0)
    {
        atomicAdd(hi, high);
    }
}

struct DeviceRow
{
    unsigned char const* bytes;
    FusedRowLayout layout;
    float invT;
};

template <LogitsDtype D>
__device__ uint32_t blockTopKCut(DeviceRow const& r, int32_t topK, FusedShared& s)
{
    int32_t remaining = topK; // thread 0's copy is the one used
    uint32_t prefix = 0;
    for (int32_t pass = 0; pass < kRadixPasses; ++pass)
    {
        s.counts[threadIdx.x] = 0;
        __syncthreads();
        fusedForEach<D>(r.bytes, r.layout, r.invT, threadIdx.x, kFusedBlock, [&](int32_t, float y) {
            int32_t const d = radixDigit(warpOrderedKey(y), prefix, pass);
            if (d >= 0)
            {
                atomicAdd(&s.counts[d], 1);
            }
        });
        __syncthreads();
        if (threadIdx.x == 0)
        {
            s.prefix = radixWithDigit(prefix, pass, radixSelectLargest(s.counts, remaining));
        }
        __syncthreads();
        prefix = s.prefix;
    }
    return prefix;
}

template <LogitsDtype D>
__device__ uint64_t blockTotalMass(DeviceRow const& r, float maxY, uint32_t cut, FusedShared& s)
{
    uint64_t local = 0;
    fusedForEach<D>(r.bytes, r.layout, r.invT, threadIdx.x, kFusedBlock,
        [&](int32_t, float y) { local += fusedMass(y, maxY, cut); });
    return blockSum(local, s);
}

template <LogitsDtype D>
__device__ uint32_t blockTopPCut(
    DeviceRow const& r, float maxY, uint32_t keepFrom, uint64_t total, float topP, FusedShared& s)
{
    uint64_t const threshold = warpTopPThreshold(topP, total);
    uint64_t below = 0; // thread 0's copy is the one used
    uint32_t prefix = 0;
    for (int32_t pass = 0; pass < kRadixPasses; ++pass)
    {
        s.massLo[threadIdx.x] = 0;
        s.massHi[threadIdx.x] = 0;
        __syncthreads();
        fusedForEach<D>(r.bytes, r.layout, r.invT, threadIdx.x, kFusedBlock, [&](int32_t, float y) {
            uint64_t const m = fusedMass(y, maxY, keepFrom);
            int32_t const d = radixDigit(warpOrderedKey(y), prefix, pass);
            if (m > 0 && d >= 0)
            {
                atomicAddMass(&s.massLo[d], &s.massHi[d], m);
            }
        });
        __syncthreads();
        if (threadIdx.x == 0)
        {
            int32_t const d = fusedSelectMassSplit(s.massLo, s.massHi, threshold, below);
            s.stop = d < 0;
            s.prefix = d < 0 ? warpOrderedKey(maxY) : radixWithDigit(prefix, pass, d);
        }
        __syncthreads();
        prefix = s.prefix;
        if (s.stop)
        {
            break;
        }
    }
    return prefix;
}

// The node's max, cut and total, by the whole block (the passes of warp_softmax.h).
template <LogitsDtype D>
__device__ FusedNodeStats blockNodeStats(DeviceRow const& r, int32_t topK, float topP, FusedShared& s)
{
    float m = bitsToFloat(0xFF800000u);
    fusedForEach<D>(r.bytes, r.layout, r.invT, threadIdx.x, kFusedBlock,
        [&](int32_t, float y) { m = warpMaxCombine(m, y); });
    float const maxY = blockMax(m, s);
    uint32_t cut = warpTopKActive(topK, r.layout.V) ? blockTopKCut<D>(r, topK, s) : 0;
    uint64_t total = blockTotalMass<D>(r, maxY, cut, s);
    if (warpTopPActive(topP))
    {
        cut = blockTopPCut<D>(r, maxY, cut, total, topP, s);
        total = blockTotalMass<D>(r, maxY, cut, s);
    }
    return FusedNodeStats{maxY, cut, total, warpInverseTotal(total)};
}

// The first token whose cumulative mass exceeds `target`, by tiles with an early exit; V-1 when
// none does (the reference's clamp).
template <LogitsDtype D>
__device__ int32_t blockSample(DeviceRow const& r, FusedNodeStats const& stats, int32_t const* excluded,
    int32_t numExcluded, uint64_t target, FusedShared& s)
{
    int32_t const units = fusedUnitCount(r.layout);
    uint64_t base = 0; // the same in every thread: the mass before the tile
    if (threadIdx.x == 0)
    {
        s.found = -1;
    }
    for (int32_t tile = 0; fusedTileUnit(tile, kFusedBlock, 0) < units; ++tile)
    {
        int32_t const first = fusedTileUnit(tile, kFusedBlock, threadIdx.x);
        float y[kFusedUnitsPerThread][kFusedMaxUnitElements];
        int32_t counts[kFusedUnitsPerThread];
        uint64_t masses[kFusedUnitsPerThread];
        uint64_t mine = 0;
#pragma unroll
        for (int32_t u = 0; u < kFusedUnitsPerThread; ++u)
        {
            int32_t const unit = first + u;
            counts[u] = unit < units ? fusedLoadUnit<D>(r.bytes, r.layout, unit, r.invT, y[u]) : 0;
            masses[u] = fusedUnitMass(
                y[u], counts[u], fusedUnitBegin<D>(r.layout, unit), stats.maxY, stats.cut, excluded, numExcluded);
            mine += masses[u];
        }
        uint64_t tileTotal = 0;
        uint64_t cumulative = base + blockExclusiveScan(mine, s, tileTotal);
        if (cumulative <= target && cumulative + mine > target) // exactly one thread holds the crossing
        {
#pragma unroll
            for (int32_t u = 0; u < kFusedUnitsPerThread; ++u)
            {
                if (cumulative <= target && cumulative + masses[u] > target)
                {
                    s.found = fusedUnitFind(y[u], counts[u], fusedUnitBegin<D>(r.layout, first + u), stats.maxY,
                        stats.cut, excluded, numExcluded, cumulative, target);
                }
                cumulative += masses[u];
            }
        }
        __syncthreads();
        if (s.found >= 0)
        {
            break;
        }
        base += tileTotal;
    }
    int32_t const found = s.found;
    __syncthreads();
    return found < 0 ? r.layout.V - 1 : found;
}

struct FusedKernelArgs
{
    unsigned char const* logits;
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
    int32_t* numAcceptedTokens;
    int32_t* acceptedBeamIndex;
    int32_t* nextToken;
    int32_t* hiddenIndex;
    int32_t* pathIndices;
    int32_t* acceptedTokens;
};

// Walks request `request`'s tree; returns the sampled token (-1 without a real slot). The walk's end
// (node, beam, depth) is left in s.
template <LogitsDtype D>
__device__ int32_t walkAndSample(FusedKernelArgs const& a, int32_t request, int32_t* isChild, float* childProb,
    int32_t* excluded, FusedShared& s)
{
    int32_t const tid = threadIdx.x;
    size_t const beamCells = static_cast<size_t>(a.nb) * a.bl;
    int32_t const* tokens = a.draftTokens + request * beamCells;
    int32_t const* indices = a.draftIndices + request * beamCells;
    int32_t const rowOffset = a.rowOffsets[request];
    int32_t const genLength = fusedRealSlots(rowOffset, a.genLengths[request], a.numRows, a.numSlots);
    if (genLength < 1)
    {
        return -1;
    }
    size_t const randRowOffset = static_cast<size_t>(request) * a.nb * static_cast<size_t>(a.bl - 1);
    size_t const rowBytes = static_cast<size_t>(a.V) * LogitsTraits<D>::kBytes;
    float const invT = warpInverseTemperature(a.invTemperature, a.temperatureDtype, a.temperatureCount, request);
    DeviceRow r{};
    FusedNodeStats stats{};
    for (int32_t j = 0;; ++j)
    {
        r.bytes = a.logits + (static_cast<size_t>(rowOffset) + s.node) * rowBytes;
        r.layout = fusedRowLayout<D>(r.bytes, a.V);
        r.invT = invT;
        stats = blockNodeStats<D>(r, a.topK, a.topP, s);
        if (j + 1 >= a.bl)
        {
            break; // a leaf: the bonus token comes from the node itself
        }
        int32_t const node = s.node;
        for (int32_t i = tid; i < a.nb; i += blockDim.x)
        {
            bool const child = samplingIsChild(tokens, indices, a.nb, a.bl, i, j, node, genLength);
            isChild[i] = child;
            int32_t const token = tokens[static_cast<size_t>(i) * a.bl + j + 1];
            childProb[i] = child ? fusedTokenProb<D>(r.bytes, a.V, invT, token, stats) : 0.0f;
        }
        __syncthreads();
        if (tid == 0)
        {
            int32_t const chosen
                = samplingFirstAccepted(isChild, childProb, a.randValidation, a.randDtype, randRowOffset, a.nb, a.bl, j);
            if (chosen >= 0)
            {
                s.node = indices[static_cast<size_t>(chosen) * a.bl + j + 1];
                s.beam = chosen;
                s.depth = j + 1;
            }
            else
            {
                s.active = 0;
                s.numExcluded = samplingCollectExcluded(tokens, isChild, a.nb, a.bl, j, a.V, excluded);
            }
        }
        __syncthreads();
        if (!s.active)
        {
            break;
        }
    }
    if (tid == 0)
    {
        int32_t numExcluded = s.active ? 0 : s.numExcluded;
        uint64_t mass = fusedResidualMass<D>(r.bytes, invT, stats, excluded, numExcluded);
        if (mass == 0) // the children held all the mass: the node's own distribution
        {
            numExcluded = 0;
            mass = stats.total;
        }
        s.numExcluded = numExcluded;
        s.target = fusedTarget(decodeElementAt(a.randSample, a.randDtype, static_cast<size_t>(request)), mass);
    }
    __syncthreads();
    return blockSample<D>(r, stats, excluded, s.numExcluded, s.target, s);
}

template <LogitsDtype D>
__global__ void __launch_bounds__(kFusedBlock, 1) fusedSamplingAcceptKernel(FusedKernelArgs const a)
{
    extern __shared__ int32_t dynamicShared[];
    int32_t* isChild = dynamicShared;
    float* childProb = reinterpret_cast<float*>(dynamicShared + a.nb);
    int32_t* excluded = dynamicShared + 2 * a.nb;
    __shared__ FusedShared s; // all the static shared memory (fusedFitsSharedMemory counts it)

    int32_t const request = blockIdx.x;
    int32_t const tid = threadIdx.x;
    if (tid == 0)
    {
        s.node = 0;
        s.beam = 0;
        s.depth = 0;
        s.active = 1;
        s.numExcluded = 0;
    }
    __syncthreads();
    int32_t const next = walkAndSample<D>(a, request, isChild, childProb, excluded, s);

    size_t const beamCells = static_cast<size_t>(a.nb) * a.bl;
    int32_t const num = s.depth + 1;
    int32_t const* bestTokens = a.draftTokens + request * beamCells + static_cast<size_t>(s.beam) * a.bl;
    int32_t const* bestIndices = a.draftIndices + request * beamCells + static_cast<size_t>(s.beam) * a.bl;
    if (tid == 0)
    {
        a.numAcceptedTokens[request] = num;
        a.acceptedBeamIndex[request] = s.beam;
        a.nextToken[request] = next;
        a.hiddenIndex[request] = bestIndices[num - 1];
    }
    for (int32_t k = tid; k < a.bl; k += blockDim.x)
    {
        a.pathIndices[static_cast<size_t>(request) * a.bl + k] = bestIndices[k];
        a.acceptedTokens[static_cast<size_t>(request) * a.bl + k] = greedyAcceptedTokenAt(bestTokens, a.bl, num, next, k);
    }
}

template <LogitsDtype D>
void launchFused(FusedKernelArgs const& a, int32_t bs, cudaStream_t stream)
{
    fusedSamplingAcceptKernel<D><<<bs, kFusedBlock, fusedSharedBytes(a.nb), stream>>>(a);
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterFusedSamplingAccept(void const* logits, int32_t logitsDtype, int32_t numRows, int32_t V,
    int32_t const* rowOffsets, void const* invTemperature, int32_t temperatureDtype, int32_t temperatureCount,
    int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths, void const* randValidation,
    void const* randSample, int32_t randDtype, int32_t bs, int32_t numSlots, int32_t nb, int32_t bl, int32_t topK,
    float topP, int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
    int32_t* pathIndices, int32_t* acceptedTokens, cudaStream_t stream)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || nb < 1 || bl < 1 || numRows < 0)
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
    if (V >= kMaxWarpVocab || static_cast<int64_t>(nb) * bl > 0x7FFFFFFF || !fusedFitsSharedMemory(nb))
    {
        return kTooLarge;
    }
    FusedKernelArgs const a{static_cast<unsigned char const*>(logits), numRows, V, rowOffsets, invTemperature,
        temperatureDtype, temperatureCount, draftTokens, draftIndices, genLengths, randValidation, randSample,
        randDtype, numSlots, nb, bl, topK, topP, numAcceptedTokens, acceptedBeamIndex, nextToken, hiddenIndex,
        pathIndices, acceptedTokens};
    switch (static_cast<LogitsDtype>(logitsDtype))
    {
    case LogitsDtype::kFloat32: launchFused<LogitsDtype::kFloat32>(a, bs, stream); break;
    case LogitsDtype::kFloat16: launchFused<LogitsDtype::kFloat16>(a, bs, stream); break;
    case LogitsDtype::kBFloat16: launchFused<LogitsDtype::kBFloat16>(a, bs, stream); break;
    }
    return cudaGetLastError() == cudaSuccess ? kOk : kCudaError;
}
