// CUDA kernel for greedy acceptance. Contract and per-element logic: greedy_accept.h.
#include "greedy_accept.h"

#include <cstddef>

namespace redrafter
{
namespace
{

constexpr int32_t kWarp = 32;

__device__ __forceinline__ BeamChoice warpBestBeam(BeamChoice c)
{
    for (int32_t offset = kWarp / 2; offset > 0; offset /= 2)
    {
        BeamChoice other;
        other.length = __shfl_down_sync(0xFFFFFFFFu, c.length, offset);
        other.beam = __shfl_down_sync(0xFFFFFFFFu, c.beam, offset);
        c = greedyBetterBeam(c, other);
    }
    return c;
}

__global__ void __launch_bounds__(kAcceptBlock) greedyAcceptKernel(int32_t const* __restrict__ packedArgmax,
    int32_t const* __restrict__ draftTokens, int32_t const* __restrict__ draftIndices,
    int32_t const* __restrict__ genLengths, int32_t numSlots, int32_t nb, int32_t bl,
    int32_t* __restrict__ numAcceptedTokens, int32_t* __restrict__ acceptedBeamIndex, int32_t* __restrict__ nextToken,
    int32_t* __restrict__ hiddenIndex, int32_t* __restrict__ pathIndices, int32_t* __restrict__ acceptedTokens)
{
    static_assert(kAcceptBlock % kWarp == 0 && kAcceptBlock / kWarp <= kWarp, "one warp reduces the warps");
    int32_t const row = blockIdx.x;
    size_t const beamCells = static_cast<size_t>(nb) * bl;
    int32_t const* tokens = draftTokens + row * beamCells;
    int32_t const* indices = draftIndices + row * beamCells;
    int32_t const* argmaxRow = packedArgmax + static_cast<size_t>(row) * numSlots;
    int32_t const genLength = clampGenLength(genLengths[row], numSlots);

    BeamChoice choice = greedyNoBeam();
    for (int32_t i = threadIdx.x; i < nb; i += blockDim.x)
    {
        choice = greedyBetterBeam(choice, BeamChoice{greedyAcceptLength(tokens, indices, argmaxRow, genLength, bl, i), i});
    }
    choice = warpBestBeam(choice);

    __shared__ BeamChoice warpChoice[kAcceptBlock / kWarp];
    __shared__ BeamChoice best;
    int32_t const lane = threadIdx.x % kWarp;
    int32_t const warp = threadIdx.x / kWarp;
    if (lane == 0)
    {
        warpChoice[warp] = choice;
    }
    __syncthreads();
    if (warp == 0)
    {
        choice = warpBestBeam(lane < kAcceptBlock / kWarp ? warpChoice[lane] : greedyNoBeam());
        if (lane == 0)
        {
            best = choice;
        }
    }
    __syncthreads();

    int32_t const num = best.length;
    int32_t const* bestTokens = tokens + static_cast<size_t>(best.beam) * bl;
    int32_t const* bestIndices = indices + static_cast<size_t>(best.beam) * bl;
    int32_t const last = bestIndices[num - 1];
    int32_t const bonus = greedyPrediction(argmaxRow, genLength, last);
    if (threadIdx.x == 0)
    {
        numAcceptedTokens[row] = num;
        acceptedBeamIndex[row] = best.beam;
        nextToken[row] = bonus;
        hiddenIndex[row] = last;
    }
    for (int32_t k = threadIdx.x; k < bl; k += blockDim.x)
    {
        pathIndices[static_cast<size_t>(row) * bl + k] = bestIndices[k];
        acceptedTokens[static_cast<size_t>(row) * bl + k] = greedyAcceptedTokenAt(bestTokens, bl, num, bonus, k);
    }
}

} // namespace
} // namespace redrafter

extern "C" size_t redrafterGreedyAcceptWorkspaceSize(int32_t bs, int32_t numSlots)
{
    return redrafter::greedyAcceptWorkspaceBytes(bs, numSlots);
}

extern "C" int32_t redrafterGreedyAccept(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
    int32_t const* rowOffsets, int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths,
    int32_t bs, int32_t numSlots, int32_t nb, int32_t bl, void* workspace, size_t workspaceBytes,
    int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
    int32_t* pathIndices, int32_t* acceptedTokens, cudaStream_t stream)
{
    using namespace redrafter;
    if (nb < 1 || bl < 1 || bs < 1 || numSlots < 1)
    {
        return kBadShape;
    }
    if (static_cast<int64_t>(nb) * bl > 0x7FFFFFFF || workspaceBytes < greedyAcceptWorkspaceBytes(bs, numSlots))
    {
        return kTooLarge;
    }
    auto* packedArgmax = static_cast<int32_t*>(workspace);
    int32_t const status
        = redrafterPackedArgmax(logits, dtype, numRows, V, rowOffsets, genLengths, bs, numSlots, packedArgmax, stream);
    if (status != kOk)
    {
        return status;
    }
    greedyAcceptKernel<<<bs, kAcceptBlock, 0, stream>>>(packedArgmax, draftTokens, draftIndices, genLengths, numSlots,
        nb, bl, numAcceptedTokens, acceptedBeamIndex, nextToken, hiddenIndex, pathIndices, acceptedTokens);
    return cudaGetLastError() == cudaSuccess ? kOk : kCudaError;
}
