// Logits element types and their bit-exact decoding to float.
//
// The acceptance kernels read logits as raw bytes and decode each element with these functions on
// host and device alike. float16 and bfloat16 values are exactly representable in float32, so
// comparing the decoded floats orders elements exactly as comparing the originals would, and the
// host library can check fp16/bf16 behaviour against torch on a CPU.
#pragma once

#include "host_device.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#endif

namespace redrafter
{

// Values match the `dtype` argument of the C launchers (and plugins/build_libs.py, tests).
enum class LogitsDtype : int32_t
{
    kFloat32 = 0,
    kFloat16 = 1,
    kBFloat16 = 2,
};

RD_HD bool isKnownDtype(int32_t dtype)
{
    return dtype >= 0 && dtype <= 2;
}

// IEEE binary16 bits -> float, exact for every input (subnormals, infinities; NaN stays NaN). On the
// device the hardware conversion (also exact) does it; the host path is checked against torch for
// all 65536 bit patterns (tests/test_plugins_host.py).
RD_HD float halfBitsToFloat(uint16_t h)
{
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));
#else
    uint32_t const sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t const exponent = (h >> 10) & 0x1Fu;
    uint32_t const mantissa = h & 0x3FFu;
    if (exponent == 0)
    {
        // zero or subnormal: mantissa * 2^-24, exact in float (2^-24 is a power of two)
        float const magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 0x1F)
    {
        return bitsToFloat(sign | 0x7F800000u | (mantissa << 13)); // inf or NaN
    }
    return bitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13)); // rebias 15 -> 127
#endif
}

// bfloat16 bits are the upper half of a float32.
RD_HD float bfloat16BitsToFloat(uint16_t b)
{
    return bitsToFloat(static_cast<uint32_t>(b) << 16);
}

// Element traits: size in bytes and decoding from a (possibly unaligned) byte pointer.
template <LogitsDtype D>
struct LogitsTraits;

template <>
struct LogitsTraits<LogitsDtype::kFloat32>
{
    static constexpr int32_t kBytes = 4;

    RD_HD static float decode(uint32_t raw)
    {
        return bitsToFloat(raw);
    }
};

template <>
struct LogitsTraits<LogitsDtype::kFloat16>
{
    static constexpr int32_t kBytes = 2;

    RD_HD static float decode(uint32_t raw)
    {
        return halfBitsToFloat(static_cast<uint16_t>(raw));
    }
};

template <>
struct LogitsTraits<LogitsDtype::kBFloat16>
{
    static constexpr int32_t kBytes = 2;

    RD_HD static float decode(uint32_t raw)
    {
        return bfloat16BitsToFloat(static_cast<uint16_t>(raw));
    }
};

// One naturally aligned 4- or 2-byte element. On the device a typed load (one LDG of that width;
// memcpy through bytes would compile to byte loads), on the host memcpy (no aliasing questions).
RD_HD uint32_t loadAligned32(unsigned char const* p)
{
#if defined(__CUDA_ARCH__)
    return *reinterpret_cast<uint32_t const*>(p);
#else
    uint32_t raw;
    std::memcpy(&raw, p, 4);
    return raw;
#endif
}

RD_HD uint16_t loadAligned16(unsigned char const* p)
{
#if defined(__CUDA_ARCH__)
    return *reinterpret_cast<uint16_t const*>(p);
#else
    uint16_t raw;
    std::memcpy(&raw, p, 2);
    return raw;
#endif
}

// Element `index` of a contiguous buffer of a known runtime `dtype` (LogitsDtype value), decoded to
// float exactly. For small per-row inputs (temperatures, uniforms) read one element at a time.
RD_HD float decodeElementAt(void const* base, int32_t dtype, size_t index)
{
    auto const* bytes = static_cast<unsigned char const*>(base);
    if (dtype == static_cast<int32_t>(LogitsDtype::kFloat32))
    {
        return bitsToFloat(loadAligned32(bytes + index * 4));
    }
    uint16_t const raw = loadAligned16(bytes + index * 2);
    return dtype == static_cast<int32_t>(LogitsDtype::kFloat16) ? halfBitsToFloat(raw) : bfloat16BitsToFloat(raw);
}

} // namespace redrafter
