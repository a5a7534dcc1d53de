// Host launcher of beam packing: the phases of plugins/kernels/pack_beams.cu as plain loops.
#include "../kernels/pack_beams.h"
#include "redrafter_host.h"

#include <cstddef>
#include <vector>

extern "C" int32_t redrafterPackBeamsHost(int32_t const* draftTokens, int32_t const* positionIdsBase, int32_t bs,
    int32_t nb, int32_t bl, int32_t* packedTokens, int32_t* genLengths, int32_t* draftIndices,
    int32_t* positionOffsets, int32_t* packedMask, int32_t* packedPositionIds)
{
    using namespace redrafter;
    if (bs < 1 || nb < 1 || bl < 1)
    {
        return kBadShape;
    }
    if (static_cast<int64_t>(nb) * bl > (1 << 20))
    {
        return kTooLarge;
    }
    int32_t const nCap = packedCapacity(nb, bl);
    int32_t const words = maskWords(nCap);
    int32_t const beamCells = nb * bl;
    std::vector<int32_t> scratch(static_cast<size_t>(packScratchInts(nb, bl)));

    for (int32_t row = 0; row < bs; ++row)
    {
        PackScratch s = packScratchLayout(scratch.data(), nb, bl);
        int32_t const* beamsIn = draftTokens + static_cast<size_t>(row) * beamCells;
        for (int32_t t = 0; t < beamCells; ++t)
        {
            s.beams[t] = beamsIn[t];
        }
        for (int32_t i = 0; i < nb; ++i) // 1
        {
            s.depth[i] = packSharedDepth(s.beams, bl, i);
        }
        *s.genLength = packSegmentStarts(s.beams, s.depth, nb, bl, s.start); // 2
        genLengths[row] = *s.genLength;
        for (int32_t i = 0; i < nb; ++i) // 3
        {
            packBeamRow(s.beams, bl, s.depth, s.start, i, s.indices, s.nodeBeam, s.nodeDepth);
        }

        int32_t const genLength = *s.genLength;
        int32_t const base = positionIdsBase[row];
        int32_t* indicesOut = draftIndices + static_cast<size_t>(row) * beamCells;
        for (int32_t t = 0; t < beamCells; ++t)
        {
            indicesOut[t] = s.indices[t];
        }
        size_t const slotRow = static_cast<size_t>(row) * nCap;
        for (int32_t p = 0; p < nCap; ++p) // 4
        {
            int32_t const depth = packSlotDepth(s.nodeDepth, genLength, p);
            packedTokens[slotRow + p] = packSlotToken(s.beams, bl, s.nodeBeam, s.nodeDepth, genLength, p);
            positionOffsets[slotRow + p] = depth;
            packedPositionIds[slotRow + p] = base + depth;
        }
        int32_t* maskOut = packedMask + slotRow * words;
        for (int32_t t = 0; t < nCap * words; ++t) // 5
        {
            maskOut[t] = packMaskWord(s.indices, bl, s.nodeBeam, s.nodeDepth, genLength, t / words, t % words);
        }
    }
    return kOk;
}
