// Beam packing: deduplicate `nb` beams of length `bl` into one prefix tree per batch row.
//
// Oracle: trtllm_redrafter/runtime/tree.py `pack_beams` (docs/tree_attention.md, section 1 and 2).
//
// Inputs (device or host memory, row-major, contiguous):
//   draft_tokens       int32 [bs, nb, bl]  beams; column 0 is the root, the same token in every beam
//   position_ids_base  int32 [bs]          position of the root in the sequence
// Outputs (n_cap = nb * (bl - 1) + 1, W = ceil(n_cap / 32)):
//   packed_tokens        int32 [bs, n_cap]     packed, deduplicated tokens
//   gen_lengths          int32 [bs]            real packed tokens in each row (1..n_cap)
//   draft_indices        int32 [bs, nb, bl]    packed slot of beam b's token at depth j
//   position_offsets     int32 [bs, n_cap]     depth of each packed token (root = 0)
//   packed_mask          int32 [bs, n_cap, W]  bit (q % 32) of word (q / 32) of row p set iff packed
//                                              token p may attend to packed token q (q is p or one
//                                              of its ancestors), least significant bit first
//   packed_position_ids  int32 [bs, n_cap]     position_ids_base[b] + position_offsets[b, p]
//
// Packing order (the reference's): beams in order, depths in order within a beam; a (beam, depth)
// opens a new slot unless an earlier beam has the same prefix up to that depth.
//
// Padding: every slot p >= gen_lengths[b] is a padding slot with token 0, offset 0, position id
// position_ids_base[b], and a mask row that has only its own bit (p) set. On the reference's n =
// max(gen_lengths) columns this is exactly the reference's padding. Slots in [n, n_cap) (beyond the
// reference's tensors) follow the same rule: the kernel is per row and does not know the batch
// maximum, and a mask row with no bit set would give attention an empty softmax. Mask words past
// ceil(n/32) are therefore zero in every row p < n, and hold only bit p in rows p >= n.
//
// Short beams: a token equal to kPadToken (-1, the reference's PAD) ends its beam; the rest of the
// beam must be PAD too (a beam's tail past its own length, as runtime/lookup.py writes a lookup beam
// shorter than bl). A PAD opens no slot and never matches another token; its draft_indices entry
// repeats the beam's last real slot, as the reference's. Engines never produce PAD.
//
// Precondition: column 0 is the same token in every beam of a row (beam search guarantees it). The
// kernel treats depth 0 as shared regardless: the root is beam 0's column 0, other beams' column 0
// is never read. This keeps gen_lengths <= n_cap (memory safe) for any input; the reference would
// instead open one slot per distinct root.
//
// Launch: one CUDA block per batch row; shared memory holds one row's scratch (see packScratchInts).
//
// Phases (each is a loop over independent items; the device kernel runs the items on threads and
// separates the phases with __syncthreads(); the host launcher runs the same functions in loops):
//   1. per beam i:          depth[i] = packSharedDepth(...)       leading depths shared with earlier beams
//   2. once:                gen_len  = packSegmentStarts(...)     start slot of each beam's new nodes
//   3. per beam i:          packBeamRow(...)                      draft_indices[i, :], slot -> node map
//   4. per slot p:          packed token / offset / position id   (packSlotDepth, packSlotToken)
//   5. per (slot p, word w): packMaskWord(...)
#pragma once

#include "../common/host_device.h"

