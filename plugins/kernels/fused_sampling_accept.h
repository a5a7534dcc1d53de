// Fused sampling acceptance: warp_softmax + sampling_accept in one kernel, reading only the logits
// rows the tree walk visits, with no [bs, num_slots, V] probability tensor.
//
// Oracle: trtllm_redrafter/runtime/sampling.py, on the probabilities of warp_softmax.h:
//   accept_sampling(softmax(warp_logits(logits[rows] / T, top_k, top_p)), draft_tokens, draft_indices,
//                   rand_validation, rand_sample)
//
// Inputs (the flat form of packed_argmax.h):
//   logits                [R, V]           float32 / float16 / bfloat16: every row of the engine step;
//                                          slot p of request b is row row_offsets[b] + p
//   row_offsets           int32 [bs]       flat row of request b's packed slot 0
//   inverted_temperature  [bs] or [1]      any LogitsDtype: 1 / temperature per request (one value for
//                                          all when its length is 1). Finite, > 0
//   draft_tokens          int32 [bs, nb, bl]
//   draft_indices         int32 [bs, nb, bl]  pack_beams' draft_indices
//   gen_lengths           int32 [bs]       real packed slots; clamped to [0, num_slots] and to the
//                                          rows that exist (R - row_offsets[b])
//   rand_validation       [bs, nb, bl-1]   float32 / float16 / bfloat16 uniforms in [0, 1)
//   rand_sample           [bs]             the same dtype
// Attributes: top_k >= 0 (0 or >= V: off), top_p in (0, 1] (1: off), as warp_softmax.h.
// Outputs (int32): sampling_accept.h's six, with next_token the sampled token.
//
// What is bit-identical to warp_softmax + sampling_accept. At every node the walk visits, the
// kernel computes warp_softmax's max, top-k cut, top-p cut and fixed-point total Z with warp_softmax's
// own functions, so a child's probability p_x = kept(x) ? e_x * float(2^42 / Z) : 0 has the same bits
// as warp_softmax's output for that element. The acceptance tests are then sampling_accept's
// (samplingFirstAccepted), so num_accepted_tokens, accepted_beam_index, hidden_index, path_indices
// and the accepted drafts equal warp_softmax + sampling_accept exactly, and so equal the reference
// up to the rounding differences warp_softmax.h documents.
//
// The final sample is exact in integers instead of float32 cdf sums. Token v carries the mass
// m_v = kept(v) ? fixedMass(e_v) : 0 (units of 2^-42 of the largest token's mass, warpFixedMass);
// the residual drops the rejected children's tokens: M = Z - sum of their m (sampling_accept's
// fallback when M == 0: the node's own distribution, M = Z). With u = rand_sample,
//   T = min(floor(u * M), M - 1)     (u * M in double)
//   next_token = the first v whose cumulative mass sum_{w <= v} m_w exceeds T
// and u >= 1 (float16 / bfloat16 rounding can give 1.0) draws V-1, the reference's clamp. Every
// sum is an exact integer, so the token does not depend on the thread count or the order of the
// sums. It differs from the reference's float32 inverse CDF only where u * total lies within about
// 1e-7 of the total from a cdf value (float rounding of the reference's cdf, fixed-point rounding of
// m: <= 2^-43 per token), and in the fallback when the children held all but less than about 2^-42
// of the mass (the reference samples that tiny remainder; the kernel's M is 0). The host tests count
// such rows and assert they are rare (tests/test_plugins_fused_sampling.py).
//
// Outside the contract, memory-safe: a row offset or slot outside [0, R) is never read (a request
// with no real slot gives num_accepted_tokens 1, beam 0, next_token -1); a beam whose next slot is
// not real is no child; tokens outside [0, V) have probability 0.
//
// Launch: one block of kFusedBlock threads per request. Per visited node (at most bl), the row is
// read as units: a scalar head up to the first 16-byte boundary, 16-byte vectors, a scalar tail
// (fusedRowLayout). Passes over the row, threads taking units tid, tid + blockDim, ...:
//   1 max of y = logit * inverted_temperature; 4 top-k radix passes over warpOrderedKey(y) when
//   top-k is on (int32 shared atomics); 1 fixed-point mass sum Z; when top-p is on, 4 radix passes
//   over the masses (64-bit bins kept as two 32-bit atomics with a carry, fusedAddMass) and one sum
//   of the kept masses. Then the children's probabilities (nb lookups) and the accept test. At the
//   last node, the sample scans tiles of kFusedBlock * kFusedUnitsPerThread units (each thread
//   kFusedUnitsPerThread consecutive units), an exclusive block scan of the unit masses per tile,
//   and stops at the tile where the cumulative mass passes T; the thread holding it finds the token.
// Honest limits: one block per request (latency-bound at small bs); max and masses are separate
// passes (the second reads the row again, typically from L2); nothing has been timed on a GPU.
// Shared memory: static FusedShared plus fusedSharedBytes(nb) dynamic, at most 48 KiB together
// (fusedFitsSharedMemory). The host launcher runs the same functions in loops with any number of
// emulated threads.
#pragma once

