// CUDA kernel for beam packing. Contract and per-element logic: pack_beams.h.
#include "pack_beams.h"

#include <cstddef>

namespace redrafter
{
namespace
{

constexpr int32_t kPackBlock = 256;

__global__ void packBeamsKernel(int32_t const* __restrict__ draftTokens, int32_t const* __restrict__ positionIdsBase,
    int32_t nb, int32_t bl, int32_t* __restrict__ packedTokens, int32_t* __restrict__ genLengths,
    int32_t* __restrict__ draftIndices, int32_t* __restrict__ positionOffsets, int32_t* __restrict__ packedMask,
    int32_t* __restrict__ packedPositionIds)
{
    extern __shared__ int32_t scratchBase[];
    int32_t const row = blockIdx.x;
    int32_t const nCap = packedCapacity(nb, bl);
    int32_t const words = maskWords(nCap);
    int32_t const beamCells = nb * bl;
    PackScratch s = packScratchLayout(scratchBase, nb, bl);

    int32_t const* beamsIn = draftTokens + static_cast<size_t>(row) * beamCells;
    for (int32_t t = threadIdx.x; t < beamCells; t += blockDim.x)
    {
        s.beams[t] = beamsIn[t];
    }
    __syncthreads();

    // 1. leading depths each beam shares with an earlier beam
    for (int32_t i = threadIdx.x; i < nb; i += blockDim.x)
    {
        s.depth[i] = packSharedDepth(s.beams, bl, i);
    }
    __syncthreads();

    // 2. segment starts (nb is small: one thread)
    if (threadIdx.x == 0)
    {
        *s.genLength = packSegmentStarts(s.beams, s.depth, nb, bl, s.start);
        genLengths[row] = *s.genLength;
    }
    __syncthreads();

    // 3. draft indices and the slot -> node map
    for (int32_t i = threadIdx.x; i < nb; i += blockDim.x)
    {
        packBeamRow(s.beams, bl, s.depth, s.start, i, s.indices, s.nodeBeam, s.nodeDepth);
    }
    __syncthreads();

    int32_t const genLength = *s.genLength;
    int32_t const base = positionIdsBase[row];
    int32_t* indicesOut = draftIndices + static_cast<size_t>(row) * beamCells;
    for (int32_t t = threadIdx.x; t < beamCells; t += blockDim.x)
    {
        indicesOut[t] = s.indices[t];
    }

    // 4. per slot: token, offset, position id
    size_t const slotRow = static_cast<size_t>(row) * nCap;
    for (int32_t p = threadIdx.x; p < nCap; p += blockDim.x)
    {
        int32_t const depth = packSlotDepth(s.nodeDepth, genLength, p);
        packedTokens[slotRow + p] = packSlotToken(s.beams, bl, s.nodeBeam, s.nodeDepth, genLength, p);
        positionOffsets[slotRow + p] = depth;
        packedPositionIds[slotRow + p] = base + depth;
    }

    // 5. per (slot, word): the bit-packed mask, written contiguously
    int32_t* maskOut = packedMask + slotRow * words;
    for (int32_t t = threadIdx.x; t < nCap * words; t += blockDim.x)
    {
        maskOut[t] = packMaskWord(s.indices, bl, s.nodeBeam, s.nodeDepth, genLength, t / words, t % words);
    }
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterPackBeams(int32_t const* draftTokens, int32_t const* positionIdsBase, int32_t bs,
    int32_t nb, int32_t bl, int32_t* packedTokens, int32_t* genLengths, int32_t* draftIndices,
    int32_t* positionOffsets, int32_t* packedMask, int32_t* packedPositionIds, cudaStream_t stream)
{
    using namespace redrafter;
    if (bs < 1 || nb < 1 || bl < 1)
    {
        return kBadShape;
    }
    if (!packFitsSharedMemory(nb, bl))
    {
        return kTooLarge;
    }
    size_t const sharedBytes = static_cast<size_t>(packScratchInts(nb, bl)) * sizeof(int32_t);
    packBeamsKernel<<<bs, kPackBlock, sharedBytes, stream>>>(draftTokens, positionIdsBase, nb, bl, packedTokens,
        genLengths, draftIndices, positionOffsets, packedMask, packedPositionIds);
    return cudaGetLastError() == cudaSuccess ? kOk : kCudaError;
}
