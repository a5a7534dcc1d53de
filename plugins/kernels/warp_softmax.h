// Warped softmax: the target's sampling distribution after every real packed token.
//
// Oracle: trtllm_redrafter/runtime/sampling.py, per row b and real slot p:
//   torch.softmax(warp_logits(logits[b, p].float(), 1 / inverted_temperature[b], top_k, top_p), -1)
// i.e. HF's warps in HF's order (temperature, then top-k, then top-p); masked tokens get 0.
//
// Inputs:
//   logits                [bs, num_slots, V]  float32 / float16 / bfloat16 (LogitsDtype); row (b, p)
//                                             holds the target's logits after packed token p
//   inverted_temperature  [bs] or [1]         float32 / float16 / bfloat16: 1 / temperature per row
//                                             (TensorRT-LLM's redrafter_inverted_temperature); a
//                                             length of 1 applies one value to every row. Finite, > 0.
//   gen_lengths           int32 [bs]          real packed slots per row (clamped to [0, num_slots])
// Attributes:
//   top_k  int32 >= 0       0, or >= V: off
//   top_p  float in (0, 1]  1: off
// Output:
//   probs  float32 [bs, num_slots, V]  the warped distribution of row (b, p) for p < gen_lengths[b];
//                                      zeros in padding slots
//
// Semantics (y_v = logit_v * inverted_temperature, a float32 multiply):
//   * top-k keeps every token whose y is >= the k-th largest y, counted with multiplicity. This is
//     HF's rule (`logits < topk(...).values[..., -1]` is masked): tokens tied with the k-th are all
//     kept, so the kept set equals the reference's even with ties. The value comparison treats
//     -0.0 and +0.0 as equal.
//   * top-p, over the tokens top-k kept, with masses e_v = exp(y_v - max y): token v is dropped when
//     the mass of all kept tokens with y <= y_v (v's whole tie group included) is <= (1 - top_p) times
//     the total mass, with 1 - top_p rounded to float32 as the reference compares it. The token(s)
//     with the largest y are never dropped. Without a tie at the cut this is HF's rule (sort
//     ascending, drop while the cumulative probability is <= 1 - top_p, keep the last). When the cut
//     falls inside a group of equal y, HF drops a part of the group that depends on the sort order;
//     this kernel keeps the whole group.
//   * probs_v = e_v / Z over the kept tokens, 0 elsewhere.
// Precision: the reference divides by the temperature (y differs by float rounding) and uses its
// own exp and summation order, so probabilities agree to float rounding (the tests use rtol 1e-5),
// and the top-p cut can differ only when the cumulative probability at the cut is within about
// 1e-6 of 1 - top_p. Masses are summed in fixed point (uint64, units of 2^-42), which is exact and
// order independent, so the output does not depend on the thread count or the reduction order.
// V must be < 2^22 (the fixed-point total must fit 64 bits): kTooLarge otherwise. Logits must be
// finite or -inf, with at least one finite value per real row (else the row is NaN, as in torch).
//
// Launch: one block of kWarpSoftmaxBlock threads per (slot, row); padding slots write zeros and
// exit. Thread t handles v = t, t + blockDim, ... in every pass; it rewrites only its own elements
// of probs, so the passes need no synchronisation on probs:
//   1. m = max y                                           warpThreadMax, block max
//   2. top-k (when on): 4 radix-select passes, 8 bits each, over warpOrderedKey(y), counting keys
//      that carry the prefix so far (radixDigit, shared histogram, radixSelectLargest)
//   3. probs_v = e_v (0 when top-k dropped v); Z = sum of warpFixedMass(e_v)
//   4. top-p (when on): 4 radix passes over the key with fixed-point masses (radixSelectMass) find the
//      smallest key whose cumulative mass exceeds warpTopPThreshold; Z is summed again over the kept
//   5. probs_v = kept ? e_v * float(2^42 / Z) : 0
#pragma once

#include "packed_argmax.h"

#include <cmath>

