// Sampling acceptance: exact speculative sampling over the beam tree (docs/sampling.md).
//
// Oracle: trtllm_redrafter/runtime/sampling.py
//   accept_sampling(probs, draft_tokens, draft_indices, rand_validation, rand_sample)
//
// Inputs:
//   probs            float32 [bs, num_slots, V]  warped target probabilities after every packed token
//                                               (warp_softmax.h); only the slots the walk visits are
//                                               read. Finite and >= 0; rows need not be normalised
//   draft_tokens     int32 [bs, nb, bl]          the beams that were packed
//   draft_indices    int32 [bs, nb, bl]          pack_beams' draft_indices
//   gen_lengths      int32 [bs]                  pack_beams' gen_lengths (clamped to [0, num_slots])
//   rand_validation  [bs, nb, bl-1]              float32 / float16 / bfloat16 uniforms in [0, 1):
//                                               rand_data_validation
//   rand_sample      [bs]                        the same dtype: rand_data_sample
// Outputs (int32): the greedy acceptance's (greedy_accept.h), with next_token the sampled token:
//   num_accepted_tokens [bs], accepted_beam_index [bs], next_token [bs], hidden_index [bs],
//   path_indices [bs, bl], accepted_tokens [bs, bl]
//
// The rule, per row, walking from node = slot 0 (the root) for depth j = 0, 1, ..., bl-2:
//   * The children of the node are the beams i with draft_indices[i, j] == node that are the first
//     beam with their slot draft_indices[i, j+1] (one per distinct child), in beam order. Child i
//     has token x_i = draft_tokens[i, j+1] and probability p_i = probs[node, x_i].
//   * Child i is accepted iff  u_i * (1 - prior_i) < p_i,  u_i = rand_validation[i, j], with the
//     reference's float32 operations: c_i = float32(sum of p over the children up to and including
//     i, accumulated in double in beam order: torch's CPU cumsum), prior_i = c_i - p_i.
//   * The first accepted child becomes the node (accepted_beam_index = its beam, the lowest beam
//     through it). If none is accepted, next_token is sampled from the residual: probs[node] with
//     the children's tokens zeroed, or probs[node] itself when that residual has no mass (the
//     children held all of it, up to rounding). The walk stops.
//   * At a leaf (all bl-1 drafts accepted), next_token is sampled from probs[node].
//   * Sampling is the reference's inverse CDF (sample_from): cdf_v = float32(sum_{w <= v} r_w in
//     double), target = u * cdf_{V-1} (float32, u = rand_sample), next_token = #{v : cdf_v <= target},
//     clamped to V-1. A zero-probability token is never drawn, except through that clamp (u == 1,
//     which float16 / bfloat16 rounding of a uniform can produce, or an all-zero row).
//   num_accepted_tokens = accepted drafts + 1; the other outputs as in greedy_accept.h.
//
// Exactness. Acceptance tests do the reference's operations in the reference's order, so they
// equal it bit for bit. The inverse-CDF sums run in parallel: thread t sums a contiguous chunk
// of the row in double (samplingChunkSum) and the chunk sums are prefixed in chunk order
// (samplingChunkPrefixes). This differs from the reference's sequential double sum only by double
// rounding (about 1e-16 relative), so a cdf value can move by one float ulp only where the double
// sum sits on a float rounding boundary, and the sampled token can differ only when the target lies
// within an ulp or so of a cdf value. The host tests accept a difference only for rows whose
// target is within 1e-5 (relative to the total) of a neighbouring cdf value, and assert such rows
// are rare (tests/test_plugins_sampling.py).
//
// Outside the contract, memory-safe: a beam whose next slot is outside [0, gen_length) is not a
// child; tokens outside [0, V) have probability 0; a row with gen_length < 1 gives
// num_accepted_tokens 1, beam 0 and next_token -1.
//
// Launch: one block of kSampleBlock threads per row. Per depth, threads test beams i = tid,
// tid + blockDim, ... (samplingIsChild, samplingTokenProb into shared memory), then thread 0 runs
// samplingFirstAccepted (a scan over at most nb children) and steps down, or collects the excluded
// tokens (samplingCollectExcluded). The final sample uses all threads: chunk sums, prefixes on
// thread 0, then each thread looks for the crossing in its chunk (samplingChunkFind) and the block
// takes the smallest index. Shared memory: SampleShared (static) and samplingSharedBytes(nb)
// (dynamic), together at most 48 KiB (samplingFitsSharedMemory). The host launcher runs the same
// functions in loops with any number of emulated threads (the device uses kSampleBlock).
#pragma once

#include "greedy_accept.h"

