// The six outputs shared by RedrafterGreedyAccept and RedrafterSamplingAccept (their contracts:
// greedy_accept_plugin.h, sampling_accept_plugin.h):
//
//   0 num_accepted_tokens, 1 accepted_beam_index, 2 next_token, 3 hidden_index  int32 [bs]
//   4 path_indices, 5 accepted_tokens                                           int32 [bs, beam_length]
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>

namespace redrafter
{
namespace trt
{

constexpr int32_t kNbAcceptOutputs = 6;

// Sets the shapes of the six outputs from the batch size and the constant beam_length.
inline void setAcceptOutputShapes(
    nvinfer1::IDimensionExpr const* bs, nvinfer1::IDimensionExpr const* bl, nvinfer1::DimsExprs* outputs) noexcept
{
    for (int32_t k = 0; k < 4; ++k) // num_accepted_tokens, accepted_beam_index, next_token, hidden_index
    {
        outputs[k].nbDims = 1;
        outputs[k].d[0] = bs;
    }
    for (int32_t k = 4; k < kNbAcceptOutputs; ++k) // path_indices, accepted_tokens
    {
        outputs[k].nbDims = 2;
        outputs[k].d[0] = bs;
        outputs[k].d[1] = bl;
    }
}

} // namespace trt
} // namespace redrafter
