// KvLayout: the geometry of the paged KV cache, as arithmetic on ModelConfig. The cache is
// cut into blocks of kKvBlockPositions positions; one block holds those positions' K and V
// rows of every layer, laid out (layer, K|V, position in block, kv_dim) in f32. One block
// table per sequence then serves all layers: a shared prompt prefix is shared by every layer
// at once, and a sequence grows by one block every kKvBlockPositions tokens.
// The budget arithmetic (estimate_activation_kv_bytes, the Vulkan host estimate) and the
// backends' pools all size the cache here, so what is counted is what is allocated.
#pragma once

#include "model/ModelConfig.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Positions per block: small enough that a short sequence wastes little (at most 15
// positions), large enough that a block's K rows of one layer are a contiguous run for the
// attention's dot products.
constexpr uint32 kKvBlockPositions = 16;

struct KvLayout {
    uint32 block_positions = kKvBlockPositions;
    uint32 n_blocks = 0;
    uint32 n_layer = 0;
    uint32 kv_dim = 0;

    // The pool that holds `tokens` positions (rounded up to whole blocks) of model `cfg`.
    static KvLayout for_tokens(const ModelConfig& cfg, uint64 tokens);
    // f32 values of one block: n_layer x 2 x block_positions x kv_dim.
    uint64 block_floats() const { return uint64(n_layer) * 2 * block_positions * kv_dim; }
    uint64 block_bytes() const { return block_floats() * sizeof(float); }
    uint64 bytes() const { return uint64(n_blocks) * block_bytes(); }
    uint64 positions() const { return uint64(n_blocks) * block_positions; }
    // Blocks a sequence of n positions occupies.
    uint32 blocks_for(uint64 n) const { return uint32((n + block_positions - 1) / block_positions); }
    // Offset in floats, inside a block, of the row of position `slot` (< block_positions) of
    // layer `layer`, K (v = false) or V.
    uint64 row_offset(uint32 layer, bool v, uint32 slot) const { return ((uint64(layer) * 2 + (v ? 1 : 0)) * block_positions + slot) * kv_dim; }
};

}  // namespace vk_symbiote