namespace redrafter
{

// Scratch of one row, in int32 units: beams (nb*bl), depth (nb), start (nb), draft indices (nb*bl),
// node beam (n_cap), node depth (n_cap), gen length (1).
RD_HD int32_t packScratchInts(int32_t nb, int32_t bl)
{
    return 2 * nb * bl + 2 * nb + 2 * packedCapacity(nb, bl) + 1;
}

// Shared memory a block may take without the opt-in attribute (cudaFuncAttributeMaxDynamicSharedMemorySize):
// 48 KiB, static and dynamic together. The kernel has no static shared memory (checked against ptxas
// by tests/test_plugins_build.py), so the row's scratch alone must fit.
constexpr size_t kPackMaxSharedBytes = 48 * 1024;

// True when one row's scratch fits kPackMaxSharedBytes: what the device launcher requires (kTooLarge
// otherwise) and what RedrafterPackBeams checks when it is configured. About nb * bl <= 3000.
RD_HD bool packFitsSharedMemory(int32_t nb, int32_t bl)
{
    if (nb < 1 || bl < 1 || static_cast<int64_t>(nb) * bl > static_cast<int64_t>(kPackMaxSharedBytes))
    {
        return false; // (the second test also keeps packScratchInts' int32 arithmetic exact)
    }
    return static_cast<size_t>(packScratchInts(nb, bl)) * sizeof(int32_t) <= kPackMaxSharedBytes;
}

// Pointers into one row's scratch, laid out as packScratchInts describes.
struct PackScratch
{
    int32_t* beams;     // [nb * bl] copy of the row's draft tokens
    int32_t* depth;     // [nb] leading depths of beam i already opened by an earlier beam
    int32_t* start;     // [nb] first packed slot of beam i's new nodes
    int32_t* indices;   // [nb * bl] the row's draft_indices
    int32_t* nodeBeam;  // [n_cap] beam that opened packed slot p
    int32_t* nodeDepth; // [n_cap] depth of packed slot p
    int32_t* genLength; // [1]
};

RD_HD PackScratch packScratchLayout(int32_t* base, int32_t nb, int32_t bl)
{
    int32_t const nCap = packedCapacity(nb, bl);
    PackScratch s;
    s.beams = base;
    s.depth = s.beams + nb * bl;
    s.start = s.depth + nb;
    s.indices = s.start + nb;
    s.nodeBeam = s.indices + nb * bl;
    s.nodeDepth = s.nodeBeam + nCap;
    s.genLength = s.nodeDepth + nCap;
    return s;
}

// Length of the common prefix of beams a and b, depth 0 (the root) always counted as shared. A PAD
// ends the prefix (it is no token), so the result is at most either beam's real length.
RD_HD int32_t packCommonPrefix(int32_t const* beams, int32_t bl, int32_t a, int32_t b)
{
    int32_t const* ta = beams + a * bl;
    int32_t const* tb = beams + b * bl;
    int32_t length = 1;
    while (length < bl && ta[length] == tb[length] && ta[length] != kPadToken)
    {
        ++length;
    }
    return length;
}

// Real length of beam i: its depths before the first PAD (the root always counts).
RD_HD int32_t packRealLength(int32_t const* beams, int32_t bl, int32_t i)
{
    int32_t const* t = beams + i * bl;
    int32_t length = 1;
    while (length < bl && t[length] != kPadToken)
    {
        ++length;
    }
    return length;
}

// Phase 1: number of leading depths of beam i that an earlier beam already opened (0 for beam 0).
// Beam i opens new slots exactly at depths [depth, its real length).
RD_HD int32_t packSharedDepth(int32_t const* beams, int32_t bl, int32_t i)
{
    int32_t shared = 0;
    for (int32_t k = 0; k < i && shared < bl; ++k)
    {
        int32_t const common = packCommonPrefix(beams, bl, k, i);
        shared = common > shared ? common : shared;
    }
    return shared;
}

// Phase 2: start[i] = number of slots opened by beams before i; returns the row's gen length.
RD_HD int32_t packSegmentStarts(
    int32_t const* beams, int32_t const* depth, int32_t nb, int32_t bl, int32_t* start)
{
    int32_t total = 0;
    for (int32_t i = 0; i < nb; ++i)
    {
        start[i] = total;
        total += packRealLength(beams, bl, i) - depth[i];
    }
    return total;
}

// Phase 3, beam i: draft indices of every depth of beam i, and the slot -> (beam, depth) map of the
// slots beam i opens. The owner of (i, j) is the first beam sharing i's prefix through depth j; it
// opened that node at slot start[owner] + (j - depth[owner]). Depths past the real length (PAD)
// repeat the last real slot.
RD_HD void packBeamRow(int32_t const* beams, int32_t bl, int32_t const* depth, int32_t const* start, int32_t i,
    int32_t* indices, int32_t* nodeBeam, int32_t* nodeDepth)
{
    int32_t const length = packRealLength(beams, bl, i);
    int32_t covered = 0; // depths of beam i whose owner is known
    for (int32_t k = 0; k <= i && covered < length; ++k)
    {
        int32_t const common = (k == i) ? length : packCommonPrefix(beams, bl, k, i);
        for (; covered < common; ++covered)
        {
            indices[i * bl + covered] = start[k] + (covered - depth[k]);
        }
    }
    for (int32_t j = length; j < bl; ++j)
    {
        indices[i * bl + j] = indices[i * bl + length - 1];
    }
    for (int32_t j = depth[i]; j < length; ++j)
    {
        int32_t const slot = start[i] + (j - depth[i]);
        nodeBeam[slot] = i;
        nodeDepth[slot] = j;
    }
}

// Phase 4: depth (position offset) of packed slot p; 0 for padding.
RD_HD int32_t packSlotDepth(int32_t const* nodeDepth, int32_t genLength, int32_t slot)
{
    return slot < genLength ? nodeDepth[slot] : 0;
}

// Phase 4: token of packed slot p; 0 for padding.
RD_HD int32_t packSlotToken(
    int32_t const* beams, int32_t bl, int32_t const* nodeBeam, int32_t const* nodeDepth, int32_t genLength, int32_t slot)
{
    return slot < genLength ? beams[nodeBeam[slot] * bl + nodeDepth[slot]] : 0;
}

// Phase 5: word w of the mask row of packed slot p. A real slot sees the packed slots of its beam's
// tokens at depths 0..depth (its ancestors and itself); a padding slot sees only itself.
RD_HD int32_t packMaskWord(int32_t const* indices, int32_t bl, int32_t const* nodeBeam, int32_t const* nodeDepth,
    int32_t genLength, int32_t slot, int32_t word)
{
    uint32_t bits = 0;
    if (slot >= genLength)
    {
        bits = (slot / 32 == word) ? (1u << (slot % 32)) : 0u;
    }
    else
    {
        int32_t const* path = indices + nodeBeam[slot] * bl;
        for (int32_t k = 0; k <= nodeDepth[slot]; ++k)
        {
            int32_t const q = path[k];
            bits |= (q / 32 == word) ? (1u << (q % 32)) : 0u;
        }
    }
    return static_cast<int32_t>(bits); // two's complement: bit 31 is the sign bit
}

} // namespace redrafter

#if defined(__CUDACC__) || defined(REDRAFTER_DECLARE_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>

extern "C"
{
    // Device launcher: one block per row on `stream`. All pointers are device memory. Returns a
    // redrafter::Status (kTooLarge when one row's scratch exceeds 48 KiB of shared memory).
    RD_API int32_t redrafterPackBeams(int32_t const* draftTokens, int32_t const* positionIdsBase, int32_t bs, int32_t nb,
        int32_t bl, int32_t* packedTokens, int32_t* genLengths, int32_t* draftIndices, int32_t* positionOffsets,
        int32_t* packedMask, int32_t* packedPositionIds, cudaStream_t stream);
}
#endif
