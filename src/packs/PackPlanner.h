// PackPlanner: cuts a model's weights (from the TensorRegistry) into packs.
//
//  - Each layer: one Norm pack bundling its vectors (attn_norm, ffn_norm, and where the
//    family has them Q/K/V biases, Q/K head norms, post norms), then Attention packs
//    (row slices of q, k, v, o) then MLP packs (row slices of gate, up, down). A fused
//    tensor's row ranges (attn_qkv, ffn_up) are planned like any tensor: contiguous in the
//    file, they are read with one sequential read.
//    Consecutive tensors of one kind share a pack while they fit; a large matrix is
//    split by rows, so every slice is an independent block of whole rows.
//  - After the layers: an OutputNorm pack, then Output packs (row slices of
//    output.weight, or of token_embd.weight when the output is tied).
//  - token_embd is NOT planned: embedding rows are read on demand (a row cache).
//  - No pack exceeds max_pack_bytes (its byte_size, i.e. the extent of its buffer).
//  - Ids are dense and deterministic: packs[i].pack_id == i == packs[i].order, and
//    order is the per-token use order (the forward pass walks packs 0..N-1 each token).
//
// Buffer layout inside a pack: a slice that continues the previous slice in the file
// (gap <= kMaxMirroredGap) keeps the same relative position as in the file, so a run
// of such slices is read with one large sequential read; other slices start at the
// next multiple of kSliceAlign.
#pragma once

#include <string>
#include <vector>

#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct PackPlanOptions {
    uint64 max_pack_bytes = uint64(32) << 20;  // config max_pack_mb (default 32 MB)
};

// One piece of one tensor: slice `slice` of pack `pack_id`.
struct TensorPackRef {
    uint64 pack_id = 0;
    uint32 slice = 0;
};

struct PackPlan {
    static constexpr uint64 kSliceAlign = 64;
    static constexpr uint64 kMaxMirroredGap = 256;

    std::vector<PackMetadata> packs;  // packs[i].pack_id == i
    // Indexed like TensorRegistry::tensors(): the slices of each tensor in row order.
    // Empty for token_embd (never planned).
    std::vector<std::vector<TensorPackRef>> tensor_packs;
    uint64 max_pack_bytes = 0;      // the limit used
    uint64 largest_pack_bytes = 0;  // max byte_size
    uint64 total_bytes = 0;         // sum of byte_size

    // The largest set of packs that must be resident together: all packs of one layer,
    // or the output norm + output packs. Counted in resident bytes (pack_buffer_bytes).
    uint64 working_set_bytes = 0;
    std::string working_set_what;   // "layer 3" or "output"

    // Contiguous file extents of a pack: one read each. {file_offset, size, pack_offset}.
    struct Extent {
        uint64 file_offset = 0;
        uint64 size = 0;
        uint64 pack_offset = 0;
    };
    static std::vector<Extent> extents(const PackMetadata& p);
};

PackType pack_type_for(TensorRole role);

// Errors: InvalidArgument when max_pack_bytes cannot hold one row of some tensor
// (names the tensor and the row size).
Expected<PackPlan> plan_packs(const TensorRegistry& reg, const PackPlanOptions& opts = {});

}  // namespace vk_symbiote
