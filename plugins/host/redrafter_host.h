// C ABI of the host library (libredrafter_host.so, built with g++ only; no CUDA needed).
//
// Each function runs the same per-element core functions as the CUDA kernel of the same name
// (plugins/kernels/*.h) in plain C++ loops over batch rows and "threads". Shapes, dtypes and layouts
// are those documented in the kernel headers; all pointers are host memory, row-major, contiguous.
// Every function returns a redrafter::Status (0 = success) and writes nothing on a bad argument.
// Used by tests/test_plugins_host.py through ctypes.
#pragma once

#include "../common/host_device.h"

extern "C"
{
    // plugins/kernels/pack_beams.h
    RD_API int32_t redrafterPackBeamsHost(int32_t const* draftTokens, int32_t const* positionIdsBase, int32_t bs, int32_t nb,
        int32_t bl, int32_t* packedTokens, int32_t* genLengths, int32_t* draftIndices, int32_t* positionOffsets,
        int32_t* packedMask, int32_t* packedPositionIds);

    // plugins/kernels/packed_argmax.h (the flat form: logits [numRows, V], slot p of request b is row
    // rowOffsets[b] + p). `emulatedThreads` (>= 1) is the number of threads whose strided partials are
    // folded per row: the device block size is kArgmaxBlock (256); any count must give the same result.
    RD_API int32_t redrafterPackedArgmaxHost(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
        int32_t const* rowOffsets, int32_t const* genLengths, int32_t bs, int32_t numSlots, int32_t emulatedThreads,
        int32_t* packedArgmax);

    // plugins/kernels/greedy_accept.h (packed argmax included; no workspace argument needed).
    RD_API int32_t redrafterGreedyAcceptHost(void const* logits, int32_t dtype, int32_t numRows, int32_t V,
        int32_t const* rowOffsets, int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths,
        int32_t bs, int32_t numSlots, int32_t nb, int32_t bl, int32_t emulatedThreads, int32_t* numAcceptedTokens,
        int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex, int32_t* pathIndices,
        int32_t* acceptedTokens);

    // plugins/kernels/warp_softmax.h. `emulatedThreads` (>= 1) threads take strided elements of
    // each row; every reduction is exact, so any count gives the same bits.
    RD_API int32_t redrafterWarpSoftmaxHost(void const* logits, int32_t logitsDtype, void const* invTemperature,
        int32_t temperatureDtype, int32_t temperatureCount, int32_t const* genLengths, int32_t bs, int32_t numSlots,
        int32_t V, int32_t topK, float topP, int32_t emulatedThreads, float* probs);

    // plugins/kernels/sampling_accept.h. `emulatedThreads` (>= 1) is the number of contiguous chunks
    // the inverse-CDF sums are split into (the device uses kSampleBlock = 256); double rounding can
    // make a different count give a different token only where the target sits on a cdf value.
    RD_API int32_t redrafterSamplingAcceptHost(float const* probs, int32_t const* draftTokens,
        int32_t const* draftIndices, int32_t const* genLengths, void const* randValidation, void const* randSample,
        int32_t randDtype, int32_t bs, int32_t numSlots, int32_t V, int32_t nb, int32_t bl, int32_t emulatedThreads,
        int32_t* numAcceptedTokens, int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex,
        int32_t* pathIndices, int32_t* acceptedTokens);

    // plugins/kernels/fused_sampling_accept.h (flat logits [numRows, V] with rowOffsets, as packed_argmax).
    // `emulatedThreads` (>= 1) threads take the row's units round-robin and form the scan tiles;
    // every sum is exact, so any count gives the same result.
    RD_API int32_t redrafterFusedSamplingAcceptHost(void const* logits, int32_t logitsDtype, int32_t numRows,
        int32_t V, int32_t const* rowOffsets, void const* invTemperature, int32_t temperatureDtype,
        int32_t temperatureCount, int32_t const* draftTokens, int32_t const* draftIndices, int32_t const* genLengths,
        void const* randValidation, void const* randSample, int32_t randDtype, int32_t bs, int32_t numSlots, int32_t nb,
        int32_t bl, int32_t topK, float topP, int32_t emulatedThreads, int32_t* numAcceptedTokens,
        int32_t* acceptedBeamIndex, int32_t* nextToken, int32_t* hiddenIndex, int32_t* pathIndices,
        int32_t* acceptedTokens);

    // fusedStaticSharedBytes(): the fused kernel's static shared memory (fused_sampling_accept.h).
    RD_API size_t redrafterFusedStaticSharedBytes();

    // samplingStaticSharedBytes(): the sampling kernel's static shared memory (sampling_accept.h).
    RD_API size_t redrafterSamplingStaticSharedBytes();

    // plugins/common/logits_dtype.h: decode `count` raw elements of `dtype` to float32.
    RD_API int32_t redrafterDecodeLogitsHost(void const* raw, int32_t dtype, int64_t count, float* out);
}
