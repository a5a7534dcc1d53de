// CUDA kernel for the packed argmax. Contract and per-element logic: packed_argmax.h.
#include "packed_argmax.h"

#include <cstddef>

namespace redrafter
{
namespace
{

constexpr int32_t kWarp = 32;

__device__ __forceinline__ ArgmaxPartial warpArgmax(ArgmaxPartial p)
{
    for (int32_t offset = kWarp / 2; offset > 0; offset /= 2)
    {
        ArgmaxPartial other;
        other.value = __shfl_down_sync(0xFFFFFFFFu, p.value, offset);
        other.index = __shfl_down_sync(0xFFFFFFFFu, p.index, offset);
        p = argmaxCombine(p, other);
    }
    return p;
}

template <LogitsDtype D>
__global__ void __launch_bounds__(kArgmaxBlock) packedArgmaxKernel(unsigned char const* __restrict__ logits,
    int32_t numRows, int32_t V, int32_t const* __restrict__ rowOffsets, int32_t const* __restrict__ genLengths,
    int32_t numSlots, int32_t* __restrict__ packedArgmax)
{
    static_assert(kArgmaxBlock % kWarp == 0 && kArgmaxBlock / kWarp <= kWarp, "one warp reduces the warps");
    int32_t const slot = blockIdx.x;
    int32_t const request = blockIdx.y;
    size_t const cell = static_cast<size_t>(request) * numSlots + slot;
    int64_t const row = packedSlotRow(rowOffsets[request], genLengths[request], numRows, numSlots, slot);
    if (row < 0)
    {
        if (threadIdx.x == 0)
        {
            packedArgmax[cell] = -1;
        }
        return;
    }

    unsigned char const* rowBytes
        = logits + static_cast<size_t>(row) * static_cast<size_t>(V) * LogitsTraits<D>::kBytes;
    ArgmaxPartial best = warpArgmax(argmaxThreadPartial<D>(rowBytes, V, threadIdx.x, kArgmaxBlock));

    __shared__ ArgmaxPartial warpBest[kArgmaxBlock / kWarp];
    int32_t const lane = threadIdx.x % kWarp;
    int32_t const warp = threadIdx.x / kWarp;
    if (lane == 0)
    {
        warpBest[warp] = best;
    }
    __syncthreads();
    if (warp == 0)
    {
        best = warpArgmax(lane < kArgmaxBlock / kWarp ? warpBest[lane] : argmaxIdentity());
        if (lane == 0)
        {
            packedArgmax[cell] = best.index;
        }
    }
}

template <LogitsDtype D>
void launchPackedArgmax(void const* logits, int32_t numRows, int32_t V, int32_t const* rowOffsets,
    int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t* packedArgmax, cudaStream_t stream)
{
    dim3 const grid(numSlots, bs);
    packedArgmaxKernel<D><<<grid, kArgmaxBlock, 0, stream>>>(
        static_cast<unsigned char const*>(logits), numRows, V, rowOffsets, genLengths, numSlots, packedArgmax);
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterPackedArgmax(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
    int32_t const* rowOffsets, int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t* packedArgmax,
    cudaStream_t stream)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || numRows < 0)
    {
        return kBadShape;
    }
    if (!isKnownDtype(dtype))
    {
        return kBadDtype;
    }
    if (bs > kArgmaxMaxRequests)
    {
        return kTooLarge;
    }
    switch (static_cast<LogitsDtype>(dtype))
    {
    case LogitsDtype::kFloat32:
        launchPackedArgmax<LogitsDtype::kFloat32>(
            logits, numRows, V, rowOffsets, genLengths, bs, numSlots, packedArgmax, stream);
        break;
    case LogitsDtype::kFloat16:
        launchPackedArgmax<LogitsDtype::kFloat16>(
            logits, numRows, V, rowOffsets, genLengths, bs, numSlots, packedArgmax, stream);
        break;
    case LogitsDtype::kBFloat16:
        launchPackedArgmax<LogitsDtype::kBFloat16>(
            logits, numRows, V, rowOffsets, genLengths, bs, numSlots, packedArgmax, stream);
        break;
    }
    return cudaGetLastError() == cudaSuccess ? kOk : kCudaError;
}