namespace redrafter
{

constexpr int32_t kWarpSoftmaxBlock = 256;
constexpr int32_t kRadixBins = 256;
constexpr int32_t kRadixPasses = 4;
constexpr int32_t kMaxWarpVocab = 1 << 22;         // exclusive
constexpr double kMassScale = 4398046511104.0;     // 2^42: fixed-point unit of the masses

RD_HD bool warpTopKActive(int32_t topK, int32_t V)
{
    return topK > 0 && topK < V;
}

RD_HD bool warpTopPActive(float topP)
{
    return topP < 1.0f;
}

// The attributes' valid ranges: top_k >= 0, 0 < top_p <= 1 (NaN rejected).
RD_HD bool warpAttributesValid(int32_t topK, float topP)
{
    return topK >= 0 && topP > 0.0f && topP <= 1.0f;
}

// 1 / temperature of `row`: element `row` of the input, or element 0 when it holds one value.
RD_HD float warpInverseTemperature(void const* invTemperature, int32_t dtype, int32_t count, int32_t row)
{
    return decodeElementAt(invTemperature, dtype, count == 1 ? 0 : static_cast<size_t>(row));
}

// y_v = logit_v * inverted temperature (one float32 rounding, as on the device).
template <LogitsDtype D>
RD_HD float warpScaledLogit(unsigned char const* row, int32_t v, float invT)
{
    return mulRn(LogitsTraits<D>::decode(loadElementBits<LogitsTraits<D>::kBytes>(row, v)), invT);
}

// Order-preserving unsigned key of a float: a < b as floats iff key(a) < key(b); -0.0 and +0.0
// share one key (they are equal values).
RD_HD uint32_t warpOrderedKey(float y)
{
    uint32_t const bits = floatToBits(y == 0.0f ? 0.0f : y);
    return (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
}

RD_HD float warpMaxCombine(float a, float b)
{
    return b > a ? b : a;
}

// Pass 1, one thread: the largest y of elements v = tid, tid + threads, ...
template <LogitsDtype D>
RD_HD float warpThreadMax(unsigned char const* row, int32_t V, float invT, int32_t tid, int32_t threads)
{
    float best = bitsToFloat(0xFF800000u); // -inf
    for (int32_t v = tid; v < V; v += threads)
    {
        best = warpMaxCombine(best, warpScaledLogit<D>(row, v, invT));
    }
    return best;
}

// Radix pass `pass` (0 = most significant byte): the key's digit when its higher bytes equal
// `prefix`'s, else -1 (the key is outside the range still being searched).
RD_HD int32_t radixDigit(uint32_t key, uint32_t prefix, int32_t pass)
{
    int32_t const shift = 24 - 8 * pass;
    uint32_t const higher = pass == 0 ? 0u : (0xFFFFFFFFu << (shift + 8));
    return (key & higher) == (prefix & higher) ? static_cast<int32_t>((key >> shift) & 0xFFu) : -1;
}

RD_HD uint32_t radixWithDigit(uint32_t prefix, int32_t pass, int32_t digit)
{
    return prefix | (static_cast<uint32_t>(digit) << (24 - 8 * pass));
}

// Top-k step: scanning the bins from the top, the digit holding the `remaining`-th largest key of
// this range; `remaining` drops by the keys in the bins above it. After the 4 passes the prefix is
// the k-th largest key.
RD_HD int32_t radixSelectLargest(int32_t const* counts, int32_t& remaining)
{
    for (int32_t d = kRadixBins - 1; d > 0; --d)
    {
        if (counts[d] >= remaining)
        {
            return d;
        }
        remaining -= counts[d];
    }
    return 0;
}

// Top-p step: scanning the bins from the bottom, the first digit whose cumulative mass (with
// `below`, the mass of the keys under this range) exceeds `threshold`; `below` grows by the bins
// before it. -1 when the whole range stays <= threshold (only possible in pass 0: then every token
// but the largest would be dropped, and the largest are kept).
// The scan itself, over bins read through massAt(d) (any storage of the 64-bit bins).
template <typename MassAt>
RD_HD int32_t radixSelectMassBy(MassAt&& massAt, uint64_t threshold, uint64_t& below)
{
    for (int32_t d = 0; d < kRadixBins; ++d)
    {
        uint64_t const mass = massAt(d);
        if (below + mass > threshold)
        {
            return d;
        }
        below += mass;
    }
    return -1;
}

template <typename Mass> // uint64_t (host) or unsigned long long (device atomics)
RD_HD int32_t radixSelectMass(Mass const* masses, uint64_t threshold, uint64_t& below)
{
    return radixSelectMassBy([&](int32_t d) { return static_cast<uint64_t>(masses[d]); }, threshold, below);
}

// e_v = exp(y_v - m) for a kept token, 0 otherwise.
RD_HD float warpMass(float y, float maxY, bool kept)
{
    if (!kept)
    {
        return 0.0f;
    }
#if defined(__CUDA_ARCH__)
    return expf(subRn(y, maxY));
#else
    return std::exp(y - maxY);
#endif
}

// e in [0, 1] in fixed point (units of 2^-42, rounded to nearest): sums of V < 2^22 of them fit 64 bits.
RD_HD uint64_t warpFixedMass(float e)
{
    return static_cast<uint64_t>(static_cast<double>(e) * kMassScale + 0.5);
}

// Largest cumulative mass that top-p drops: floor((1 - top_p) * total), with 1 - top_p rounded to
// float32 first (the reference compares float32 cumulative probabilities with it).
RD_HD uint64_t warpTopPThreshold(float topP, uint64_t total)
{
    float const cut = static_cast<float>(1.0 - static_cast<double>(topP));
    return static_cast<uint64_t>(static_cast<double>(cut) * static_cast<double>(total));
}

// 1 / Z as the float factor applied to every kept e_v (Z >= 2^42: the largest token has e = 1).
RD_HD float warpInverseTotal(uint64_t total)
{
    return static_cast<float>(kMassScale / static_cast<double>(total));
}

} // namespace redrafter

#if defined(__CUDACC__) || defined(REDRAFTER_DECLARE_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>

extern "C"
{
    // Device launcher: grid (num_slots, bs) of kWarpSoftmaxBlock threads on `stream`; device
    // pointers. temperatureCount is bs or 1. Returns a redrafter::Status (kBadArgument for top_k < 0,
    // top_p outside (0, 1], or temperatureCount not in {1, bs}).
    RD_API int32_t redrafterWarpSoftmax(void const* logits, int32_t logitsDtype, void const* invTemperature,
        int32_t temperatureDtype, int32_t temperatureCount, int32_t const* genLengths, int32_t bs, int32_t numSlots,
        int32_t V, int32_t topK, float topP, float* probs, cudaStream_t stream);
}
#endif
