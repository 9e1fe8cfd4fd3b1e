#include "memory/WeightProvider.h"

namespace vk_symbiote {

uint64 expert_bytes(const TensorRegistry& reg, uint32 layer, uint32 expert) {
    uint64 bytes = 0;
    for (TensorRole r : {TensorRole::ExpGate, TensorRole::ExpUp, TensorRole::ExpDown})
        if (const TensorDesc* d = reg.find({r, int32(layer), int32(expert)})) bytes += d->byte_size;
    return bytes;
}

void WeightProvider::experts_routed(uint32 layer, const std::vector<uint32>& tokens_per_expert, uint32 n_tokens) {
    uint64 bytes = 0;
    for (uint32 e = 0; e < tokens_per_expert.size(); ++e)
        if (tokens_per_expert[e] > 0) bytes += expert_bytes(registry(), layer, e);
    routed_expert_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    on_experts_routed(layer, tokens_per_expert, n_tokens);
}

}  // namespace vk_symbiote
