// Vulkan error plumbing: every VkResult goes through VKS_VK_TRY, which turns a failure
// into an Error (ErrorCode::Device) naming the expression, the VkResult, file and line.
#pragma once

#include <vulkan/vulkan.h>

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

const char* vk_result_name(VkResult r);
Error vk_error(VkResult r, const char* expr, const char* file, int line);

}  // namespace vk_symbiote

#define VKS_VK_TRY(expr)                                                                  \
    do {                                                                                  \
        VkResult vks_vk_r_ = (expr);                                                      \
        if (vks_vk_r_ != VK_SUCCESS) return ::vk_symbiote::vk_error(vks_vk_r_, #expr, __FILE__, __LINE__); \
    } while (0)
