// Packed argmax: the target's greedy choice after every real packed token.
//
// Oracle: `logits.argmax(-1)` of torch on CPU, restricted to real slots (trtllm_redrafter/runtime/accept.py
// takes it as `packed_argmax`).
//
// Inputs (the flat form: every row of one engine step, no copy into a padded tensor):
//   logits       [R, V]  float32, float16 or bfloat16 (LogitsDtype), contiguous: R rows of V logits
//                        (context rows first, then each generation request's packed tree rows)
//   row_offsets  int32 [bs]  flat row of request b's packed slot 0
//   gen_lengths  int32 [bs]  real packed slots of request b; clamped to [0, num_slots]
// Output:
//   packed_argmax int32 [bs, num_slots]  argmax over V of logits[row_offsets[b] + p] at every real
//                                        slot; -1 elsewhere (never read as a token)
//
// Slot p of request b is real when p < clamp(gen_lengths[b], 0, num_slots) and its row
// row_offsets[b] + p lies in [0, R) (packedSlotRow); a row outside [0, R) is never read. num_slots
// is the packed capacity n_cap, or any width >= every gen length. The padded form [bs, S, V] is the
// flat form with R = bs * S, row_offsets[b] = b * S and num_slots = S.
//
// Argmax semantics (those of torch.argmax on CPU): the largest value; among equal values the
// lowest vocabulary index (-0.0 == +0.0); NaN counts as larger than every number, so the first NaN
// wins. V >= 1.
//
// Launch: one block of kArgmaxBlock threads per (slot, request); slots that are not real exit at
// once. Each thread folds a strided part of the row (argmaxThreadPartial: 16-byte vector loads once
// the row pointer is aligned, scalar head and tail), then the block reduces the partials with
// argmaxCombine. Because argmaxCombine picks the maximum of a total order on (value, index), the
// result does not depend on the number of threads or the reduction order; the host launcher checks
// that with any count.
#pragma once

#include "../common/logits_dtype.h"