namespace redrafter
{

constexpr int32_t kSampleBlock = 256;

// Dynamic shared memory of one row: is-child flags (nb int32), child probabilities (nb float) and
// the excluded tokens (nb int32).
RD_HD size_t samplingSharedBytes(int32_t nb)
{
    return static_cast<size_t>(nb) * 3 * sizeof(int32_t);
}

// The kernel's static shared memory, all of it in one block-wide object: the block sample's scratch
// (chunk sums and prefixes, the total, one found index per warp, the result) and the walk's state.
struct SampleScratch
{
    double sums[kSampleBlock];
    double prefixes[kSampleBlock];
    double total;
    int32_t found[kSampleBlock / 32];
    int32_t result;
};

struct SampleShared
{
    SampleScratch scratch;
    int32_t node;        // the walk's current node (packed slot)
    int32_t beam;        // the beam that reached it
    int32_t depth;       // its depth
    int32_t active;      // 0 once every child of the node was rejected
    int32_t numExcluded; // tokens removed from the residual
};

// Static plus dynamic shared memory a block may take without the opt-in attribute
// (cudaFuncAttributeMaxDynamicSharedMemorySize): 48 KiB.
constexpr size_t kSampleMaxSharedBytes = 48 * 1024;

// The static shared memory as ptxas reports it (tests/test_plugins_build.py compares): SampleShared,
// rounded up to the 16-byte alignment of the dynamic array that follows it. 4176 bytes.
RD_HD size_t samplingStaticSharedBytes()
{
    return (sizeof(SampleShared) + 15) / 16 * 16;
}

// True when a block's static plus dynamic shared memory fits kSampleMaxSharedBytes: what the device
// launcher requires (kTooLarge otherwise) and what RedrafterSamplingAccept checks when it is
// configured. nb <= 3748.
RD_HD bool samplingFitsSharedMemory(int32_t nb)
{
    return nb >= 1 && samplingStaticSharedBytes() + samplingSharedBytes(nb) <= kSampleMaxSharedBytes;
}

// True when beam i is a child of `node` at depth j: it passes through the node, its next token is
// not PAD (kPadToken: the beam ended), its next slot is a real slot, and no earlier beam has that
// next slot (the reference's first_owner over all beams).
RD_HD bool samplingIsChild(int32_t const* tokens, int32_t const* indices, int32_t nb, int32_t bl, int32_t i,
    int32_t j, int32_t node, int32_t genLength)
{
    int32_t const* beam = indices + static_cast<size_t>(i) * bl;
    if (beam[j] != node || tokens[static_cast<size_t>(i) * bl + j + 1] == kPadToken)
    {
        return false;
    }
    int32_t const child = beam[j + 1];
    if (child < 0 || child >= genLength)
    {
        return false;
    }
    for (int32_t other = 0; other < i && other < nb; ++other)
    {
        if (indices[static_cast<size_t>(other) * bl + j + 1] == child)
        {
            return false;
        }
    }
    return true;
}

// probs[node, token], or 0 for a token outside [0, V).
RD_HD float samplingTokenProb(float const* nodeProbs, int32_t V, int32_t token)
{
    return (token >= 0 && token < V) ? nodeProbs[token] : 0.0f;
}

// The first child accepted at depth j (its beam), or -1 when every child is rejected. isChild and
// childProb are per beam; randRow points at the row's rand_validation [nb, bl-1] of `randDtype`.
RD_HD int32_t samplingFirstAccepted(int32_t const* isChild, float const* childProb, void const* randValidation,
    int32_t randDtype, size_t randRowOffset, int32_t nb, int32_t bl, int32_t j)
{
    double cumulative = 0.0; // torch's CPU cumsum: a double accumulator, each output rounded to float
    for (int32_t i = 0; i < nb; ++i)
    {
        if (!isChild[i])
        {
            continue; // p_x = 0: the accumulator does not change
        }
        float const p = childProb[i];
        cumulative += static_cast<double>(p);
        float const prior = subRn(static_cast<float>(cumulative), p);
        float const u = decodeElementAt(
            randValidation, randDtype, randRowOffset + static_cast<size_t>(i) * (bl - 1) + static_cast<size_t>(j));
        if (mulRn(u, subRn(1.0f, prior)) < p)
        {
            return i;
        }
    }
    return -1;
}

// The children's tokens inside [0, V), sorted ascending without repeats, into `excluded`; returns
// how many.
RD_HD int32_t samplingCollectExcluded(
    int32_t const* tokens, int32_t const* isChild, int32_t nb, int32_t bl, int32_t j, int32_t V, int32_t* excluded)
{
    int32_t count = 0;
    for (int32_t i = 0; i < nb; ++i)
    {
        int32_t const token = tokens[static_cast<size_t>(i) * bl + j + 1];
        if (!isChild[i] || token < 0 || token >= V)
        {
            continue;
        }
        int32_t k = count;
        while (k > 0 && excluded[k - 1] > token)
        {
            --k;
        }
        if (k > 0 && excluded[k - 1] == token)
        {
            continue;
        }
        for (int32_t m = count; m > k; --m)
        {
            excluded[m] = excluded[m - 1];
        }
        excluded[k] = token;
        ++count;
    }
    return count;
}

struct SampleChunk
{
    int32_t begin;
    int32_t end;
};

// Thread tid's contiguous chunk [begin, end) of a row of V, for `threads` threads.
RD_HD SampleChunk samplingChunk(int32_t V, int32_t threads, int32_t tid)
{
    int64_t const size = (static_cast<int64_t>(V) + threads - 1) / threads;
    int64_t const b = size * tid;
    return SampleChunk{static_cast<int32_t>(b < V ? b : V), static_cast<int32_t>(b + size < V ? b + size : V)};
}

// Index of the first excluded token >= v (excluded is sorted).
RD_HD int32_t samplingLowerBound(int32_t const* excluded, int32_t count, int32_t v)
{
    int32_t lo = 0;
    int32_t hi = count;
    while (lo < hi)
    {
        int32_t const mid = (lo + hi) / 2;
        if (excluded[mid] < v)
        {
            lo = mid + 1;
        }
        else
        {
            hi = mid;
        }
    }
    return lo;
}

// Sum of the chunk in double, in index order, excluded tokens counted as 0.
RD_HD double samplingChunkSum(
    float const* row, int32_t begin, int32_t end, int32_t const* excluded, int32_t numExcluded)
{
    int32_t k = samplingLowerBound(excluded, numExcluded, begin);
    double sum = 0.0;
    for (int32_t v = begin; v < end; ++v)
    {
        if (k < numExcluded && excluded[k] == v)
        {
            ++k;
            continue;
        }
        sum += static_cast<double>(row[v]);
    }
    return sum;
}

// Exclusive prefixes of the chunk sums in chunk order; returns the total (prefix + sum of the last).
RD_HD double samplingChunkPrefixes(double const* sums, int32_t threads, double* prefixes)
{
    double running = 0.0;
    for (int32_t t = 0; t < threads; ++t)
    {
        prefixes[t] = running;
        running += sums[t];
    }
    return running;
}

// u * cdf_{V-1}, in float32 as the reference computes it.
RD_HD float samplingTarget(float u, double total)
{
    return mulRn(u, static_cast<float>(total));
}

// The first v of the chunk with float(prefix + partial sum up to v) > target, or -1. The chunk's
// last cdf is float(prefix + chunkSum), so chunks that end at or below the target are skipped.
RD_HD int32_t samplingChunkFind(float const* row, int32_t begin, int32_t end, double prefix, double chunkSum,
    float target, int32_t const* excluded, int32_t numExcluded)
{
    if (static_cast<float>(prefix + chunkSum) <= target)
    {
        return -1;
    }
    int32_t k = samplingLowerBound(excluded, numExcluded, begin);
    double partial = 0.0;
    for (int32_t v = begin; v < end; ++v)
    {
        if (k < numExcluded && excluded[k] == v)
        {
            ++k;
            continue; // r_v = 0: the cdf does not move, so v is never the first to exceed
        }
        partial += static_cast<double>(row[v]);
        if (static_cast<float>(prefix + partial) > target)
        {
            return v;
        }
    }
    return -1;
}

// Smaller of two chunk results (-1 = none).
RD_HD int32_t samplingFirstFound(int32_t a, int32_t b)
{
    if (a < 0)
    {
        return b;
    }
    return (b < 0 || a < b) ? a : b;
}

// The sampled token: the first crossing, or V-1 when no cdf exceeds the target (the clamp).
RD_HD int32_t samplingFinishIndex(int32_t found, int32_t V)
{
    return found < 0 ? V - 1 : found;
}

} // namespace redrafter

#if defined(__CUDACC__) || defined(REDRAFTER_DECLARE_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>

extern "C"
{
    // Device launcher: one block of kSampleBlock threads per row on `stream`; device pointers;
    // randDtype is the LogitsDtype of rand_validation and rand_sample. No workspace. Returns a
    // redrafter::Status (kTooLarge unless samplingFitsSharedMemory(nb)).
    RD_API int32_t redrafterSamplingAccept(float const* probs, int32_t const* draftTokens,
        int32_t const* draftIndices, int32_t const* genLengths, void const* randValidation, void const* randSample,
        int32_t randDtype, int32_t bs, int32_t numSlots, int32_t V, int32_t nb, int32_t bl,
        int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
        int32_t* pathIndices, int32_t* acceptedTokens, cudaStream_t stream);
}
#endif
