#include "backend/vulkan/MoeRoute.h"

#include "backend/cpu/MoeRouting.h"

namespace vk_symbiote {

ExpectedVoid op_moe_route(OpContext& c, const ModelConfig& cfg, uint32 n_tokens, const MoeRouteBuffers& b, uint32 table_offset, uint32 choice_offset) {
    const uint32 X = cfg.n_expert, k = cfg.n_expert_used;
    if (X == 0 || X > cpu::kRouteMaxExperts || k == 0 || k > X || k > cpu::kRouteMaxUsed)
        return make_error(ErrorCode::Unsupported, "moe route on the device: " + std::to_string(X) + " experts, " + std::to_string(k) +
                                                      " used (at most " + std::to_string(cpu::kRouteMaxExperts) + " and " +
                                                      std::to_string(cpu::kRouteMaxUsed) + ")");
    if (b.n_slots > 0 && n_tokens > 64) return make_error(ErrorCode::InvalidArgument, "moe route: indirect dispatches for at most 64 tokens");
    if (b.logits.stride != X) return make_error(ErrorCode::InvalidArgument, "moe route: logits rows must be n_expert apart");
    auto pl = op_pipeline(c, Kernel::MoeRoute, DType::F32);
    if (!pl) return pl.error();
    auto bind = op_bindings(c);
    bind[2].buffer = b.logits.buffer;
    bind[3].buffer = b.table;
    bind[4].buffer = b.choices;
    if (b.n_slots > 0) {
        bind[5].buffer = b.slots;
        bind[6].buffer = b.args;
    }
    auto set = c.rt.make_descriptor_set(bind);
    if (!set) return set.error();
    const gpu::MoeRouteParams p{n_tokens, X, k, cfg.expert_weights_norm ? 1u : 0u, cfg.expert_weights_scale, b.logits.offset, table_offset, choice_offset,
                                b.n_slots, b.first_slot};
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, std::max<uint32>(1, (n_tokens + 63) / 64));
    return {};
}

}  // namespace vk_symbiote
