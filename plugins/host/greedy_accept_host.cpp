// Host launchers of the packed argmax and greedy acceptance: the device kernels' per-thread and
// per-row steps (plugins/kernels/packed_argmax.cu, greedy_accept.cu) as plain loops.
#include "../kernels/greedy_accept.h"
#include "redrafter_host.h"

#include <cstddef>
#include <vector>

namespace redrafter
{
namespace
{

// One block of the argmax kernel: every emulated thread's strided partial, folded.
template <LogitsDtype D>
int32_t argmaxRowHost(unsigned char const* row, int32_t V, int32_t threads)
{
    ArgmaxPartial best = argmaxIdentity();
    for (int32_t tid = 0; tid < threads; ++tid)
    {
        best = argmaxCombine(best, argmaxThreadPartial<D>(row, V, tid, threads));
    }
    return best.index;
}

template <LogitsDtype D>
void packedArgmaxHost(void const* logits, int32_t numRows, int32_t V, int32_t const* rowOffsets,
    int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t threads, int32_t* packedArgmax)
{
    auto const* bytes = static_cast<unsigned char const*>(logits);
    for (int32_t request = 0; request < bs; ++request)
    {
        for (int32_t slot = 0; slot < numSlots; ++slot)
        {
            size_t const cell = static_cast<size_t>(request) * numSlots + slot;
            int64_t const row = packedSlotRow(rowOffsets[request], genLengths[request], numRows, numSlots, slot);
            packedArgmax[cell] = row >= 0
                ? argmaxRowHost<D>(bytes + static_cast<size_t>(row) * V * LogitsTraits<D>::kBytes, V, threads)
                : -1;
        }
    }
}

} // namespace
} // namespace redrafter

extern "C" int32_t redrafterPackedArgmaxHost(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
    int32_t const* rowOffsets, int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t emulatedThreads,
    int32_t* packedArgmax)
{
    using namespace redrafter;
    if (bs < 1 || numSlots < 1 || V < 1 || numRows < 0 || emulatedThreads < 1)
    {
        return kBadShape;
    }
    if (!isKnownDtype(dtype))
    {
        return kBadDtype;
    }
    switch (static_cast<LogitsDtype>(dtype))
    {
    case LogitsDtype::kFloat32:
        packedArgmaxHost<LogitsDtype::kFloat32>(
            logits, numRows, V, rowOffsets, genLengths, bs, numSlots, emulatedThreads, packedArgmax);
        break;
    case LogitsDtype::kFloat16:
        packedArgmaxHost<LogitsDtype::kFloat16>(
            logits, numRows, V, rowOffsets, genLengths, bs, numSlots, emulatedThreads, packedArgmax);
        break;
    case LogitsDtype::kBFloat16:
        packedArgmaxHost<LogitsDtype::kBFloat16>(
            logits, numRows, V, rowOffsets, genLengths, bs, numSlots, emulatedThreads, packedArgmax);
        break;
    }
    return kOk;
}

extern "C" int32_t redrafterGreedyAcceptHost(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
    int32_t const* rowOffsets, int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths,
    int32_t bs, int32_t numSlots, int32_t nb, int32_t bl, int32_t emulatedThreads, int32_t* numAcceptedTokens,
    int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex, int32_t* pathIndices,
    int32_t* acceptedTokens)
{
    using namespace redrafter;
    if (nb < 1 || bl < 1 || bs < 1 || numSlots < 1)
    {
        return kBadShape;
    }
    if (static_cast<int64_t>(nb) * bl > 0x7FFFFFFF)
    {
        return kTooLarge;
    }
    std::vector<int32_t> packedArgmax(static_cast<size_t>(bs) * numSlots);
    int32_t const status = redrafterPackedArgmaxHost(
        logits, dtype, numRows, V, rowOffsets, genLengths, bs, numSlots, emulatedThreads, packedArgmax.data());
    if (status != kOk)
    {
        return status;
    }
    size_t const beamCells = static_cast<size_t>(nb) * bl;
    for (int32_t row = 0; row < bs; ++row)
    {
        int32_t const* tokens = draftTokens + row * beamCells;
        int32_t const* indices = draftIndices + row * beamCells;
        int32_t const* argmaxRow = packedArgmax.data() + static_cast<size_t>(row) * numSlots;
        int32_t const genLength = clampGenLength(genLengths[row], numSlots);

        BeamChoice best = greedyNoBeam();
        for (int32_t i = 0; i < nb; ++i)
        {
            best = greedyBetterBeam(best, BeamChoice{greedyAcceptLength(tokens, indices, argmaxRow, genLength, bl, i), i});
        }
        int32_t const num = best.length;
        int32_t const* bestTokens = tokens + static_cast<size_t>(best.beam) * bl;
        int32_t const* bestIndices = indices + static_cast<size_t>(best.beam) * bl;
        int32_t const last = bestIndices[num - 1];
        int32_t const bonus = greedyPrediction(argmaxRow, genLength, last);
        numAcceptedTokens[row] = num;
        acceptedBeamIndex[row] = best.beam;
        nextToken[row] = bonus;
        hiddenIndex[row] = last;
        for (int32_t k = 0; k < bl; ++k)
        {
            pathIndices[static_cast<size_t>(row) * bl + k] = bestIndices[k];
            acceptedTokens[static_cast<size_t>(row) * bl + k] = greedyAcceptedTokenAt(bestTokens, bl, num, bonus, k);
        }
    }
    return kOk;
}

extern "C" int32_t redrafterDecodeLogitsHost(void const* raw, int32_t dtype, int64_t count, float* out)
{
    using namespace redrafter;
    if (!isKnownDtype(dtype))
    {
        return kBadDtype;
    }
    auto const* bytes = static_cast<unsigned char const*>(raw);
    for (int64_t k = 0; k < count; ++k)
    {
        switch (static_cast<LogitsDtype>(dtype))
        {
        case LogitsDtype::kFloat32:
            out[k] = LogitsTraits<LogitsDtype::kFloat32>::decode(loadElementBits<4>(bytes + k * 4, 0));
            break;
        case LogitsDtype::kFloat16:
            out[k] = LogitsTraits<LogitsDtype::kFloat16>::decode(loadElementBits<2>(bytes + k * 2, 0));
            break;
        case LogitsDtype::kBFloat16:
            out[k] = LogitsTraits<LogitsDtype::kBFloat16>::decode(loadElementBits<2>(bytes + k * 2, 0));
            break;
        }
    }
    return kOk;
}
