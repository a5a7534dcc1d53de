// Shared by every kernel header: the `RD_HD` qualifier and the fixed capacities of one row.
//
// Core functions are marked RD_HD. Under nvcc they are `__host__ __device__`, so the CUDA kernels
// (plugins/kernels/*.cu) and the plain C++ host launchers (plugins/host/*.cpp, built with g++)
// run the very same per-element code. The host build is what CI tests against the PyTorch
// reference; the device build is compile-checked in CI and run by tests/gpu/check_kernels.sh.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define RD_HD __host__ __device__ __forceinline__
#else
#define RD_HD inline
#endif

// Exported C entry points (the libraries are built with -fvisibility=hidden).
#define RD_API __attribute__((visibility("default")))

namespace redrafter
{

// A beam's tail past its own length (trtllm_redrafter/runtime/tree.py PAD): opens no tree node,
// is no child, never matches a token. Only the reference's lookup beam produces it.
constexpr int32_t kPadToken = -1;

// Packed tokens per row for `nb` beams of length `bl` that share their root (column 0):
// the root plus every drafted token, n_cap = nb * (bl - 1) + 1.
RD_HD int32_t packedCapacity(int32_t nb, int32_t bl)
{
    return nb * (bl - 1) + 1;
}

// int32 words per row of the bit-packed mask over `n` packed tokens: ceil(n / 32).
RD_HD int32_t maskWords(int32_t n)
{
    return (n + 31) / 32;
}

// Reinterpret the bits of an unsigned integer as float (bit-exact on host and device).
RD_HD float bitsToFloat(uint32_t bits)
{
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

// The bits of a float as an unsigned integer (inverse of bitsToFloat).
RD_HD uint32_t floatToBits(float f)
{
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
#endif
}

// Round-to-nearest float operations that nvcc never contracts into an FMA, so the device rounds
// every step exactly as the host (g++, -std=c++17: no contraction) and the PyTorch reference do.
RD_HD float mulRn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

RD_HD float subRn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

// Status codes of the launchers (host and device). 0 is success.
enum Status : int32_t
{
    kOk = 0,
    kBadShape = 1,        // a size is < 1 (bs, nb, bl, n_cap, V)
    kBadDtype = 2,        // unknown logits dtype
    kTooLarge = 3,        // the row does not fit the kernel's shared memory / int32 indexing
    kCudaError = 4,       // a CUDA launch failed (device launchers only)
    kBadArgument = 5,     // a value argument is out of range (top_k < 0, top_p outside (0, 1], ...)
};

} // namespace redrafter
