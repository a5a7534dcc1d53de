// CUDA kernel for the warped softmax. Contract and per-element logic: warp_softmax.h.
#include "warp_softmax.h"

#include <cstddef>

namespace redrafter
{
namespace
{

constexpr int32_t kWarp = 32;
constexpr int32_t kWarps = kWarpSoftmaxBlock / kWarp;
constexpr int32_t kMaxGridY = 65535;

static_assert(kWarpSoftmaxBlock == kRadixBins, "one histogram bin per thread");
static_assert(kWarps <= kWarp, "one warp reduces the warps");

__device__ __forceinline__ float warpReduceMax(float x)
{
    for (int32_t offset = kWarp / 2; offset > 0; offset /= 2)
    {
        x = warpMaxCombine(x, __shfl_down_sync(0xFFFFFFFFu, x, offset));
    }
    return x;
}

__device__ __forceinline__ unsigned long long warpReduceSum(unsigned long long x)
{
    for (int32_t offset = kWarp / 2; offset > 0; offset /= 2)
    {
        x += __shfl_down_sync(0xFFFFFFFFu, x, offset);
    }
    return x;
}

// Block-wide max; every thread gets the result.
__device__ float blockMax(float x)
{
    __shared__ float partial[kWarps];
    __shared__ float result;
    int32_t const lane = threadIdx.x % kWarp;
    int32_t const warp = threadIdx.x / kWarp;
    x = warpReduceMax(x);
    if (lane == 0)
    {
        partial[warp] = x;
    }
    __syncthreads();
    if (warp == 0)
    {
        x = warpReduceMax(lane < kWarps ? partial[lane] : bitsToFloat(0xFF800000u));
        if (lane == 0)
        {
            result = x;
        }
    }
    __syncthreads();
    return result;
}

// Block-wide sum of fixed-point masses (exact integer arithmetic); every thread gets the result.
__device__ uint64_t blockSum(uint64_t x)
{
    __shared__ unsigned long long partial[kWarps];
    __shared__ unsigned long long result;
    int32_t const lane = threadIdx.x % kWarp;
    int32_t const warp = threadIdx.x / kWarp;
    unsigned long long v = warpReduceSum(static_cast<unsigned long long>(x));
    if (lane == 0)
    {
        partial[warp] = v;
    }
    __syncthreads();
    if (warp == 0)
    {
        v = warpReduceSum(lane < kWarps ? partial[lane] : 0ull);
        if (lane == 0)
        {
            result = v;
        }
    }
    __syncthreads();
    return static_cast<uint64_t>(result);
}

template <LogitsDtype D>
__global__ void __launch_bounds__(kWarpSoftmaxBlock) warpSoftmaxKernel(unsigned char const* __restrict__ logits,
    void const* __restrict__ invTemperature, int32_t temperatureDtype, int32_t temperatureCount,
    int32_t const* __restrict__ genLengths, int32_t numSlots, int32_t V, int32_t topK, float topP,
    float* __restrict__ probs)
{
    __shared__ int32_t counts[kRadixBins];
    __shared__ unsigned long long masses[kRadixBins];
    __shared__ uint32_t sharedPrefix;
    __shared__ int32_t sharedStop;

    int32_t const slot = blockIdx.x;
    int32_t const row = blockIdx.y;
    int32_t const tid = threadIdx.x;
    int32_t const threads = blockDim.x;
    size_t const cell = static_cast<size_t>(row) * numSlots + slot;
    float* out = probs + cell * static_cast<size_t>(V);
    if (slot >= clampGenLength(genLengths[row], numSlots))
    {
        for (int32_t v = tid; v < V; v += threads)
        {
            out[v] = 0.0f;
        }
        return;
    }
    unsigned char const* rowBytes = logits + cell * static_cast<size_t>(V) * LogitsTraits<D>::kBytes;
    float const invT = warpInverseTemperature(invTemperature, temperatureDtype, temperatureCount, row);

    // 1. max
    float const maxY = blockMax(warpThreadMax<D>(rowBytes, V, invT, tid, threads));

    // 2. top-k: the k-th largest key, by radix select
    uint32_t keepFrom = 0;
    if (warpTopKActive(topK, V))
    {
        int32_t remaining = topK; // thread 0's copy is the one used
        uint32_t prefix = 0;
        for (int32_t pass = 0; pass < kRadixPasses; ++pass)
        {
            counts[tid] = 0;
            __syncthreads();
            for (int32_t v = tid; v < V; v += threads)
            {
                int32_t const d = radixDigit(warpOrderedKey(warpScaledLogit<D>(rowBytes, v, invT)), prefix, pass);
                if (d >= 0)
                {
                    atomicAdd(&counts[d], 1);
                }
            }
            __syncthreads();
            if (tid == 0)
            {
                sharedPrefix = radixWithDigit(prefix, pass, radixSelectLargest(counts, remaining));
            }
            __syncthreads();
            prefix = sharedPrefix;
        }
        keepFrom = prefix;
    }

    // 3. masses of the kept tokens, written to probs, and their fixed-point total
    uint64_t local = 0;
    for (int32_t v = tid; v < V; v += threads)
    {
        float const y = warpScaledLogit<D>(rowBytes, v, invT);
        float const e = warpMass(y, maxY, warpOrderedKey(y) >= keepFrom);
        out[v] = e;
        local += warpFixedMass(e);
    }
    uint64_t total = blockSum(local);

    // 4. top-p: the smallest key whose cumulative mass exceeds the threshold
    uint32_t pFrom = 0;
    if (warpTopPActive(topP))
    {
        uint64_t const threshold = warpTopPThreshold(topP, total);
        uint64_t below = 0; // thread 0's copy is the one used
        uint32_t prefix = 0;
        for (int32_t pass = 0; pass < kRadixPasses; ++pass)
        {
            masses[tid] = 0;
            __syncthreads();
            for (int32_t v = tid; v < V; v += threads)
            {
                float const e = out[v];
                if (e > 0.0f)
                {
                    int32_t const d
                        = radixDigit(warpOrderedKey(warpScaledLogit<D>(rowBytes, v, invT)), prefix, pass);
                    if (d >= 0)
                    {
                        atomicAdd(&masses[d], static_cast<unsigned long long>(warpFixedMass(e)));
                    }
                }
            }
            __syncthreads();
            if (tid == 0)
            {
                int32_t const d = radixSelectMass(masses, threshold, below);
                sharedStop = d < 0;
                sharedPrefix = d < 0 ? warpOrderedKey(maxY) : radixWithDigit(prefix, pass, d);
            }
            __syncthreads();
            prefix = sharedPrefix;
            if (sharedStop)
            {
                break;
            }
        }
        pFrom = prefix;
        local = 0;
        for (int32_t v = tid; v < V; v += threads)
        {
            if (warpOrderedKey(warpScaledLogit<D>(rowBytes, v, invT)) >= pFrom)
            {
                local += warpFixedMass(out[v]);
            }
        }
        total = blockSum(local);
    }

    // 5. normalise the kept tokens
    float const invTotal = warpInverseTotal(total);
    for (int32_t v = tid; v < V; v += threads)
    {
        bool const kept = pFrom == 0 || warpOrderedKey(warpScaledLogit<D>(rowBytes, v, invT)) >= pFrom;
        out[v] = kept ? mulRn(out[v], invTotal) : 0.0f;
    }
}

template <LogitsDtype D>
void launchWarpSoftmax(void const* logits, void const* invTemperature, int32_t temperatureDtype,
    int32_t temperatureCount, int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t V, int32_t topK,
    float topP, float* probs, cudaStream_t stream)
{
    dim3 const grid(numSlots, bs);
    warpSoftmaxKernel<D><<<grid, kWarpSoftmaxBlock, 0, stream>>>(static_cast<unsigned char const*>(logits),
        invTemperature, temperatureDtype, temperatureCount, genLengths, numSlots, V, topK, topP, probs);
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterWarpSoftmax(void const* logits, int32_t logitsDtype, void const* invTemperature,
    int32_t temperatureDtype, int32_t temperatureCount, int32_t const* genLengths, int32_t bs, int32_t numSlots,
    int32_t V, int32_t topK, float topP, float* probs, cudaStream_t stream)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1)
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
    if (V >= kMaxWarpVocab || bs > kMaxGridY)
    {
        return kTooLarge;
    }
    switch (static_cast<LogitsDtype>(logitsDtype))
    {
    case LogitsDtype::kFloat32:
        launchWarpSoftmax<LogitsDtype::kFloat32>(logits, invTemperature, temperatureDtype, temperatureCount,
            genLengths, bs, numSlots, V, topK, topP, probs, stream);
        break;
    case LogitsDtype::kFloat16:
        launchWarpSoftmax<LogitsDtype::kFloat16>(logits, invTemperature, temperatureDtype, temperatureCount,
            genLengths, bs, numSlots, V, topK, topP, probs, stream);
        break;
    case LogitsDtype::kBFloat16:
        launchWarpSoftmax<LogitsDtype::kBFloat16>(logits, invTemperature, temperatureDtype, temperatureCount,
            genLengths, bs, numSlots, V, topK, topP, probs, stream);
        break;
    }
    return cudaGetLastError() == cudaSuccess ? kOk : kCudaError;
}
