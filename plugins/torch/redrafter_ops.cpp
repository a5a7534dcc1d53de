// torch custom ops over the ReDrafter kernels: torch.ops.redrafter.* (trtllm_redrafter/ops/torch_ops.py).
//
// The CPU implementations call the host launchers (plugins/host/*.cpp), which run the same core
// functions as the CUDA kernels (plugins/kernels/*.h); no kernel is written twice. Contracts,
// shapes and dtypes are those of the kernel headers; every index tensor is int32.
//
//   pack_beams(draft_tokens [bs,nb,bl], position_ids_base [bs])
//       -> packed_tokens [bs,n_cap], gen_lengths [bs], draft_indices [bs,nb,bl],
//          position_offsets [bs,n_cap], packed_mask [bs,n_cap,W], packed_position_ids [bs,n_cap]
//   greedy_accept(logits, draft_tokens, draft_indices, gen_lengths, row_offsets=None)
//       logits fp32/fp16/bf16, either padded [bs,slots,V] (row_offsets None) or flat [R,V] with
//       row_offsets int32 [bs] (slot j of request b is logits[row_offsets[b] + j], j < n_cap)
//       -> num_accepted_tokens [bs], accepted_beam_index [bs], next_token [bs], hidden_index [bs],
//          path_indices [bs,bl], accepted_tokens [bs,bl]
//   sampling_accept(probs [bs,slots,V] fp32, draft_tokens, draft_indices, gen_lengths,
//                   rand_validation [bs,nb,bl-1] fp32, rand_sample [bs] fp32) -> the same six outputs
//
// Each op has an out-variant, `<op>_out(inputs..., outputs...) -> ()`, that writes preallocated
// outputs (what a CUDA graph needs). A launcher's non-zero status raises a RuntimeError.
//
// One function per op serves both dispatch keys: CPU tensors go to the host launcher, CUDA tensors
// (built with REDRAFTER_WITH_CUDA, trtllm_redrafter/ops/torch_ops.py does it when torch sees a GPU)
// to the device launcher of plugins/kernels on the current stream. All tensors of a call must be on
// one device. The CUDA sampling_accept sums its inverse CDF in 256 chunks, so it can differ from the
// CPU op (which sums in the reference's order) only at cdf-boundary rows (sampling_accept.h).
#include "../host/redrafter_host.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#ifdef REDRAFTER_WITH_CUDA
#define REDRAFTER_DECLARE_CUDA_LAUNCHERS
#include "../kernels/greedy_accept.h"
#include "../kernels/pack_beams.h"
#include "../kernels/sampling_accept.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <optional>
#include <tuple>

