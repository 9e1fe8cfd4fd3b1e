// MoeRoute: a mixture-of-experts router's choice on the device (shaders/moe_route.comp), the
// host's cpu::route_token repeated operation for operation (MoeRouting.h), so a one-token
// layer whose experts are all resident is recorded with no host wait (DeviceMoe).
#pragma once

#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote {

struct MoeRouteBuffers {
    ActView logits;                   // (n_tokens, n_expert) f32 router logits, rows contiguous
    VkBuffer table = VK_NULL_HANDLE;  // uints: token t's k (expert, weight bits) pairs from table_offset + 2 t k
    VkBuffer choices = VK_NULL_HANDLE;  // uints: token t's k experts (largest logit first) from choice_offset + t k
    // The indirect dispatches (MoeRouteParams): requests (gx, gy, gz, expert) and group counts,
    // n_slots of 16 bytes each; n_slots 0: none (any number of tokens).
    VkBuffer slots = VK_NULL_HANDLE, args = VK_NULL_HANDLE;
    uint32 n_slots = 0;
    uint32 first_slot = 0;  // the slots used: [first_slot, first_slot + n_slots)
};

// Routes n_tokens tokens as cfg's family does (n_expert <= 256, n_expert_used <= 16; with
// slots, n_tokens <= 64). No barrier after it.
ExpectedVoid op_moe_route(OpContext& c, const ModelConfig& cfg, uint32 n_tokens, const MoeRouteBuffers& b, uint32 table_offset, uint32 choice_offset);

}  // namespace vk_symbiote