namespace redrafter
{

constexpr int32_t kArgmaxBlock = 256;
constexpr int32_t kArgmaxMaxRequests = 65535; // bs is the grid's y dimension: the launcher refuses more

struct ArgmaxPartial
{
    float value;
    int32_t index;
};

RD_HD bool isNan(float x)
{
    return x != x;
}

// Worse than every element: any real (value, index) with index < INT32_MAX beats it, -inf included.
RD_HD ArgmaxPartial argmaxIdentity()
{
    return ArgmaxPartial{bitsToFloat(0xFF800000u), 0x7FFFFFFF};
}

// True when a is the better argmax candidate: NaN first, then the larger value, then the lower index.
RD_HD bool argmaxPrecedes(ArgmaxPartial a, ArgmaxPartial b)
{
    bool const aNan = isNan(a.value);
    bool const bNan = isNan(b.value);
    if (aNan != bNan)
    {
        return aNan;
    }
    if (!aNan && a.value != b.value)
    {
        return a.value > b.value;
    }
    return a.index < b.index;
}

RD_HD ArgmaxPartial argmaxCombine(ArgmaxPartial a, ArgmaxPartial b)
{
    return argmaxPrecedes(b, a) ? b : a;
}

// argmaxCombine(best, {value, index}) for an index above every index folded into `best` so far (a
// thread visits its elements in increasing index order): equal values never replace `best`.
RD_HD ArgmaxPartial argmaxFoldNext(ArgmaxPartial best, float value, int32_t index)
{
    bool const replace = best.index == argmaxIdentity().index || value > best.value
        || (isNan(value) && !isNan(best.value));
    return replace ? ArgmaxPartial{value, index} : best;
}

RD_HD int32_t clampGenLength(int32_t genLength, int32_t numSlots)
{
    return genLength < 0 ? 0 : (genLength > numSlots ? numSlots : genLength);
}

// The flat row of slot p of a request (row_offsets[b] + p), or -1 when the slot is not real: p at or
// past the request's clamped gen length, or the row outside [0, numRows).
RD_HD int64_t packedSlotRow(int32_t rowOffset, int32_t genLength, int32_t numRows, int32_t numSlots, int32_t slot)
{
    int64_t const row = static_cast<int64_t>(rowOffset) + slot;
    bool const real = slot >= 0 && slot < clampGenLength(genLength, numSlots) && row >= 0 && row < numRows;
    return real ? row : -1;
}

// Raw bits of element v of a row (2 or 4 bytes, naturally aligned: one load of that width).
template <int32_t Bytes>
RD_HD uint32_t loadElementBits(unsigned char const* row, int32_t v)
{
    if (Bytes == 4)
    {
        return loadAligned32(row + static_cast<size_t>(v) * 4);
    }
    return loadAligned16(row + static_cast<size_t>(v) * 2);
}

// 16 aligned bytes as four little-endian 32-bit words.
RD_HD void load16Bytes(unsigned char const* p, uint32_t words[4])
{
#if defined(__CUDA_ARCH__)
    uint4 const q = __ldg(reinterpret_cast<uint4 const*>(p));
    words[0] = q.x;
    words[1] = q.y;
    words[2] = q.z;
    words[3] = q.w;
#else
    std::memcpy(words, p, 16);
#endif
}

// Fold of thread `tid` (of `threads`) over one row of V elements: elements before the first
// 16-byte boundary (head) and after the last full vector (tail) one by one, the vectors between
// them 16 bytes at a time. Vectors and scalars are dealt to threads round-robin; each thread meets
// its elements in increasing index order (head, vectors, tail), which argmaxFoldNext relies on.
// The row must be aligned to its element size (torch and TensorRT allocations are).
template <LogitsDtype D>
RD_HD ArgmaxPartial argmaxThreadPartial(unsigned char const* row, int32_t V, int32_t tid, int32_t threads)
{
    using Traits = LogitsTraits<D>;
    constexpr int32_t kBytes = Traits::kBytes;
    constexpr int32_t kPerVector = 16 / kBytes;
    int32_t const misalignment = static_cast<int32_t>(reinterpret_cast<uintptr_t>(row) % 16);
    int32_t head = ((16 - misalignment) % 16) / kBytes;
    head = head < V ? head : V;
    int32_t const vectors = (V - head) / kPerVector;
    int32_t const tailStart = head + vectors * kPerVector;

    ArgmaxPartial best = argmaxIdentity();
    for (int32_t v = tid; v < head; v += threads)
    {
        best = argmaxFoldNext(best, Traits::decode(loadElementBits<kBytes>(row, v)), v);
    }
#if defined(__CUDA_ARCH__)
#pragma unroll 4
#endif
    for (int32_t c = tid; c < vectors; c += threads)
    {
        int32_t const first = head + c * kPerVector;
        uint32_t words[4];
        load16Bytes(row + static_cast<size_t>(first) * kBytes, words);
        for (int32_t e = 0; e < kPerVector; ++e)
        {
            uint32_t const raw
                = kBytes == 4 ? words[e] : (words[e / 2] >> (16 * (e % 2))) & 0xFFFFu; // little endian
            best = argmaxFoldNext(best, Traits::decode(raw), first + e);
        }
    }
    for (int32_t v = tailStart + tid; v < V; v += threads)
    {
        best = argmaxFoldNext(best, Traits::decode(loadElementBits<kBytes>(row, v)), v);
    }
    return best;
}

// Bytes per logits element of a (known) dtype.
RD_HD int32_t logitsElementBytes(int32_t dtype)
{
    return dtype == static_cast<int32_t>(LogitsDtype::kFloat32) ? 4 : 2;
}

} // namespace redrafter

#if defined(__CUDACC__) || defined(REDRAFTER_DECLARE_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>

extern "C"
{
    // Device launcher: grid (num_slots, bs) of kArgmaxBlock threads on `stream`; device pointers.
    // numRows (R) may be 0 (then every slot is -1 and logits is not read).
    RD_API int32_t redrafterPackedArgmax(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
        int32_t const* rowOffsets, int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t* packedArgmax,
        cudaStream_t stream);
}
#endif