namespace
{

using Six = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

void checkStatus(int32_t status, char const* op)
{
    TORCH_CHECK(status == 0, "redrafter::", op, ": the launcher refused its arguments (status ", status, ")");
}

void checkDevice(at::Tensor const& t, at::Device device, char const* name)
{
    TORCH_CHECK(t.device() == device, name, " must be on ", device, " (the device of draft_tokens / probs), got ",
        t.device());
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

void checkInt32(at::Tensor const& t, int64_t dims, char const* name, at::Device device)
{
    TORCH_CHECK(t.dim() == dims, name, " must have ", dims, " dimensions, got ", t.dim());
    TORCH_CHECK(t.scalar_type() == at::kInt, name, " must be int32");
    checkDevice(t, device, name);
}

// An output the launcher writes through a raw pointer: int32, contiguous, on `device`, exactly `sizes`.
void checkOut(at::Tensor const& t, at::IntArrayRef sizes, char const* name, at::Device device)
{
    TORCH_CHECK(t.scalar_type() == at::kInt, name, " must be int32");
    checkDevice(t, device, name);
    TORCH_CHECK(t.sizes() == sizes, name, " must have shape ", sizes, ", got ", t.sizes());
}

// True for a CUDA call (then the caller launches on the device), false for CPU; an error when the ops
// were built without CUDA. The guard makes `device` current for the launch.
#ifdef REDRAFTER_WITH_CUDA
using DeviceGuard = c10::cuda::CUDAGuard;
cudaStream_t currentStream()
{
    return c10::cuda::getCurrentCUDAStream();
}
#endif

bool onCuda(at::Device device)
{
#ifndef REDRAFTER_WITH_CUDA
    TORCH_CHECK(!device.is_cuda(), "the redrafter ops were built without CUDA (torch saw no GPU when they were built)");
#endif
    return device.is_cuda();
}

int32_t logitsCode(at::Tensor const& t)
{
    switch (t.scalar_type())
    {
    case at::kFloat: return 0;
    case at::kHalf: return 1;
    case at::kBFloat16: return 2;
    default: TORCH_CHECK(false, "logits must be float32, float16 or bfloat16");
    }
    return -1;
}

int32_t* i32(at::Tensor& t)
{
    return t.data_ptr<int32_t>();
}

void pack_beams_out(at::Tensor const& draft_tokens, at::Tensor const& position_ids_base, at::Tensor packed_tokens,
    at::Tensor gen_lengths, at::Tensor draft_indices, at::Tensor position_offsets, at::Tensor packed_mask,
    at::Tensor packed_position_ids)
{
    at::Device const device = draft_tokens.device();
    checkInt32(draft_tokens, 3, "draft_tokens", device);
    checkInt32(position_ids_base, 1, "position_ids_base", device);
    auto const bs = static_cast<int32_t>(draft_tokens.size(0));
    auto const nb = static_cast<int32_t>(draft_tokens.size(1));
    auto const bl = static_cast<int32_t>(draft_tokens.size(2));
    int64_t const cap = static_cast<int64_t>(nb) * (bl - 1) + 1;
    TORCH_CHECK(position_ids_base.size(0) == bs, "position_ids_base must have bs entries");
    checkOut(packed_tokens, {bs, cap}, "packed_tokens", device);
    checkOut(gen_lengths, {bs}, "gen_lengths", device);
    checkOut(draft_indices, draft_tokens.sizes(), "draft_indices", device);
    checkOut(position_offsets, {bs, cap}, "position_offsets", device);
    checkOut(packed_mask, {bs, cap, (cap + 31) / 32}, "packed_mask", device);
    checkOut(packed_position_ids, {bs, cap}, "packed_position_ids", device);
    int32_t const* tokens = draft_tokens.data_ptr<int32_t>();
    int32_t const* base = position_ids_base.data_ptr<int32_t>();
    if (onCuda(device))
    {
#ifdef REDRAFTER_WITH_CUDA
        DeviceGuard guard(device);
        checkStatus(redrafterPackBeams(tokens, base, bs, nb, bl, i32(packed_tokens), i32(gen_lengths),
                        i32(draft_indices), i32(position_offsets), i32(packed_mask), i32(packed_position_ids),
                        currentStream()),
            "pack_beams");
#endif
        return;
    }
    checkStatus(redrafterPackBeamsHost(tokens, base, bs, nb, bl, i32(packed_tokens), i32(gen_lengths),
                    i32(draft_indices), i32(position_offsets), i32(packed_mask), i32(packed_position_ids)),
        "pack_beams");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> pack_beams(
    at::Tensor const& draft_tokens, at::Tensor const& position_ids_base)
{
    checkInt32(draft_tokens, 3, "draft_tokens", draft_tokens.device());
    int64_t const bs = draft_tokens.size(0), nb = draft_tokens.size(1), bl = draft_tokens.size(2);
    int64_t const cap = nb * (bl - 1) + 1;
    auto const opts = draft_tokens.options();
    Six out{at::empty({bs, cap}, opts), at::empty({bs}, opts), at::empty({bs, nb, bl}, opts),
        at::empty({bs, cap}, opts), at::empty({bs, cap, (cap + 31) / 32}, opts), at::empty({bs, cap}, opts)};
    auto [a, b, c, d, e, f] = out;
    pack_beams_out(draft_tokens, position_ids_base, a, b, c, d, e, f);
    return out;
}

// The inputs every acceptance op shares, checked on draft_tokens' device; the six outputs' shapes.
void checkAcceptIo(at::Tensor const& draft_tokens, at::Tensor const& draft_indices, at::Tensor const& gen_lengths,
    at::Tensor const& num, at::Tensor const& beam, at::Tensor const& next, at::Tensor const& hidden,
    at::Tensor const& path, at::Tensor const& accepted)
{
    at::Device const device = draft_tokens.device();
    checkInt32(draft_tokens, 3, "draft_tokens", device);
    checkInt32(draft_indices, 3, "draft_indices", device);
    checkInt32(gen_lengths, 1, "gen_lengths", device);
    TORCH_CHECK(draft_indices.sizes() == draft_tokens.sizes(), "draft_indices must have draft_tokens' shape");
    TORCH_CHECK(gen_lengths.size(0) == draft_tokens.size(0), "gen_lengths must have bs entries");
    int64_t const bs = draft_tokens.size(0), bl = draft_tokens.size(2);
    checkOut(num, {bs}, "num_accepted_tokens", device);
    checkOut(beam, {bs}, "accepted_beam_index", device);
    checkOut(next, {bs}, "next_token", device);
    checkOut(hidden, {bs}, "hidden_index", device);
    checkOut(path, {bs, bl}, "path_indices", device);
    checkOut(accepted, {bs, bl}, "accepted_tokens", device);
}

Six acceptOutputs(at::Tensor const& draft_tokens)
{
    int64_t const bs = draft_tokens.size(0), bl = draft_tokens.size(2);
    auto const opts = draft_tokens.options();
    return {at::empty({bs}, opts), at::empty({bs}, opts), at::empty({bs}, opts), at::empty({bs}, opts),
        at::empty({bs, bl}, opts), at::empty({bs, bl}, opts)};
}

// The greedy launcher's flat view of `logits`: rows, row offsets and slot count. Padded logits
// [bs, slots, V] are the flat form with row_offsets[b] = b * slots (greedy_accept.h).
struct FlatLogits
{
    int64_t rows;
    at::Tensor rowOffsets; // int32 [bs]
    int64_t slots;
};

FlatLogits flatLogits(at::Tensor const& logits, std::optional<at::Tensor> const& row_offsets,
    at::Tensor const& draft_tokens)
{
    int64_t const bs = draft_tokens.size(0), nb = draft_tokens.size(1), bl = draft_tokens.size(2);
    checkDevice(logits, draft_tokens.device(), "logits");
    if (!row_offsets.has_value())
    {
        TORCH_CHECK(logits.dim() == 3 && logits.size(0) == bs,
            "logits must be [bs, slots, V] (or [R, V] with row_offsets), bs as in draft_tokens");
        auto const opts = draft_tokens.options();
        return {bs * logits.size(1), at::arange(bs, opts) * logits.size(1), logits.size(1)};
    }
    checkInt32(*row_offsets, 1, "row_offsets", draft_tokens.device());
    TORCH_CHECK(logits.dim() == 2, "logits must be [R, V] when row_offsets is given");
    TORCH_CHECK(row_offsets->size(0) == bs, "row_offsets must have bs entries");
    return {logits.size(0), *row_offsets, nb * (bl - 1) + 1};
}

void greedy_accept_out(at::Tensor const& logits, at::Tensor const& draft_tokens, at::Tensor const& draft_indices,
    at::Tensor const& gen_lengths, std::optional<at::Tensor> const& row_offsets, at::Tensor num, at::Tensor beam,
    at::Tensor next, at::Tensor hidden, at::Tensor path, at::Tensor accepted)
{
    checkAcceptIo(draft_tokens, draft_indices, gen_lengths, num, beam, next, hidden, path, accepted);
    FlatLogits const flat = flatLogits(logits, row_offsets, draft_tokens);
    int64_t const vocab = logits.size(logits.dim() - 1);
    TORCH_CHECK(flat.rows <= 0x7FFFFFFF && vocab <= 0x7FFFFFFF && flat.slots <= 0x7FFFFFFF,
        "logits dims must fit int32");
    auto const rows = static_cast<int32_t>(flat.rows);
    auto const bs = static_cast<int32_t>(draft_tokens.size(0));
    auto const slots = static_cast<int32_t>(flat.slots);
    auto const nb = static_cast<int32_t>(draft_tokens.size(1));
    auto const bl = static_cast<int32_t>(draft_tokens.size(2));
    int32_t const* offsets = flat.rowOffsets.data_ptr<int32_t>();
    int32_t const* tokens = draft_tokens.data_ptr<int32_t>();
    int32_t const* indices = draft_indices.data_ptr<int32_t>();
    int32_t const* gen = gen_lengths.data_ptr<int32_t>();
    if (onCuda(logits.device()))
    {
#ifdef REDRAFTER_WITH_CUDA
        DeviceGuard guard(logits.device());
        size_t const bytes = redrafter::greedyAcceptWorkspaceBytes(bs, slots);
        at::Tensor workspace = at::empty({static_cast<int64_t>(bytes)}, logits.options().dtype(at::kByte));
        checkStatus(redrafterGreedyAccept(logits.data_ptr(), logitsCode(logits), rows, static_cast<int32_t>(vocab),
                        offsets, tokens, indices, gen, bs, slots, nb, bl, workspace.data_ptr(), bytes, i32(num),
                        i32(beam), i32(next), i32(hidden), i32(path), i32(accepted), currentStream()),
            "greedy_accept");
#endif
        return;
    }
    checkStatus(redrafterGreedyAcceptHost(logits.data_ptr(), logitsCode(logits), rows, static_cast<int32_t>(vocab),
                    offsets, tokens, indices, gen, bs, slots, nb, bl, 1, i32(num), i32(beam), i32(next), i32(hidden),
                    i32(path), i32(accepted)),
        "greedy_accept");
}

Six greedy_accept(at::Tensor const& logits, at::Tensor const& draft_tokens, at::Tensor const& draft_indices,
    at::Tensor const& gen_lengths, std::optional<at::Tensor> const& row_offsets)
{
    checkInt32(draft_tokens, 3, "draft_tokens", draft_tokens.device());
    Six out = acceptOutputs(draft_tokens);
    auto [a, b, c, d, e, f] = out;
    greedy_accept_out(logits, draft_tokens, draft_indices, gen_lengths, row_offsets, a, b, c, d, e, f);
    return out;
}

void sampling_accept_out(at::Tensor const& probs, at::Tensor const& draft_tokens, at::Tensor const& draft_indices,
    at::Tensor const& gen_lengths, at::Tensor const& rand_validation, at::Tensor const& rand_sample, at::Tensor num,
    at::Tensor beam, at::Tensor next, at::Tensor hidden, at::Tensor path, at::Tensor accepted)
{
    checkAcceptIo(draft_tokens, draft_indices, gen_lengths, num, beam, next, hidden, path, accepted);
    at::Device const device = draft_tokens.device();
    checkDevice(probs, device, "probs");
    checkDevice(rand_validation, device, "rand_validation");
    checkDevice(rand_sample, device, "rand_sample");
    TORCH_CHECK(probs.dim() == 3 && probs.size(0) == draft_tokens.size(0), "probs must be [bs, slots, V]");
    TORCH_CHECK(probs.scalar_type() == at::kFloat, "probs must be float32");
    TORCH_CHECK(rand_validation.scalar_type() == at::kFloat && rand_sample.scalar_type() == at::kFloat,
        "rand_validation and rand_sample must be float32");
    auto const bs = static_cast<int32_t>(draft_tokens.size(0));
    int64_t const nb = draft_tokens.size(1), bl = draft_tokens.size(2);
    TORCH_CHECK(rand_validation.numel() == bs * nb * (bl - 1) && rand_sample.numel() == bs,
        "rand_validation must be [bs, nb, bl-1] and rand_sample [bs]");
    auto const slots = static_cast<int32_t>(probs.size(1));
    auto const vocab = static_cast<int32_t>(probs.size(2));
    float const* p = probs.data_ptr<float>();
    int32_t const* tokens = draft_tokens.data_ptr<int32_t>();
    int32_t const* indices = draft_indices.data_ptr<int32_t>();
    int32_t const* gen = gen_lengths.data_ptr<int32_t>();
    if (onCuda(device))
    {
#ifdef REDRAFTER_WITH_CUDA
        DeviceGuard guard(device);
        checkStatus(redrafterSamplingAccept(p, tokens, indices, gen, rand_validation.data_ptr(), rand_sample.data_ptr(),
                        0, bs, slots, vocab, static_cast<int32_t>(nb), static_cast<int32_t>(bl), i32(num), i32(beam),
                        i32(next), i32(hidden), i32(path), i32(accepted), currentStream()),
            "sampling_accept");
#endif
        return;
    }
    // one chunk: the inverse-CDF sum runs in the reference's order (sampling_accept.h, "Exactness")
    checkStatus(redrafterSamplingAcceptHost(p, tokens, indices, gen, rand_validation.data_ptr(), rand_sample.data_ptr(),
                    0, bs, slots, vocab, static_cast<int32_t>(nb), static_cast<int32_t>(bl), 1, i32(num), i32(beam),
                    i32(next), i32(hidden), i32(path), i32(accepted)),
        "sampling_accept");
}

Six sampling_accept(at::Tensor const& probs, at::Tensor const& draft_tokens, at::Tensor const& draft_indices,
    at::Tensor const& gen_lengths, at::Tensor const& rand_validation, at::Tensor const& rand_sample)
{
    Six out = acceptOutputs(draft_tokens);
    auto [a, b, c, d, e, f] = out;
    sampling_accept_out(probs, draft_tokens, draft_indices, gen_lengths, rand_validation, rand_sample, a, b, c, d, e, f);
    return out;
}

} // namespace

TORCH_LIBRARY(redrafter, m)
{
    m.def("pack_beams(Tensor draft_tokens, Tensor position_ids_base) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
    m.def("pack_beams_out(Tensor draft_tokens, Tensor position_ids_base, Tensor(a!) packed_tokens, "
          "Tensor(b!) gen_lengths, Tensor(c!) draft_indices, Tensor(d!) position_offsets, Tensor(e!) packed_mask, "
          "Tensor(f!) packed_position_ids) -> ()");
    m.def("greedy_accept(Tensor logits, Tensor draft_tokens, Tensor draft_indices, Tensor gen_lengths, "
          "Tensor? row_offsets=None) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
    m.def("greedy_accept_out(Tensor logits, Tensor draft_tokens, Tensor draft_indices, Tensor gen_lengths, "
          "Tensor? row_offsets, Tensor(a!) num_accepted_tokens, Tensor(b!) accepted_beam_index, "
          "Tensor(c!) next_token, Tensor(d!) hidden_index, Tensor(e!) path_indices, Tensor(f!) accepted_tokens) -> ()");
    m.def("sampling_accept(Tensor probs, Tensor draft_tokens, Tensor draft_indices, Tensor gen_lengths, "
          "Tensor rand_validation, Tensor rand_sample) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
    m.def("sampling_accept_out(Tensor probs, Tensor draft_tokens, Tensor draft_indices, Tensor gen_lengths, "
          "Tensor rand_validation, Tensor rand_sample, Tensor(a!) num_accepted_tokens, "
          "Tensor(b!) accepted_beam_index, Tensor(c!) next_token, Tensor(d!) hidden_index, Tensor(e!) path_indices, "
          "Tensor(f!) accepted_tokens) -> ()");
}

namespace
{

// The same functions for every dispatch key: each picks the host or the device launcher itself.
void implementOps(torch::Library& m)
{
    m.impl("pack_beams", &pack_beams);
    m.impl("pack_beams_out", &pack_beams_out);
    m.impl("greedy_accept", &greedy_accept);
    m.impl("greedy_accept_out", &greedy_accept_out);
    m.impl("sampling_accept", &sampling_accept);
    m.impl("sampling_accept_out", &sampling_accept_out);
}

} // namespace

TORCH_LIBRARY_IMPL(redrafter, CPU, m)
{
    implementOps(m);
}

#ifdef REDRAFTER_WITH_CUDA
TORCH_LIBRARY_IMPL(redrafter, CUDA, m)
{
    implementOps(m);
}
#endif
