#include "model/KvLayout.h"

#include <algorithm>

namespace vk_symbiote {

KvLayout KvLayout::for_tokens(const ModelConfig& cfg, uint64 tokens) {
    KvLayout l;
    l.n_layer = cfg.n_layer;
    l.kv_dim = cfg.kv_dim();
    const uint64 blocks = (tokens + l.block_positions - 1) / l.block_positions;
    l.n_blocks = uint32(std::min<uint64>(blocks, UINT32_MAX));
    return l;
}

}  // namespace vk_symbiote
