// Vulkan error plumbing: every VkResult goes through VKS_VK_TRY, which turns a failure
// into an Error (ErrorCode::Device) naming the expression, the VkResult, file and line.
#pragma once

#include <vulkan/vulkan.h>

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

const char* vk_result_name(VkResult r);
Error vk_error(VkResult r, const char* expr, const char* file, int line);

// Waits for `fence` up to timeout_ns and resets it. VK_TIMEOUT -> Device error naming
// `what` ("... did not finish within N ms (GPU hang?)"); other failures via vk_error.
Expected<bool> wait_and_reset_fence(VkDevice device, VkFence fence, uint64 timeout_ns, const char* what);
// Nanoseconds between two timestamps of a queue family with `valid_bits` valid bits.
uint64 timestamp_delta_ns(uint64 t0, uint64 t1, uint32 valid_bits, float period_ns);

}  // namespace vk_symbiote

#define VKS_VK_TRY(expr)                                                                  \
    do {                                                                                  \
        VkResult vks_vk_r_ = (expr);                                                      \
        if (vks_vk_r_ != VK_SUCCESS) return ::vk_symbiote::vk_error(vks_vk_r_, #expr, __FILE__, __LINE__); \
    } while (0)
