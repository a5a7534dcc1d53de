// Greedy acceptance: the longest beam prefix that matches the target's own argmax chain.
//
// Oracle: trtllm_redrafter/runtime/accept.py
//   accept_greedy(logits.argmax(-1), draft_tokens, draft_indices)   on padded logits [bs, n, V]
// (docs/tree_attention.md, section 3; TensorRT-LLM's explicit-draft-tokens output names).
//
// Inputs (the flat form of packed_argmax.h: the engine step's logits as they are, no padded copy):
//   logits        [R, V]  float32 / float16 / bfloat16: every row of the step, flat (context rows
//                         first, then each generation request's packed tree rows)
//   row_offsets   int32 [bs]          flat row of request b's packed slot 0: slot j of request b is
//                                     logits[row_offsets[b] + j]
//   draft_tokens  int32 [bs, nb, bl]  the beams that were packed
//   draft_indices int32 [bs, nb, bl]  pack_beams' draft_indices
//   gen_lengths   int32 [bs]          pack_beams' gen_lengths (clamped to [0, num_slots])
// num_slots is the width of the argmax workspace: n_cap = nb * (bl - 1) + 1 (the TensorRT plugin),
// or any width >= every gen length. The padded form [bs, S, V] is R = bs * S, row_offsets[b] = b * S,
// num_slots = S.
// Outputs (int32):
//   num_accepted_tokens [bs]      accepted drafts + 1 (the bonus token), 1..bl
//   accepted_beam_index [bs]      first beam with the longest accepted prefix
//   next_token          [bs]      the bonus: target argmax after the last accepted token
//   hidden_index        [bs]      packed slot of the last accepted token
//   path_indices        [bs, bl]  draft_indices[b, best, :] (root first)
//   accepted_tokens     [bs, bl]  k < num-1: draft_tokens[b, best, k+1]; k == num-1: next_token;
//                                 k >= num: the reference's padding, draft_tokens[b, best, k+1] for
//                                 k < bl-1 and draft_tokens[b, best, 0] for k == bl-1
// Workspace: int32 [bs, num_slots] for the packed argmax (greedyAcceptWorkspaceBytes).
//
// A draft at depth j+1 of beam i is accepted while it equals the argmax at the packed slot of
// depth j: draft_tokens[b, i, j+1] == packed_argmax[b, draft_indices[b, i, j]]. Ties: the lowest
// vocabulary index (packed_argmax.h) and the lowest beam index.
//
// Slots that are not real read the argmax as -1: a draft index < 0 or >= the request's clamped gen
// length, and a slot whose flat row row_offsets[b] + j is outside [0, R) (the plugin's contract asks
// row_offsets[b] + gen_lengths[b] <= R; a row past it is never read). Such a position never matches
// a (non-negative) draft token, and if it is the last accepted position next_token is -1. Valid
// pack_beams outputs and offsets never hit this.
//
// Launch: packed_argmax.h's kernel into the workspace, then one block per request: each thread
// folds beams i = tid, tid + blockDim, ... with greedyBetterBeam, the block reduces, and threads
// write the request's outputs (greedyAcceptedTokenAt). The host launcher runs the same functions in
// loops.
#pragma once

#include "packed_argmax.h"

namespace redrafter
{

constexpr int32_t kAcceptBlock = 128;

// Bytes of workspace the device launcher needs (the packed argmax), rounded up to 256.
RD_HD size_t greedyAcceptWorkspaceBytes(int32_t bs, int32_t numSlots)
{
    size_t const bytes = static_cast<size_t>(bs) * static_cast<size_t>(numSlots) * sizeof(int32_t);
    return (bytes + 255) / 256 * 256;
}

// The target's argmax at packed slot `packedIndex`, or -1 when the slot is not a real slot.
RD_HD int32_t greedyPrediction(int32_t const* argmaxRow, int32_t genLength, int32_t packedIndex)
{
    return (packedIndex >= 0 && packedIndex < genLength) ? argmaxRow[packedIndex] : -1;
}

// 1 + number of leading drafts of beam i equal to the target's chain (1..bl).
RD_HD int32_t greedyAcceptLength(int32_t const* tokens, int32_t const* indices, int32_t const* argmaxRow,
    int32_t genLength, int32_t bl, int32_t i)
{
    int32_t const* beamTokens = tokens + i * bl;
    int32_t const* beamIndices = indices + i * bl;
    int32_t length = 1;
    while (length < bl && beamTokens[length] == greedyPrediction(argmaxRow, genLength, beamIndices[length - 1]))
    {
        ++length;
    }
    return length;
}

struct BeamChoice
{
    int32_t length;
    int32_t beam;
};

// Loses to every real beam (length >= 1).
RD_HD BeamChoice greedyNoBeam()
{
    return BeamChoice{0, 0x7FFFFFFF};
}

// The longer accepted prefix; on equal lengths the lower beam index.
RD_HD BeamChoice greedyBetterBeam(BeamChoice a, BeamChoice b)
{
    if (a.length != b.length)
    {
        return a.length > b.length ? a : b;
    }
    return a.beam <= b.beam ? a : b;
}

// accepted_tokens[b, k] of the chosen beam (see the contract above).
RD_HD int32_t greedyAcceptedTokenAt(int32_t const* beamTokens, int32_t bl, int32_t num, int32_t nextToken, int32_t k)
{
    if (k == num - 1)
    {
        return nextToken;
    }
    return k < bl - 1 ? beamTokens[k + 1] : beamTokens[0];
}

} // namespace redrafter

#if defined(__CUDACC__) || defined(REDRAFTER_DECLARE_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>

extern "C"
{
    // Device launcher: packed argmax into `workspace`, then one block per request. All pointers are
    // device memory; runs on `stream`. `workspaceBytes` is the workspace's size: less than
    // greedyAcceptWorkspaceBytes(bs, numSlots) returns kTooLarge and launches nothing. Returns a
    // redrafter::Status.
    RD_API int32_t redrafterGreedyAccept(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
        int32_t const* rowOffsets, int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths,
        int32_t bs, int32_t numSlots, int32_t nb, int32_t bl, void* workspace, size_t workspaceBytes,
        int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
        int32_t* pathIndices, int32_t* acceptedTokens, cudaStream_t stream);

    // greedyAcceptWorkspaceBytes, for callers without the C++ header (ctypes).
    RD_API size_t redrafterGreedyAcceptWorkspaceSize(int32_t bs, int32_t numSlots);
}
#endif