#include "sampling_accept.h"
#include "warp_softmax.h"

namespace redrafter
{

constexpr int32_t kFusedBlock = 256;
constexpr int32_t kFusedUnitsPerThread = 4; // consecutive units per thread in one scan tile
constexpr int32_t kFusedMaxUnitElements = 8; // a 16-byte vector of 2-byte elements; head and tail hold fewer

// One logits row as units: unit 0 = the scalar head [0, head), units 1..vectors = 16-byte vectors,
// unit vectors + 1 = the scalar tail [tailStart, V). Head and tail may be empty.
struct FusedRowLayout
{
    int32_t head;
    int32_t vectors;
    int32_t tailStart;
    int32_t V;
};

template <LogitsDtype D>
RD_HD FusedRowLayout fusedRowLayout(unsigned char const* row, int32_t V)
{
    constexpr int32_t kBytes = LogitsTraits<D>::kBytes;
    constexpr int32_t kPerVector = 16 / kBytes;
    int32_t const misalignment = static_cast<int32_t>(reinterpret_cast<uintptr_t>(row) % 16);
    int32_t head = ((16 - misalignment) % 16) / kBytes;
    head = head < V ? head : V;
    int32_t const vectors = (V - head) / kPerVector;
    return FusedRowLayout{head, vectors, head + vectors * kPerVector, V};
}

RD_HD int32_t fusedUnitCount(FusedRowLayout layout)
{
    return layout.vectors + 2;
}

// First element of a unit.
template <LogitsDtype D>
RD_HD int32_t fusedUnitBegin(FusedRowLayout layout, int32_t unit)
{
    constexpr int32_t kPerVector = 16 / LogitsTraits<D>::kBytes;
    if (unit == 0)
    {
        return 0;
    }
    return unit <= layout.vectors ? layout.head + (unit - 1) * kPerVector : layout.tailStart;
}

// Decodes unit `unit` of the row into y[] (y = logit * invT, one float32 multiply); returns its
// element count (0..kFusedMaxUnitElements). Vector units are one 16-byte load.
template <LogitsDtype D>
RD_HD int32_t fusedLoadUnit(
    unsigned char const* row, FusedRowLayout layout, int32_t unit, float invT, float y[kFusedMaxUnitElements])
{
    using Traits = LogitsTraits<D>;
    constexpr int32_t kBytes = Traits::kBytes;
    constexpr int32_t kPerVector = 16 / kBytes;
    int32_t const begin = fusedUnitBegin<D>(layout, unit);
    if (unit >= 1 && unit <= layout.vectors)
    {
        uint32_t words[4];
        load16Bytes(row + static_cast<size_t>(begin) * kBytes, words);
        for (int32_t e = 0; e < kPerVector; ++e)
        {
            uint32_t const raw = kBytes == 4 ? words[e] : (words[e / 2] >> (16 * (e % 2))) & 0xFFFFu; // little endian
            y[e] = mulRn(Traits::decode(raw), invT);
        }
        return kPerVector;
    }
    int32_t const end = unit == 0 ? layout.head : layout.V;
    // fixed trip count, so that y stays in registers on the device (no dynamic indexing)
    for (int32_t e = 0; e < kFusedMaxUnitElements; ++e)
    {
        y[e] = begin + e < end ? warpScaledLogit<D>(row, begin + e, invT) : 0.0f;
    }
    return end - begin;
}

// f(v, y_v) for every element of the units tid, tid + threads, ... (each unit in index order).
template <LogitsDtype D, typename F>
RD_HD void fusedForEach(
    unsigned char const* row, FusedRowLayout layout, float invT, int32_t tid, int32_t threads, F&& f)
{
    int32_t const units = fusedUnitCount(layout);
    for (int32_t unit = tid; unit < units; unit += threads)
    {
        float y[kFusedMaxUnitElements];
        int32_t const count = fusedLoadUnit<D>(row, layout, unit, invT, y);
        int32_t const begin = fusedUnitBegin<D>(layout, unit);
        for (int32_t e = 0; e < kFusedMaxUnitElements; ++e)
        {
            if (e < count)
            {
                f(begin + e, y[e]);
            }
        }
    }
}

// What a node's distribution needs: max y, the combined cut (a token is kept iff
// warpOrderedKey(y) >= cut: the top-p cut when top-p is on, else the top-k cut, else 0), the
// fixed-point total Z of the kept masses and warp_softmax's factor float(2^42 / Z).
struct FusedNodeStats
{
    float maxY;
    uint32_t cut;
    uint64_t total;
    float invTotal;
};

// m_v: the fixed-point mass of a kept token, 0 otherwise (warp_softmax's warpFixedMass(probs_v before
// normalisation)).
RD_HD uint64_t fusedMass(float y, float maxY, uint32_t cut)
{
    return warpOrderedKey(y) >= cut ? warpFixedMass(warpMass(y, maxY, true)) : 0;
}

// The warped probability of a token with scaled logit y: warp_softmax's output element, bit for bit.
RD_HD float fusedProb(float y, FusedNodeStats const& stats)
{
    return warpOrderedKey(y) >= stats.cut ? mulRn(warpMass(y, stats.maxY, true), stats.invTotal) : 0.0f;
}

// The probability of `token` at the node (0 outside [0, V)).
template <LogitsDtype D>
RD_HD float fusedTokenProb(unsigned char const* row, int32_t V, float invT, int32_t token, FusedNodeStats const& stats)
{
    return (token >= 0 && token < V) ? fusedProb(warpScaledLogit<D>(row, token, invT), stats) : 0.0f;
}

// The mass left for the residual: Z minus the masses of the excluded tokens (sorted, distinct, in
// [0, V)). 0 when the children held all of it.
template <LogitsDtype D>
RD_HD uint64_t fusedResidualMass(unsigned char const* row, float invT, FusedNodeStats const& stats,
    int32_t const* excluded, int32_t numExcluded)
{
    uint64_t removed = 0;
    for (int32_t k = 0; k < numExcluded; ++k)
    {
        removed += fusedMass(warpScaledLogit<D>(row, excluded[k], invT), stats.maxY, stats.cut);
    }
    return removed < stats.total ? stats.total - removed : 0;
}

// T: the sample is the first token whose cumulative mass exceeds T. u >= 1 (or NaN) gives `mass`,
// which no cumulative mass exceeds: the reference's clamp to V-1.
RD_HD uint64_t fusedTarget(float u, uint64_t mass)
{
    if (!(u < 1.0f) || mass == 0)
    {
        return mass;
    }
    if (!(u > 0.0f))
    {
        return 0;
    }
    double const t = static_cast<double>(u) * static_cast<double>(mass);
    uint64_t const floorT = t >= 18446744073709551615.0 ? mass : static_cast<uint64_t>(t);
    return floorT < mass ? floorT : mass - 1;
}

// Sum of the unit's masses without the excluded tokens.
RD_HD uint64_t fusedUnitMass(float const* y, int32_t count, int32_t begin, float maxY, uint32_t cut,
    int32_t const* excluded, int32_t numExcluded)
{
    int32_t k = samplingLowerBound(excluded, numExcluded, begin);
    uint64_t sum = 0;
    for (int32_t e = 0; e < kFusedMaxUnitElements; ++e)
    {
        if (e >= count)
        {
            continue;
        }
        if (k < numExcluded && excluded[k] == begin + e)
        {
            ++k;
            continue;
        }
        sum += fusedMass(y[e], maxY, cut);
    }
    return sum;
}

// The first element of the unit whose cumulative mass (base = the mass before the unit) exceeds
// target, or -1.
RD_HD int32_t fusedUnitFind(float const* y, int32_t count, int32_t begin, float maxY, uint32_t cut,
    int32_t const* excluded, int32_t numExcluded, uint64_t base, uint64_t target)
{
    int32_t k = samplingLowerBound(excluded, numExcluded, begin);
    uint64_t cumulative = base;
    int32_t found = -1;
    for (int32_t e = 0; e < kFusedMaxUnitElements; ++e)
    {
        if (e >= count || found >= 0)
        {
            continue;
        }
        if (k < numExcluded && excluded[k] == begin + e)
        {
            ++k;
            continue; // no mass: never the first to exceed
        }
        cumulative += fusedMass(y[e], maxY, cut);
        found = cumulative > target ? begin + e : -1;
    }
    return found;
}

// The first unit of thread tid in scan tile `tile` (tiles of threads * kFusedUnitsPerThread units).
RD_HD int32_t fusedTileUnit(int32_t tile, int32_t threads, int32_t tid)
{
    return (tile * threads + tid) * kFusedUnitsPerThread;
}

// Real slots of a request in the flat form: gen_lengths clamped to num_slots and to the rows
// [row_offset, R) that exist; 0 when the offset is outside [0, R).
RD_HD int32_t fusedRealSlots(int32_t rowOffset, int32_t genLength, int32_t numRows, int32_t numSlots)
{
    if (rowOffset < 0 || rowOffset >= numRows)
    {
        return 0;
    }
    int32_t const clamped = clampGenLength(genLength, numSlots);
    int32_t const available = numRows - rowOffset;
    return clamped < available ? clamped : available;
}

// Top-p radix step over bins kept as 32-bit halves (the device's atomics): radixSelectMass on
// hi * 2^32 + lo.
RD_HD int32_t fusedSelectMassSplit(uint32_t const* lo, uint32_t const* hi, uint64_t threshold, uint64_t& below)
{
    return radixSelectMassBy(
        [&](int32_t d) { return (static_cast<uint64_t>(hi[d]) << 32) + lo[d]; }, threshold, below);
}

// Dynamic shared memory of one request: is-child flags (nb int32), child probabilities (nb float),
// the excluded tokens (nb int32).
RD_HD size_t fusedSharedBytes(int32_t nb)
{
    return static_cast<size_t>(nb) * 3 * sizeof(int32_t);
}

// The kernel's static shared memory, in one block-wide object.
struct FusedShared
{
    int32_t counts[kRadixBins];          // top-k histogram
    uint32_t massLo[kRadixBins];         // top-p histogram, low and high 32 bits
    uint32_t massHi[kRadixBins];
    unsigned long long warpSums[kFusedBlock / 32]; // block reductions and scans
    float warpMax[kFusedBlock / 32];
    unsigned long long scanBase;         // cumulative mass before the current tile
    unsigned long long target;           // T
    uint32_t prefix;                     // radix prefix so far
    int32_t stop;                        // top-p found its cut early
    int32_t node;                        // the walk's current node (packed slot)
    int32_t beam;
    int32_t depth;
    int32_t active;
    int32_t numExcluded;
    int32_t found;                       // the sampled token, -1 until found
};

// Static shared memory as ptxas reports it: FusedShared rounded up to 16 bytes.
RD_HD size_t fusedStaticSharedBytes()
{
    return (sizeof(FusedShared) + 15) / 16 * 16;
}

RD_HD bool fusedFitsSharedMemory(int32_t nb)
{
    return nb >= 1 && fusedStaticSharedBytes() + fusedSharedBytes(nb) <= kSampleMaxSharedBytes;
}

} // namespace redrafter

#if defined(__CUDACC__) || defined(REDRAFTER_DECLARE_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>

extern "C"
{
    // Device launcher: one block of kFusedBlock threads per request on `stream`; device pointers.
    // temperatureCount is bs or 1. No workspace. Returns a redrafter::Status: kBadArgument for
    // top_k < 0, top_p outside (0, 1] or temperatureCount not in {1, bs}; kTooLarge for V >= 2^22 or
    // unless fusedFitsSharedMemory(nb).
    RD_API int32_t redrafterFusedSamplingAccept(void const* logits, int32_t logitsDtype, int32_t numRows, int32_t V,
        int32_t const* rowOffsets, void const* invTemperature, int32_t temperatureDtype, int32_t temperatureCount,
        int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths, void const* randValidation,
        void const* randSample, int32_t randDtype, int32_t bs, int32_t numSlots, int32_t nb, int32_t bl, int32_t topK,
        float topP, int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
        int32_t* pathIndices, int32_t* acceptedTokens, cudaStream_t stream);
}
#endif
